/// One line to append, with the day file it belongs to and its redelivery key.
public struct LogEntry: Sendable {
    /// The UTC day, `YYYY-MM-DD`; the line goes to `decisions-<day>.jsonl`.
    public var day: String
    /// A complete line ending in `\n`.
    public var line: [UInt8]
    /// 16 bytes identifying the event (a hash of endpoint and event id); a second entry with the same key is a
    /// redelivery and is not appended.
    public var key: RedeliveryKey

    public init(day: String, line: [UInt8], key: RedeliveryKey) {
        self.day = day
        self.line = line
        self.key = key
    }
}

/// A 128-bit redelivery key.
public struct RedeliveryKey: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64

    /// The first 16 bytes of `bytes` (a digest), big-endian.
    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        precondition(bytes.count >= 16, "a redelivery key needs 16 bytes")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (offset, byte) in bytes.prefix(16).enumerated() {
            if offset < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.high = high
        self.low = low
    }

    var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }
}

/// What became of one entry.
public enum AppendResult: Equatable, Sendable {
    /// The line is in the file (and synced, when durability is on).
    case appended
    /// An entry with the same key was logged before; nothing was written.
    case duplicate
    /// Nothing was written; the request must not be acknowledged.
    case failed(DecisionLogError)
}
