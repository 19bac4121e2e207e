import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An open file descriptor with the path and identity it was opened with.
final class OpenFile {
    let descriptor: FileDescriptor
    let path: String
    private let identity: (device: UInt64, inode: UInt64)
    /// The file's size when its cached pages were last dropped (see `LogDirectory.cachedTail`).
    var cacheDroppedAt: Int64 = 0

    enum Access {
        case readOnly, writeOnly, readWrite, append, create, exclusive
    }

    private init(descriptor: FileDescriptor, path: String, identity: (UInt64, UInt64)) {
        self.descriptor = descriptor
        self.path = path
        self.identity = identity
    }

    /// Opens `path` close-on-exec. Only a regular file of this user's, never through a symbolic link: these files
    /// hold personal data and Verdict's state, and one planted in their place (a link to a file others can read, a
    /// FIFO that swallows lines, another user's file) must fail the append, not receive it.
    static func open(
        _ path: String,
        _ access: Set<Access>,
        mode: CModeT,
        operation: String
    ) throws(DecisionLogError) -> OpenFile {
        let accessMode: FileDescriptor.AccessMode =
            access.contains(.readWrite) ? .readWrite : access.contains(.writeOnly) ? .writeOnly : .readOnly
        var options: FileDescriptor.OpenOptions = [.closeOnExec, .noFollow]
        if access.contains(.append) { options.insert(.append) }
        if access.contains(.create) { options.insert(.create) }
        if access.contains(.exclusive) { options.insert(.exclusiveCreate) }
        do {
            let descriptor = try FileDescriptor.open(
                FilePath(path),
                accessMode,
                options: options,
                permissions: FilePermissions(rawValue: mode)
            )
            do {
                let stat = try descriptor.stat()
                guard stat.type == .regular else {
                    throw DecisionLogError(
                        operation,
                        path,
                        .invalidArgument,
                        reason: "not a regular file (Verdict writes only to files it creates)"
                    )
                }
                // Another user's file, planted where a writable directory let them: they could read every line.
                // Root too is held to its own files (it could write any).
                let user = geteuid()
                guard stat.userID.rawValue == user else {
                    throw DecisionLogError(
                        operation,
                        path,
                        .permissionDenied,
                        reason: "owned by another user (uid \(stat.userID.rawValue)), not by this one (uid \(user)); "
                            + "Verdict writes only to files it creates"
                    )
                }
                return OpenFile(
                    descriptor: descriptor,
                    path: path,
                    identity: (UInt64(stat.deviceID.rawValue), UInt64(stat.inode.rawValue))
                )
            } catch {
                try? descriptor.close()
                throw error
            }
        } catch let error as DecisionLogError {
            throw error
        } catch Errno.tooManySymbolicLinkLevels {
            throw DecisionLogError(
                operation,
                path,
                .tooManySymbolicLinkLevels,
                reason: "a symbolic link (Verdict follows none to the files it writes)"
            )
        } catch {
            throw DecisionLogError(operation, path, error)
        }
    }

    /// Opens `path` for appending, creating it with `mode` when missing; `created` says whether this call made it.
    /// Creating exclusively first is what tells a new file (which needs its directory synced or counted) from one
    /// another process made a moment earlier.
    static func openOrCreateForAppend(
        _ path: String,
        mode: CModeT
    ) throws(DecisionLogError) -> (file: OpenFile, created: Bool) {
        do throws(DecisionLogError) {
            return (try open(path, [.readWrite, .append, .create, .exclusive], mode: mode, operation: "create"), true)
        } catch  where error.errno == .fileExists {
            return (try open(path, [.readWrite, .append], mode: mode, operation: "open"), false)
        }
    }

    /// Whether `path` still names this very file (not removed, renamed or replaced).
    func isStillAt(_ path: String) -> Bool {
        sizeIfStillAt(path) != nil
    }

    /// The file's size when `path` still names this very file; nil when it was removed, renamed or replaced.
    func sizeIfStillAt(_ path: String) -> Int64? {
        guard let current = system_identity(path), current.device == identity.device, current.inode == identity.inode
        else { return nil }
        return current.size
    }

    func close() {
        try? descriptor.close()
    }
}
