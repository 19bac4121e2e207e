/// Why the FastCGI transport could not start.
public enum FastCGIError: Error, Equatable, Sendable, CustomStringConvertible {
    case libraryInitFailed(code: Int32)
    case cannotOpenSocket(path: String, errno: Int32)
    case cannotSetSocketMode(path: String, errno: Int32)
    case cannotStartThread(errno: Int32)

    public var description: String {
        switch self {
        case .libraryInitFailed(let code): "libfcgi failed to initialise (FCGX_Init returned \(code))"
        case .cannotOpenSocket(let path, let errno):
            "cannot listen on \(path): \(String(cString: strerror(errno))) (is another verdict running? "
                + "is the directory writable?)"
        case .cannotSetSocketMode(let path, let errno):
            "cannot set the mode of \(path): \(String(cString: strerror(errno)))"
        case .cannotStartThread(let errno): "cannot start a worker thread: \(String(cString: strerror(errno)))"
        }
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
