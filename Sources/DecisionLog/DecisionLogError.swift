public import SystemPackage

/// A log operation that failed: which, on which path, and the system's reason.
public struct DecisionLogError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Errno
    /// Said instead of `errno`'s description, when the system's words would mislead.
    public var reason: String?

    public init(_ operation: String, _ path: String, _ errno: Errno, reason: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.reason = reason
    }

    /// For swift-system calls that throw untyped errors (they throw `Errno` in practice).
    init(_ operation: String, _ path: String, _ error: any Error) {
        self.init(operation, path, (error as? Errno) ?? .ioError, reason: nil)
    }

    public var description: String {
        "cannot \(operation) \(path): \(reason ?? "\(errno.description) (errno \(errno.rawValue))")"
    }
}
