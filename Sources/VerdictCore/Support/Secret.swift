/// A signing secret. Its bytes never appear in a description, a dump or an error message.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key bytes, exactly as configured.
    public let bytes: [UInt8]

    public init(_ text: String) {
        self.bytes = Array(text.utf8)
    }

    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
