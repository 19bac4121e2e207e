import Testing

@testable import FastCGI

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@Suite("openSocket", .serialized)
struct ListeningSocketTests {
    /// A fresh directory under /tmp (short enough for socket paths), removed with everything in it by `body`'s end.
    func inDirectory(_ body: (String) throws -> Void) rethrows {
        var template = Array("/tmp/verdict-socket-tests-XXXXXX".utf8CString)
        let directory = String(cString: mkdtemp(&template)!)
        defer {
            for name in ["verdict.sock", "file"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        try body(directory)
    }

    /// A unix socket bound at `path`, listening or not; the caller closes it.
    func boundSocket(_ path: String, listening: Bool) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        if listening { #expect(listen(fd, 4) == 0) }
        return fd
    }

    func identity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return (UInt64(status.st_dev), UInt64(status.st_ino))
    }

    @Test("anything but a socket at the path is refused and left as it was")
    func refusesOtherFiles() {
        inDirectory { directory in
            let file = directory + "/file"
            let fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            #expect(write(fd, "precious", 8) == 8)
            close(fd)
            #expect(throws: FastCGIError.notASocket(path: file)) {
                try FastCGIServer.openSocket(path: file, mode: 0o660)
            }
            var status = stat()
            #expect(lstat(file, &status) == 0 && status.st_mode & S_IFMT == S_IFREG && status.st_size == 8)
            #expect(throws: FastCGIError.notASocket(path: directory)) {
                try FastCGIServer.openSocket(path: directory, mode: 0o660)
            }
        }
    }

    @Test("a socket someone listens on is refused and keeps working; a stale one is replaced")
    func liveAndStaleSockets() throws {
        try inDirectory { directory in
            let path = directory + "/verdict.sock"
            let live = try FastCGIServer.openSocket(path: path, mode: 0o660)
            let before = identity(path)
            #expect(throws: FastCGIError.socketInUse(path: path)) {
                try FastCGIServer.openSocket(path: path, mode: 0o660)
            }
            #expect(identity(path)?.inode == before?.inode)
            #expect(FastCGIServer.connectionError(path) == 0)
            close(live.descriptor)  // now stale: the file stays, nobody accepts

            let replacement = try FastCGIServer.openSocket(path: path, mode: 0o660)
            defer { close(replacement.descriptor) }
            #expect(FastCGIServer.connectionError(path) == 0)
        }
    }

    @Test("remove() deletes the socket's own file, not one that took its place")
    func removesOnlyItsOwnFile() throws {
        try inDirectory { directory in
            let path = directory + "/verdict.sock"
            let first = try FastCGIServer.openSocket(path: path, mode: 0o660)
            defer { close(first.descriptor) }
            unlink(path)
            let newcomer = boundSocket(path, listening: true)
            defer { close(newcomer) }
            let theirs = identity(path)
            first.remove()
            #expect(identity(path)?.inode == theirs?.inode)

            unlink(path)
            let second = try FastCGIServer.openSocket(path: path, mode: 0o660)
            defer { close(second.descriptor) }
            second.remove()
            #expect(identity(path) == nil)
        }
    }

    @Test("a path too long for a unix socket is refused before libfcgi sees it")
    func refusesLongPaths() {
        let path = "/tmp/" + String(repeating: "x", count: 120)
        #expect(throws: FastCGIError.socketPathTooLong(path: path)) {
            try FastCGIServer.openSocket(path: path, mode: 0o660)
        }
    }

    @Test(
        "the directory locked while a socket is replaced is the one that holds it",
        arguments: [
            ("/run/verdict/verdict.sock", "/run/verdict"), ("/verdict.sock", "/"), ("verdict.sock", "."),
            ("run/verdict.sock", "run"),
        ]
    )
    func parentDirectory(path: String, directory: String) {
        #expect(FastCGIServer.parentDirectory(of: path) == directory)
    }
}
