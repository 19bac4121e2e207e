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

    /// What `contents(of:directory:)` found.
    public struct Contents: Sendable {
        public var bytes: [UInt8]
        /// The file ended inside a line, and the directory lock stayed taken for `lockWait`: an append may have
        /// been under way, and the line may be whole by now.
        public var lockWasBusy = false
        /// The file ended inside a line, and the directory lock could not be opened (another user's log): whether
        /// an append was under way could not be told.
        public var lockWasUnreadable = false
    }

    /// How long `contents(of:directory:)` waits for an append under way to end.
    public static let lockWait: Duration = .seconds(10)

    /// The bytes of the day file at `path` in the log `directory`. A file that ends inside a line may be one an
    /// append is writing: its last line is read again while the directory lock, which every append holds, is held
    /// too (shared, for as long as that read takes), so that what ends inside a line then is a torn line indeed.
    /// Without access to the lock (another user's log), the first read stands.
    public static func contents(of path: String, directory: String) throws(DecisionLogError) -> Contents {
        var bytes = try read(path, from: 0)
        guard let last = bytes.last, last != UInt8(ascii: "\n") else { return Contents(bytes: bytes) }
        let lockPath = directory + "/.verdict/lock"
        guard let lock = try? FileDescriptor.open(FilePath(lockPath), .readOnly, options: [.closeOnExec]) else {
            return Contents(bytes: bytes, lockWasUnreadable: true)
        }
        defer { try? lock.close() }
        // Never blocking: this process may hold the lock itself (`flock -x lock verdict verify-log`), or a writer
        // may be stuck with it (a stopped worker, a hung disk). Shared: checkers do not wait for each other.
        let clock = ContinuousClock()
        let deadline = clock.now + lockWait
        while (try? system_flock(lock, LOCK_SH | LOCK_NB)) == nil {
            guard clock.now < deadline else { return Contents(bytes: bytes, lockWasBusy: true) }
            usleep(5_000)
        }
        defer { try? system_flock(lock, LOCK_UN) }
        // Only the last line is read again: appends add after it. (Whole lines of an append whose sync failed,
        // read before they were cut back, stay in what is returned: valid records, whose senders were answered 503.)
        let lastLine = (bytes.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
        let rest = try read(path, from: Int64(lastLine))
        bytes.removeSubrange(lastLine...)
        bytes += rest
        return Contents(bytes: bytes)
    }

    private static func read(_ path: String, from offset: Int64) throws(DecisionLogError) -> [UInt8] {
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
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = try chunk.withUnsafeMutableBytes {
                    try descriptor.read(fromAbsoluteOffset: offset + Int64(bytes.count), into: $0)
                }
                if count == 0 { return bytes }
                bytes += chunk[0..<count]
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
