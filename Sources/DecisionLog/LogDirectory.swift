import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where and how decisions are written.
public struct LogSettings: Sendable {
    public var directory: String
    /// Sync each batch of lines (and a new file's directory entry) before reporting it appended.
    public var fsync: Bool

    public init(directory: String, fsync: Bool) {
        self.directory = directory
        self.fsync = fsync
    }
}

/// The log directory: daily `decisions-YYYY-MM-DD.jsonl` files that are only ever appended to, plus the
/// redelivery index in `.verdict/`.
///
/// Every append runs under one `flock` on `.verdict/lock`, shared by every FastCGI worker and CGI process on the
/// directory. Under it: catch up on the keys other processes logged, drop redeliveries, repair a torn tail left by a
/// crashed writer, append the batch in one `write`, sync, then record the keys. The line is synced before its key
/// is recorded, so a crash between the two can cause at worst one duplicate line, never a lost one.
///
/// Not thread-safe: `CommitQueue` (its one writer thread) or `DirectLog` (a mutex) serialises callers in a process.
public final class LogDirectory {
    public let settings: LogSettings
    private var lock: OpenFile?
    private var dayFiles: [String: OpenFile] = [:]
    /// Whether the open lock file is known to hold a whole `SharedState`.
    private var sharedStatePrepared = false
    private var index: RedeliveryIndex

    let stateDirectory: String
    let lockPath: String
    /// The last day file path built, kept so that a batch does not build it again.
    private var dayPath: (day: String, path: String) = ("", "")

    public init(settings: LogSettings) {
        self.settings = settings
        stateDirectory = settings.directory + "/.verdict"
        lockPath = stateDirectory + "/lock"
        self.index = RedeliveryIndex(directory: stateDirectory)
    }

    deinit {
        closeEverything()
    }

    /// What this process could do with a log directory at `path`, found without changing anything.
    public enum Access: Equatable, Sendable {
        case writable
        /// Missing, and the nearest directory above it lets this process create it.
        case creatable
        /// The directory, or something in it that an append on `day` writes, which this process may not write.
        case notWritable(String)
        /// Missing, and it cannot be made: the reason names the path in the way.
        case notCreatable(String)
    }

    /// Checks `path` as an append on `day` would use it (for `verdict check-config`: a log directory that cannot be
    /// written is otherwise found only by the first webhook, answered 503).
    public static func access(_ path: String, day: String) -> Access {
        if (try? FilePath(path).stat()) != nil {
            for target in writtenPaths(directory: path, day: day)
            where (try? Stat(FilePath(target), followTargetSymlink: false)) != nil
                && (system_writeAccessError(target) != nil || refusedFile(target, in: path) != nil)
            {
                return .notWritable(target)
            }
            return .writable
        }
        // The nearest one that exists: the root at the latest, or for a relative path the working directory.
        var ancestor = FilePath(path).removingLastComponent()
        while !ancestor.isEmpty, ancestor != ancestor.removingLastComponent(), (try? ancestor.stat()) == nil {
            ancestor.removeLastComponent()
        }
        let place = ancestor.isEmpty ? "." : ancestor.string
        guard let status = try? FilePath(place).stat() else { return .notCreatable("\(place) cannot be read") }
        guard status.type == .directory else { return .notCreatable("\(place) is not a directory") }
        guard system_writeAccessError(place) == nil else {
            return .notCreatable("\(place) is not writable by this user")
        }
        return .creatable
    }

    /// Why `target`, one of the files appends write in `directory` or `.verdict/`, would be refused by them
    /// (`OpenFile.open`, `createDirectories`): a symbolic link, not a regular file (a folder, for `.verdict`), or
    /// another user's; nil when it would not be.
    static func refusedFile(_ target: String, in directory: String) -> (errno: Errno, reason: String)? {
        guard target != directory else { return nil }
        guard let status = try? Stat(FilePath(target), followTargetSymlink: false) else { return nil }
        if status.type == .symbolicLink { return (.tooManySymbolicLinkLevels, "a symbolic link") }
        let folder = target == directory + "/.verdict"
        if status.type != (folder ? .directory : .regular) {
            return (.invalidArgument, folder ? "not a folder" : "not a regular file")
        }
        let (owner, user) = (status.userID.rawValue, geteuid())
        guard owner != user else { return nil }
        return (.permissionDenied, "owned by another user (uid \(owner)), not by this one (uid \(user))")
    }

    /// A directory others may write lets them plant files in the log directory; a warning for `check-config`, or
    /// nil.
    public static func exposure(_ path: String) -> String? {
        guard let status = try? FilePath(path).stat(), status.type == .directory else { return nil }
        let mode = status.permissions.rawValue
        guard mode & 0o002 != 0 else { return nil }
        return "writable by every user (mode \(String(mode & 0o7777, radix: 8))): anyone on this machine can add "
            + "or replace files in it; chmod o-w \(path)"
    }

    /// What appends write, when it exists: the directory (for a new day's file), `day`'s file, and `.verdict/` with
    /// its lock. One left behind by another user (Verdict run once as root) fails appends as surely as the directory
    /// itself. (A redelivery index file that cannot be written only keeps its keys in memory.)
    private static func writtenPaths(directory: String, day: String) -> [String] {
        let state = directory + "/.verdict"
        return [directory, directory + "/" + fileName(day: day), state, state + "/lock"]
    }

    /// The file name for `day`.
    public static func fileName(day: String) -> String {
        dayFilePrefix + day + dayFileSuffix
    }

    static let dayFilePrefix = "decisions-"
    static let dayFileSuffix = ".jsonl"

    /// Appends `entries` that are not redeliveries; returns one result per entry, in order.
    ///
    /// - Parameter retainFrom: the oldest UTC day (`YYYY-MM-DD`) whose keys still count; older index files are
    ///   removed.
    public func append(_ entries: [LogEntry], retainFrom: String) -> [AppendResult] {
        guard !entries.isEmpty else { return [] }
        return append { (entries, retainFrom) }
    }

    /// Takes the directory lock, then calls `take` once for the entries to append (and `retainFrom`, as above),
    /// and appends those that are not redeliveries; returns one result per entry, in order. `take` is called even
    /// when locking fails (its entries then all fail), so a caller can gather entries that arrived while it waited
    /// for the lock.
    public func append(taking take: () -> (entries: [LogEntry], retainFrom: String)) -> [AppendResult] {
        let lock: OpenFile
        do throws(DecisionLogError) {
            lock = try lockDirectory()
        } catch {
            let entries = take().entries
            if !entries.isEmpty { system_reportToStandardError(error.description) }
            return Array(repeating: .failed(error), count: entries.count)
        }
        defer { try? system_flock(lock.descriptor, LOCK_UN) }
        let (entries, retainFrom) = take()
        guard !entries.isEmpty else { return [] }
        return appendLocked(entries, retainFrom: retainFrom, lock: lock.descriptor)
    }

    /// Checks that a line for `day` could be written now: the directory exists (or can be created) and the day's
    /// file is writable.
    public func checkWritable(day: String) throws(DecisionLogError) {
        let lock = try lockDirectory()
        defer { try? system_flock(lock.descriptor, LOCK_UN) }
        // A real write, synced like a record would be: a full disk or a file system gone read-only fails here,
        // where a permission check alone would still say yes.
        let probe = stateDirectory + "/health-probe"
        do {
            let descriptor = try FileDescriptor.open(
                FilePath(probe),
                .writeOnly,
                options: [.create, .truncate, .closeOnExec],
                permissions: FilePermissions(rawValue: 0o600)
            )
            defer {
                try? descriptor.close()
                try? system_unlink(probe)
            }
            _ = try descriptor.writeAll([UInt8](repeating: 0x0A, count: 4096))
            if settings.fsync { try system_fdatasync(descriptor) }
        } catch {
            throw DecisionLogError("write a test block to", probe, error)
        }
        // Not only what today's appends need: a directory that cannot take tomorrow's file fails at midnight.
        for target in Self.writtenPaths(directory: settings.directory, day: day)
        where (try? Stat(FilePath(target), followTargetSymlink: false)) != nil {
            if let refused = Self.refusedFile(target, in: settings.directory) {
                throw DecisionLogError("write to", target, refused.errno, reason: refused.reason)
            }
            if let error = system_writeAccessError(target) { throw DecisionLogError("write to", target, error) }
        }
    }

    // MARK: - Locking

    /// Opens (creating the directories when missing) and locks `.verdict/lock`. If the directory was removed or
    /// replaced since the lock file was opened, starts again on the new one, so two processes never hold locks on
    /// different files.
    private func lockDirectory() throws(DecisionLogError) -> OpenFile {
        for _ in 0..<3 {
            if lock == nil {
                try createDirectories()
                lock = try OpenFile.open(lockPath, [.readWrite, .create], mode: 0o600, operation: "open lock file")
            }
            guard let current = lock else { continue }
            do {
                try system_flock(current.descriptor, LOCK_EX)
            } catch {
                throw DecisionLogError("lock", lockPath, error)
            }
            if current.isStillAt(lockPath) {
                prepareSharedState(current)
                return current
            }
            try? system_flock(current.descriptor, LOCK_UN)
            system_reportToStandardError("the log directory \(settings.directory) was removed or replaced; reopening")
            closeEverything()
        }
        throw DecisionLogError("lock", lockPath, .noSuchFileOrDirectory)
    }

    /// Gives a new lock file its `SharedState` while the disk has room, so that updating it later only ever
    /// overwrites bytes in place.
    private func prepareSharedState(_ lock: OpenFile) {
        guard !sharedStatePrepared else { return }
        if let size = try? lock.descriptor.stat().size, size < Int64(SharedState.size) {
            guard (try? SharedState.read(from: lock.descriptor).write(to: lock.descriptor)) != nil else { return }
        }
        sharedStatePrepared = true
    }

    private func createDirectories() throws(DecisionLogError) {
        // `.verdict` is made last, after the directories above it are synced into their parents. While it is missing,
        // whoever made them may have died, or failed to sync, in between: then every one is synced again.
        if let status = try? Stat(FilePath(stateDirectory), followTargetSymlink: false) {
            // Verdict's own, as its files are (see `OpenFile.open`): a link or another user's folder planted here
            // would hold the lock and the redelivery index.
            guard status.type == .directory, status.userID.rawValue == geteuid() else {
                throw DecisionLogError(
                    "use",
                    stateDirectory,
                    .permissionDenied,
                    reason: "not a folder of this user's (a symbolic link, a file, or another user's folder)"
                )
            }
            return
        }
        var path = settings.directory.hasPrefix("/") ? "" : "."
        for component in settings.directory.split(separator: "/", omittingEmptySubsequences: true) {
            let parent = path.isEmpty ? "/" : path
            path += "/" + component
            let created: Bool
            do {
                created = try system_mkdir(path, 0o750)
            } catch {
                throw DecisionLogError("create directory", path, error)
            }
            // A directory made here must survive a crash too, or the synced files below it could vanish with it.
            // One found here may be a writer's that died before syncing it: synced too, unless its parent cannot be
            // opened (shared hosts have unreadable ones; a writer that made a directory there failed at this sync).
            if settings.fsync {
                if created { try syncDirectory(parent) } else { try? syncDirectory(parent) }
            }
        }
        do {
            try system_mkdir(stateDirectory, 0o700)
        } catch {
            throw DecisionLogError("create directory", stateDirectory, error)
        }
    }

    /// Flushes the directory at `path`, so that the entries created in it survive a crash.
    private func syncDirectory(_ path: String) throws(DecisionLogError) {
        do {
            let directory = try FileDescriptor.open(
                FilePath(path),
                .readOnly,
                options: [.directory, .closeOnExec]
            )
            defer { try? directory.close() }
            try system_fsync(directory)
        } catch {
            throw DecisionLogError("sync directory", path, error)
        }
    }

    private func closeEverything() {
        lock?.close()
        lock = nil
        sharedStatePrepared = false
        for file in dayFiles.values { file.close() }
        dayFiles = [:]
        index.reset()
    }

    // MARK: - Appending

    private func appendLocked(_ entries: [LogEntry], retainFrom: String, lock: FileDescriptor) -> [AppendResult] {
        let before = SharedState.read(from: lock)
        var state = before
        index.catchUp(retainFrom: retainFrom, state: &state)
        var results = [AppendResult](repeating: .duplicate, count: entries.count)
        var firstPositions = [RedeliveryKey: Int](minimumCapacity: entries.count)
        var repeats: [(position: Int, first: Int)] = []
        // Almost every batch is one day; a batch across midnight is written day by day, in order of first entry.
        var days: [(day: String, positions: [Int])] = []
        for (position, entry) in entries.enumerated() {
            if index.contains(entry.key) { continue }
            if let first = firstPositions[entry.key] {
                repeats.append((position, first))
                continue
            }
            firstPositions[entry.key] = position
            if let slot = days.firstIndex(where: { $0.day == entry.day }) {
                days[slot].positions.append(position)
            } else {
                days.append((entry.day, [position]))
            }
        }
        for (day, positions) in days {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(positions.reduce(0) { $0 + entries[$1].line.count })
            for position in positions { bytes.append(contentsOf: entries[position].line) }
            let outcome: AppendResult
            do throws(DecisionLogError) {
                try write(bytes, day: day, state: &state, lock: lock)
                try index.record(positions.map { entries[$0].key }, day: day, state: &state)
                outcome = .appended
            } catch {
                system_reportToStandardError(error.description)
                outcome = .failed(error)
            }
            for position in positions { results[position] = outcome }
        }
        // A second copy of an event in the same batch is a duplicate only once the first is on disk; if the first
        // failed, so does the copy, or its sender would stop retrying a decision that was never written.
        for (position, first) in repeats {
            if case .failed = results[first] { results[position] = results[first] }
        }
        if state != before {
            do {
                try state.write(to: lock)
            } catch {
                system_reportToStandardError(
                    "cannot update \(lockPath): \(error) (redeliveries may be logged twice)"
                )
                index.forgetCounters()
            }
        }
        return results
    }

    /// Appends `bytes` (whole lines) to the day's file and syncs.
    ///
    /// A day's file only ever grows: a tailer (`tail -F`, Vector, Fluent Bit) may have read any byte once it is
    /// written, and one that finds the file shorter either reads it all again or goes on from its old offset, gluing
    /// the start of one line to the end of another. So a partial line (a short write, a writer killed mid-line) is
    /// ended with `cutShortMark` and `\n`, never cut: it stays as a line that is no record, and its sender, never
    /// answered 200, sends it again.
    ///
    /// - Parameter lock: the locked lock file, where the shared state is saved before a first append to another
    ///   day's file (see below).
    private func write(
        _ bytes: [UInt8],
        day: String,
        state: inout SharedState,
        lock: FileDescriptor
    ) throws(DecisionLogError) {
        if !state.logDay.isEmpty && state.logDay != day { repairEnd(ofDay: state.logDay, completeAt: state.logEnd) }
        var (file, size) = try dayFile(
            day,
            appendCompleted: state.logDay == day && state.logEnd != SharedState.unknownEnd
        )
        let path = file.path
        // Unless the file is exactly as the last complete append (by any process) left it, check its end.
        if state.logDay != day || state.logEnd != size { size = try endTornLine(file, size: size) }
        if state.logDay != day {
            // Saved before writing, so that if this process dies mid-line, the next writer checks this file's end
            // even when its own lines go to a later day's file. Once per day; if it cannot be saved, only that
            // check is lost.
            state.logDay = day
            state.logEnd = SharedState.unknownEnd
            try? state.write(to: lock)
        }
        do {
            _ = try file.descriptor.writeAll(bytes)
            if settings.fsync { try system_fdatasync(file.descriptor) }
        } catch {
            // Whatever was written stays (see above). A partial line is ended now if the disk lets it, else by the
            // next append of any process, which checks the end of a file whose last append did not complete.
            state.logEnd = SharedState.unknownEnd
            if let end = try? file.descriptor.stat().size { _ = try? endTornLine(file, size: end, quietly: true) }
            throw DecisionLogError(settings.fsync ? "append and sync" : "append to", path, error)
        }
        state.logEnd = size + Int64(bytes.count)
        if settings.fsync { dropCachedPages(file, end: state.logEnd) }
    }

    /// How much of the end of a day's file stays in the page cache. Tailers read a line moments after it is
    /// written and Verdict never reads older lines, so an append-only log would otherwise fill the cache with pages
    /// nobody reads, and every new page costs more than a reused one (on a VM, often a fault in the host as well).
    static let cachedTail: Int64 = 1 << 20

    /// Once per `cachedTail` bytes appended, asks the kernel to drop the file's pages before the last `cachedTail`
    /// bytes. Only for synced files: their pages are clean, so this costs no I/O, where with fsync off it would
    /// start the write-back the kernel would otherwise do later, in larger pieces.
    private func dropCachedPages(_ file: OpenFile, end: Int64) {
        guard end - file.cacheDroppedAt >= Self.cachedTail else { return }
        file.cacheDroppedAt = end
        try? system_dropCachedPages(file.descriptor, offset: 0, length: end - Self.cachedTail)
    }

    /// The last complete append went to another day's file (the day before, usually): a writer that crashed
    /// mid-line in that file since left a partial line there, which no later append to it would repair. Problems
    /// are reported and skipped: they concern an older file, not the lines being appended now.
    private func repairEnd(ofDay day: String, completeAt end: Int64) {
        let path = settings.directory + "/" + Self.fileName(day: day)
        let file: OpenFile
        let size: Int64
        if let open = dayFiles[day], let openSize = open.sizeIfStillAt(path) {
            (file, size) = (open, openSize)
        } else {
            guard let opened = try? OpenFile.open(path, [.readWrite], mode: 0o640, operation: "open") else { return }
            guard let openedSize = try? opened.descriptor.stat().size else {
                opened.close()
                return
            }
            (file, size) = (opened, openedSize)
        }
        defer { if dayFiles[day] !== file { file.close() } }
        guard size != end else { return }
        do {
            try endTornLine(file, size: size)
        } catch {
            system_reportToStandardError(error.description)
        }
    }

    /// What ends a line cut short, before its `\n`: not JSON in any place it can fall (after a whole object, inside
    /// a string or between tokens), so the line never reads as a record, even when only its `\n` was missing.
    public static let cutShortMark = Array(" (cut short)".utf8)

    /// Whether `line` (without its `\n`) is one that a writer stopped mid-line left and the next append ended.
    public static func isCutShort(_ line: some Collection<UInt8>) -> Bool {
        line.first == UInt8(ascii: "{") && line.count > cutShortMark.count
            && line.reversed().starts(with: cutShortMark.reversed())
    }

    /// If the file does not end in `\n`, a writer stopped mid-line (killed, or its disk full): ends that line with
    /// `cutShortMark` and `\n` (see `write`) and returns the new size.
    ///
    /// - Parameter quietly: whether an ended line goes unreported (the append that left it reports its own error).
    @discardableResult
    private func endTornLine(_ file: OpenFile, size: Int64, quietly: Bool = false) throws(DecisionLogError) -> Int64 {
        guard size > 0 else { return 0 }
        var last: UInt8 = 0
        do {
            let read = try withUnsafeMutableBytes(of: &last) {
                try file.descriptor.read(fromAbsoluteOffset: size - 1, into: $0)
            }
            guard read == 1 else { throw Errno.ioError }
        } catch {
            throw DecisionLogError("read the end of", file.path, error)
        }
        if last == UInt8(ascii: "\n") { return size }
        let ending = Self.cutShortMark + [UInt8(ascii: "\n")]
        do {
            // At `size`: the file is open for appending (where `pwrite` appends), or, for an older day's file, not.
            let written = try ending.withUnsafeBytes { try file.descriptor.write(toAbsoluteOffset: size, $0) }
            // Part of it (a full disk): the line is still unended, and the next append ends it (the mark twice
            // over is still not JSON).
            guard written == ending.count else { throw Errno.noSpace }
            if settings.fsync { try system_fdatasync(file.descriptor) }
        } catch {
            throw DecisionLogError("end the partial last line of", file.path, error)
        }
        if !quietly {
            system_reportToStandardError(
                "ended a partial last line in \(file.path), left by a writer that stopped mid-line: it is no record, "
                    + "and its sender, never answered 200, sends it again"
            )
        }
        return size + Int64(ending.count)
    }

    /// The open file for `day` and its size, (re)opened when it was removed or renamed and created with mode 0640
    /// when missing. One `stat` of the path answers both "is it still this file" and "how long is it".
    ///
    /// - Parameter appendCompleted: whether the shared state says an append to this day's file has completed.
    private func dayFile(_ day: String, appendCompleted: Bool) throws(DecisionLogError) -> (OpenFile, Int64) {
        if dayPath.day != day { dayPath = (day, settings.directory + "/" + Self.fileName(day: day)) }
        let path = dayPath.path
        if let open = dayFiles[day] {
            if let size = open.sizeIfStillAt(path) { return (open, size) }
            open.close()
            dayFiles[day] = nil
        }
        let (file, created) = try OpenFile.openOrCreateForAppend(path, mode: 0o640)
        // The new file's directory entry must survive a crash too, or its synced lines could vanish with it. Its
        // creator syncs it before appending; while no append to the file is known to have completed, the creator
        // may have failed or died before that sync, so whoever opens the file next syncs the directory again.
        if settings.fsync && (created || !appendCompleted) {
            do throws(DecisionLogError) {
                try syncDirectory(settings.directory)
            } catch {
                file.close()
                throw error
            }
        }
        let size: Int64
        do {
            size = try file.descriptor.stat().size
        } catch {
            file.close()
            throw DecisionLogError("stat", path, error)
        }
        // Keep only recent days open: around midnight two are in use, never more.
        for (openDay, open) in dayFiles where openDay < day {
            open.close()
            dayFiles[openDay] = nil
        }
        dayFiles[day] = file
        return (file, size)
    }
}
