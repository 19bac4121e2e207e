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

    /// The bytes of the day file at `path` in the log `directory`. A file that ends inside a line may be one an
    /// append is writing: it is read again while the directory lock, which every append holds, is held too, so
    /// that what ends inside a line then is a torn line indeed. Without access to the lock (another user's log),
    /// the first read stands.
    public static func contents(of path: String, directory: String) throws(DecisionLogError) -> [UInt8] {
        let bytes = try read(path)
        guard let last = bytes.last, last != UInt8(ascii: "\n") else { return bytes }
        let lockPath = directory + "/.verdict/lock"
        guard let lock = try? FileDescriptor.open(FilePath(lockPath), .readOnly, options: [.closeOnExec]) else {
            return bytes
        }
        defer { try? lock.close() }
        // Shared: checkers do not wait for each other, only for an append.
        guard (try? system_flock(lock, LOCK_SH)) != nil else { return bytes }
        defer { try? system_flock(lock, LOCK_UN) }
        return try read(path)
    }

    private static func read(_ path: String) throws(DecisionLogError) -> [UInt8] {
        do {
            let descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
            defer { try? descriptor.close() }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = try chunk.withUnsafeMutableBytes { try descriptor.read(into: $0) }
                if count == 0 { return bytes }
                bytes += chunk[0..<count]
            }
        } catch {
            throw DecisionLogError("read", path, error)
        }
    }
}
