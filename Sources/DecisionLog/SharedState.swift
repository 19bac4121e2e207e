import SystemPackage

/// What the processes writing one log directory tell each other, in the first 40 bytes of `.verdict/lock`; read
/// and written only while holding the lock on that file, once each per batch.
///
/// It lets a batch skip work that would otherwise cost system calls every time: listing `.verdict/` and checking
/// every index file for keys another process recorded (`records`, `files`), and reading the end of the day's file to
/// check for a torn line (`logDay`, `logEnd`). A lock file written by an older Verdict is shorter and reads as all
/// zeros, which only makes the next batch do the full checks.
struct SharedState: Equatable {
    static let size = 40

    /// Bumped by every process each time it records keys in an index file.
    var records: UInt64 = 0
    /// Bumped by every process each time it creates or deletes an index file.
    var files: UInt64 = 0
    /// The size of `decisions-<logDay>.jsonl` after the last complete append to it: while the file still has this
    /// size, it ends with a whole line and needs no repair. `unknownEnd` while a first append to it is under way,
    /// or after an append to it failed: its end is then checked.
    var logEnd: Int64 = 0
    static let unknownEnd: Int64 = -1
    /// The `YYYY-MM-DD` of the file `logEnd` describes (at most 16 bytes; empty when unknown).
    var logDay: String = ""

    /// The state in `lock`; all zeros when the file is shorter than `size` or cannot be read.
    static func read(from lock: FileDescriptor) -> SharedState {
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { buffer in
            guard (try? lock.read(fromAbsoluteOffset: 0, into: buffer)) == size else { return SharedState() }
            func integer(at offset: Int) -> UInt64 {
                UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            }
            let day = UnsafeRawBufferPointer(rebasing: buffer[24..<40]).prefix { $0 != 0 }
            return SharedState(
                records: integer(at: 0),
                files: integer(at: 8),
                logEnd: Int64(bitPattern: integer(at: 16)),
                logDay: String(decoding: day, as: UTF8.self)
            )
        }
    }

    /// Writes the state over the first `size` bytes of `lock`.
    func write(to lock: FileDescriptor) throws(Errno) {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: records.littleEndian, toByteOffset: 0, as: UInt64.self)
            buffer.storeBytes(of: files.littleEndian, toByteOffset: 8, as: UInt64.self)
            buffer.storeBytes(of: UInt64(bitPattern: logEnd).littleEndian, toByteOffset: 16, as: UInt64.self)
        }
        for (offset, byte) in logDay.utf8.prefix(16).enumerated() { bytes[24 + offset] = byte }
        do {
            _ = try lock.writeAll(toAbsoluteOffset: 0, bytes)
        } catch {
            throw (error as? Errno) ?? .ioError
        }
    }
}
