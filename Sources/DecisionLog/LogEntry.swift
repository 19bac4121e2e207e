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
public struct RedeliveryKey: Hashable, Comparable, Sendable {
    public var high: UInt64
    public var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

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

    /// The first 16 bytes of `bytes` (a digest), big-endian.
    public init(_ bytes: [UInt8]) {
        precondition(bytes.count >= 16, "a redelivery key needs 16 bytes")
        self = bytes.withUnsafeBytes { RedeliveryKey($0, at: 0) }
    }

    /// Reads a key from 16 bytes at `offset`, big-endian.
    init(_ buffer: UnsafeRawBufferPointer, at offset: Int) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 {
            high = high << 8 | UInt64(buffer[offset + index])
            low = low << 8 | UInt64(buffer[offset + 8 + index])
        }
        self.high = high
        self.low = low
    }

    /// Appends the 16 bytes, big-endian.
    func append(to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: high >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: low >> UInt64(shift)))
        }
    }

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        append(to: &bytes)
        return bytes
    }

    public static func < (lhs: RedeliveryKey, rhs: RedeliveryKey) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
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
