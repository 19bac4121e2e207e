internal import Crypto

/// A signing secret. Its bytes never appear in a description, a dump or an error message.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key bytes, exactly as configured.
    public let bytes: [UInt8]
    /// HMAC-SHA256 keyed with `bytes` and nothing hashed yet: copying it skips deriving the key for every request.
    let keyedHMAC: HMAC<SHA256>

    public init(_ text: String) {
        self.bytes = Array(text.utf8)
        self.keyedHMAC = HMAC<SHA256>(key: SymmetricKey(data: bytes))
    }

    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
