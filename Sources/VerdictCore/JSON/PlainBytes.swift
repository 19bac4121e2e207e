/// Finds the end of a run of "plain" string bytes (printable ASCII other than `"` and `\`) eight bytes at a time:
/// most of a webhook body is such runs inside strings, and the parser and the compacting writer only need to look
/// closely at the other bytes.
enum PlainBytes {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The index of the first byte at or after `start` that is not plain (a control character, `"`, `\`, DEL or any
    /// byte ≥ 0x80), or `bytes.count`.
    static func end(of bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while index + 8 <= bytes.count {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                if hasSpecialByte(word) { break }
                index += 8
            }
        }
        while index < bytes.count, isPlain(bytes[index]) { index += 1 }
        return index
    }

    static func isPlain(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    /// Whether any of the eight bytes is not plain. Exact as a yes/no answer (the classic "has a zero byte" and "has
    /// a byte below n" tests); the caller finds which byte with `isPlain`.
    static func hasSpecialByte(_ word: UInt64) -> Bool {
        func hasZeroByte(_ value: UInt64) -> Bool { (value &- ones) & ~value & highBits != 0 }
        let belowSpace = (word &- 0x20 &* ones) & ~word & highBits != 0
        let highOrDelete = word & highBits != 0 || hasZeroByte(word ^ (0x7F &* ones))
        return belowSpace || highOrDelete || hasZeroByte(word ^ (0x22 &* ones)) || hasZeroByte(word ^ (0x5C &* ones))
    }
}
