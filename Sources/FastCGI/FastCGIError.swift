/// Why the FastCGI transport could not start.
public enum FastCGIError: Error, Equatable, Sendable, CustomStringConvertible {
    case libraryInitFailed(code: Int32)
    case cannotOpenSocket(path: String, errno: Int32)
    case notASocket(path: String)
    case socketInUse(path: String)
    case socketPathTooLong(path: String)
    case cannotSetSocketMode(path: String, errno: Int32)
    case cannotSetSocketGroup(path: String, group: UInt32, errno: Int32)
    case cannotStartThread(errno: Int32)
    case invalidWebServerAddress(String)

    public var description: String {
        switch self {
        case .libraryInitFailed(let code): "libfcgi failed to initialise (FCGX_Init returned \(code))"
        case .cannotOpenSocket(let path, let errno):
            "cannot listen on \(path): \(String(cString: strerror(errno)))" + listenHint(errno)
        case .notASocket(let path):
            "\(path) exists and is not a socket; remove it or choose another path"
        case .socketInUse(let path):
            "another process is listening on \(path); stop it first or choose another path"
        case .socketPathTooLong(let path):
            "cannot listen on \(path): a unix socket's path must be shorter than 108 bytes"
        case .cannotSetSocketMode(let path, let errno):
            "cannot set the mode of \(path): \(String(cString: strerror(errno)))"
        case .cannotSetSocketGroup(let path, let group, let errno):
            "cannot give \(path) to group \(group): \(String(cString: strerror(errno)))"
                + (errno == EPERM ? " (is this user a member of the group?)" : "")
        case .cannotStartThread(let errno): "cannot start a worker thread: \(String(cString: strerror(errno)))"
        case .invalidWebServerAddress(let entry):
            "FCGI_WEB_SERVER_ADDRS: \"\(entry)\" is not an IP address (expected a comma-separated list of at "
                + "least one, e.g. 127.0.0.1,::1; unset, anyone may connect)"
        }
    }

    private func listenHint(_ errno: Int32) -> String {
        switch errno {
        case ENOENT, ENOTDIR: " (does the directory exist?)"
        case EACCES, EPERM, EROFS: " (can this user write to the directory?)"
        default: ""
        }
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
