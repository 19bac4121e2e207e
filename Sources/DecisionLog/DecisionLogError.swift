public import SystemPackage

/// A log operation that failed: which, on which path, and the system's reason.
public struct DecisionLogError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Errno

    public init(_ operation: String, _ path: String, _ errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// For swift-system calls that throw untyped errors (they throw `Errno` in practice).
    init(_ operation: String, _ path: String, _ error: any Error) {
        self.init(operation, path, (error as? Errno) ?? .ioError)
    }

    public var description: String {
        "cannot \(operation) \(path): \(errno.description) (errno \(errno.rawValue))"
    }
}
