import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Read access to the day files of a log directory, for checking them (`verdict verify-log`) while writers may be
/// appending.
public enum DayFiles {
    /// The day files in `directory`, by day: `(day, path)`.
    public static func list(_ directory: String) throws(DecisionLogError) -> [(day: String, path: String)] {
        let names: [String]
        do {
            names = try system_listDirectory(directory)
        } catch {
            throw DecisionLogError("list directory", directory, error)
        }
        let (prefix, suffix) = (LogDirectory.dayFilePrefix, LogDirectory.dayFileSuffix)
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) && $0.count > prefix.count + suffix.count }
            .sorted()
            .map { (String($0.dropFirst(prefix.count).dropLast(suffix.count)), directory + "/" + $0) }
    }

    /// What `lines(of:directory:_:)` found after the last whole line.
    public struct End: Sendable {
        /// The bytes after the last `\n`: a torn line when not empty.
        public var torn: [UInt8] = []
        /// The file ended inside a line, and the directory lock stayed taken for `lockWait`: an append may have
        /// been under way, and the line may be whole by now.
        public var lockWasBusy = false
        /// The file ended inside a line, and the directory lock could not be opened (another user's log): whether
        /// an append was under way could not be told.
        public var lockWasUnreadable = false
    }

    /// How long `lines(of:directory:_:)` waits for an append under way to end.
    public static let lockWait: Duration = .seconds(10)

    /// Calls `body` with each whole line (without its `\n`) of the day file at `path` in the log `directory`, in
    /// order, reading a MiB at a time (a day's file can be larger than memory). A file that ends inside a line may
    /// be one an append is writing: its last line is read again while the directory lock, which every append
    /// holds, is held too (shared, for as long as that read takes), so that what ends inside a line then is a torn
    /// line indeed. Without access to the lock (another user's log), the first read stands.
    public static func lines(
        of path: String,
        directory: String,
        _ body: ([UInt8]) -> Void
    ) throws(DecisionLogError) -> End {
        var end = End()
        var offset = try read(path, from: 0) { lines, rest in
            lines.forEach(body)
            end.torn = rest
        }
        guard !end.torn.isEmpty else { return end }
        let lockPath = directory + "/.verdict/lock"
        let lock: FileDescriptor
        do {
            lock = try FileDescriptor.open(FilePath(lockPath), .readOnly, options: [.closeOnExec])
        } catch {
            // No lock file: no Verdict has appended here (every append takes it), so none is under way.
            end.lockWasUnreadable = error as? Errno != .noSuchFileOrDirectory
            return end
        }
        defer { try? lock.close() }
        // Never blocking: this process may hold the lock itself (`flock -x lock verdict verify-log`), or a writer
        // may be stuck with it (a stopped worker, a hung disk). Shared: checkers do not wait for each other.
        let clock = ContinuousClock()
        let deadline = clock.now + lockWait
        while (try? system_flock(lock, LOCK_SH | LOCK_NB)) == nil {
            guard clock.now < deadline else {
                end.lockWasBusy = true
                return end
            }
            usleep(5_000)
        }
        defer { try? system_flock(lock, LOCK_UN) }
        // Only from the start of the last line: appends add after it. (Whole lines of an append whose sync failed
        // are read as they are: valid records, whose senders were answered 503.)
        offset -= Int64(end.torn.count)
        end.torn = []
        _ = try read(path, from: offset) { lines, rest in
            lines.forEach(body)
            end.torn = rest
        }
        return end
    }

    /// Reads the file at `path` from `offset` to its end a chunk at a time, calling `chunk` with the whole lines of
    /// each and the bytes after the last `\n` so far; returns the offset of the end.
    private static func read(
        _ path: String,
        from offset: Int64,
        _ chunk: ([[UInt8]], [UInt8]) -> Void
    ) throws(DecisionLogError) -> Int64 {
        do {
            // Not blocking, not through a link: a FIFO or a link planted under a day file's name is reported, not
            // waited on or followed (Verdict writes to neither).
            let descriptor = try FileDescriptor.open(
                FilePath(path),
                .readOnly,
                options: [.closeOnExec, .noFollow, .nonBlocking]
            )
            defer { try? descriptor.close() }
            guard try descriptor.stat().type == .regular else {
                throw DecisionLogError("read", path, .invalidArgument, reason: "not a regular file")
            }
            var position = offset
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let count = try buffer.withUnsafeMutableBytes {
                    try descriptor.read(fromAbsoluteOffset: position, into: $0)
                }
                if count == 0 {
                    chunk([], pending)
                    return position
                }
                position += Int64(count)
                var lines: [[UInt8]] = []
                var start = 0
                while let newline = buffer[start..<count].firstIndex(of: UInt8(ascii: "\n")) {
                    if pending.isEmpty {
                        lines.append(Array(buffer[start..<newline]))
                    } else {
                        lines.append(pending + buffer[start..<newline])
                        pending = []
                    }
                    start = newline + 1
                }
                pending += buffer[start..<count]
                chunk(lines, [])
            }
        } catch let error as DecisionLogError {
            throw error
        } catch Errno.tooManySymbolicLinkLevels {
            throw DecisionLogError("read", path, .tooManySymbolicLinkLevels, reason: "a symbolic link")
        } catch {
            throw DecisionLogError("read", path, error)
        }
    }
}
