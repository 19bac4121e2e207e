/// Writes compact JSON into a byte buffer.
///
/// The output never contains a raw newline, carriage return, U+2028 or U+2029, so one value is always one line for
/// `tail`, `jq`, Vector and Fluent Bit, and stays one line when embedded in JavaScript.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 1024) {
        bytes.reserveCapacity(capacity)
    }

    /// Appends `value` compactly.
    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): raw(flag ? "true" : "false")
        case .number(let text): bytes.append(contentsOf: text.utf8)
        case .string(let text): write(string: text)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            for (offset, member) in object.members.enumerated() {
                if offset > 0 { bytes.append(UInt8(ascii: ",")) }
                write(string: member.key)
                bytes.append(UInt8(ascii: ":"))
                write(member.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Appends a JSON string literal.
    public mutating func write(string: String) {
        var text = string
        text.withUTF8 { write(utf8: $0) }
    }

    /// Appends the UTF-8 bytes as a JSON string literal, copying runs that need no escape in one go.
    private mutating func write(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        let count = utf8.count
        while index < count {
            let byte = utf8[index]
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte != 0x7F && byte != 0xE2
            {
                index += 1
                continue
            }
            // U+2028 and U+2029 are E2 80 A8 / E2 80 A9: line terminators for JavaScript and some tailers.
            if byte == 0xE2 {
                guard index + 2 < count, utf8[index + 1] == 0x80, utf8[index + 2] == 0xA8 || utf8[index + 2] == 0xA9
                else {
                    index += 1
                    continue
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0xE2:
                raw(utf8[index + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                index += 2
            default:
                raw("\\u00")
                bytes.append(Hex.digits[Int(byte >> 4)])
                bytes.append(Hex.digits[Int(byte & 0xF)])
            }
            index += 1
            runStart = index
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<count]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `text`, a JSON text that `JSONParser` accepted, without its insignificant whitespace: the same value
    /// as writing its parsed tree, for a fraction of the work (escapes the sender used are kept as they are). Raw
    /// U+2028, U+2029 and DEL inside strings are escaped as `write(string:)` escapes them, so the output is one line.
    public mutating func write(compacting text: [UInt8]) {
        text.withUnsafeBufferPointer { input in
            var inString = false
            var runStart = 0
            var index = 0
            let count = input.count
            while index < count {
                if inString {
                    index = PlainBytes.end(of: input, from: index)
                    guard index < count else { break }
                    switch input[index] {
                    case UInt8(ascii: "\\"):
                        index += 2  // the escaped byte is never a quote that ends the string
                        continue
                    case UInt8(ascii: "\""):
                        inString = false
                    case 0x7F:
                        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<index]))
                        raw("\\u007f")
                        runStart = index + 1
                    case 0xE2
                    where index + 2 < count && input[index + 1] == 0x80
                        && (input[index + 2] == 0xA8 || input[index + 2] == 0xA9):
                        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<index]))
                        raw(input[index + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                        index += 3
                        runStart = index
                        continue
                    default:
                        break
                    }
                } else {
                    switch input[index] {
                    case UInt8(ascii: "\""):
                        inString = true
                    case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<index]))
                        runStart = index + 1
                    default:
                        break
                    }
                }
                index += 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<count]))
        }
    }

    /// Appends ASCII text as is.
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends a decimal integer.
    public mutating func write(integer: Int) {
        bytes.append(contentsOf: String(integer).utf8)
    }
}
