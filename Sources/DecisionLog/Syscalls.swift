import CLinux
import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#else
#error("DecisionLog supports Linux (Glibc) only.")
#endif

// The C calls swift-system does not wrap, one function each, with EINTR retried and errno turned into `Errno`.

/// Runs `body` until it stops failing with EINTR; -1 becomes the current `Errno`.
func valueOrErrno<I: FixedWidthInteger>(_ body: () -> I) throws(Errno) -> I {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Errno(rawValue: errno)
        if error != .interrupted { throw error }
    }
}

/// Takes (`LOCK_EX`) or releases (`LOCK_UN`) an advisory whole-file lock. The corresponding C function is `flock`.
func system_flock(_ fd: FileDescriptor, _ operation: Int32) throws(Errno) {
    _ = try valueOrErrno { flock(fd.rawValue, operation) }
}

/// Flushes a file's data (and the metadata needed to read it back). The corresponding C function is `fdatasync`.
func system_fdatasync(_ fd: FileDescriptor) throws(Errno) {
    _ = try valueOrErrno { fdatasync(fd.rawValue) }
}

/// Flushes a directory, so an entry created in it survives a crash. The corresponding C function is `fsync`.
func system_fsync(_ fd: FileDescriptor) throws(Errno) {
    _ = try valueOrErrno { fsync(fd.rawValue) }
}

/// Creates one directory; an existing one is not an error. The corresponding C function is `mkdir`.
@discardableResult
func system_mkdir(_ path: String, _ mode: mode_t) throws(Errno) -> Bool {
    if mkdir(path, mode) == 0 { return true }
    let error = Errno(rawValue: errno)
    if error != .fileExists { throw error }
    return false
}

/// Asks the kernel to write back and then drop the cached pages of `fd` from `offset` for `length` bytes (pages still
/// dirty or under writeback stay). The corresponding C function is `posix_fadvise` with `POSIX_FADV_DONTNEED`.
func system_dropCachedPages(_ fd: FileDescriptor, offset: Int64, length: Int64) throws(Errno) {
    let result = posix_fadvise(fd.rawValue, off_t(offset), off_t(length), POSIX_FADV_DONTNEED)
    if result != 0 { throw Errno(rawValue: result) }
}

/// Removes a file. The corresponding C function is `unlink`.
func system_unlink(_ path: String) throws(Errno) {
    _ = try valueOrErrno { unlink(path) }
}

/// The device (encoded as `st_dev`), inode and size of what `path` names now, following symlinks; nil when it cannot
/// be read. The corresponding C function is `statx`, asked for the inode and size only, falling back to `stat`.
///
/// This runs for the lock file and the day's file in every batch, so it asks for no timestamps: on file systems with
/// fine-grained timestamps (ext4, xfs, btrfs, tmpfs since Linux 6.13), a `stat` that reads the change time makes the
/// next write to the file store a new fine-grained time, dirtying the inode on every append.
func system_identity(_ path: String) -> (device: UInt64, inode: UInt64, size: Int64)? {
    let found: (device: UInt64, inode: UInt64, size: Int64)?? = withUnsafeTemporaryAllocation(
        byteCount: StatxLayout.byteCount,
        alignment: 8
    ) { buffer in
        guard verdict_statx(AT_FDCWD, path, 0, StatxLayout.inodeAndSize, buffer.baseAddress!) == 0 else {
            // Not supported here (a kernel before 4.11, a seccomp filter): use stat. Anything else is an answer.
            return errno == ENOSYS || errno == EPERM ? nil : .some(nil)
        }
        let major = UInt64(buffer.load(fromByteOffset: StatxLayout.deviceMajor, as: UInt32.self))
        let minor = UInt64(buffer.load(fromByteOffset: StatxLayout.deviceMinor, as: UInt32.self))
        // glibc's makedev, so the result compares equal to `st_dev` from `fstat`.
        let device =
            (major & 0xffff_f000) << 32 | (major & 0x0000_0fff) << 8 | (minor & 0xffff_ff00) << 12
            | (minor & 0x0000_00ff)
        return (
            device,
            buffer.load(fromByteOffset: StatxLayout.inode, as: UInt64.self),
            Int64(bitPattern: buffer.load(fromByteOffset: StatxLayout.fileSize, as: UInt64.self))
        )
    }
    if let found { return found }
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return (UInt64(info.st_dev), UInt64(info.st_ino), Int64(info.st_size))
}

/// The parts of `struct statx` (linux/stat.h, a fixed kernel ABI) that `system_identity` reads.
private enum StatxLayout {
    static let byteCount = 256
    /// STATX_INO | STATX_SIZE.
    static let inodeAndSize: UInt32 = 0x100 | 0x200
    static let inode = 32
    static let fileSize = 40
    static let deviceMajor = 136
    static let deviceMinor = 140
}

/// Why the calling process may not write `path`, or nil when it may. The corresponding C function is `access`.
func system_writeAccessError(_ path: String) -> Errno? {
    access(path, W_OK) == 0 ? nil : Errno(rawValue: errno)
}

/// The names in a directory, without `.` and `..`. The corresponding C functions are `opendir`/`readdir`.
func system_listDirectory(_ path: String) throws(Errno) -> [String] {
    guard let dir = opendir(path) else { throw Errno(rawValue: errno) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Writes a message line to standard error in one `write`, so lines from several workers do not interleave.
func system_reportToStandardError(_ message: String) {
    let line = Array(("verdict: " + message + "\n").utf8)
    _ = try? FileDescriptor.standardError.writeAll(line)
}
