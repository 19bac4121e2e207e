/// Why a body is not acceptable JSON.
public enum JSONParseError: Error, Equatable, Sendable {
    case invalidUTF8(offset: Int)
    case syntax(offset: Int, expected: String)
    case nestingTooDeep(limit: Int)
    case numberTooLong(limit: Int)
    case duplicateKey(String)

    /// One sentence for the sender.
    public var message: String {
        switch self {
        case .invalidUTF8(let offset): "The body is not valid UTF-8 (byte \(offset))."
        case .syntax(let offset, let expected): "The body is not valid JSON: expected \(expected) at byte \(offset)."
        case .nestingTooDeep(let limit): "The JSON nests deeper than \(limit) levels."
        case .numberTooLong(let limit): "The JSON holds a number longer than \(limit) characters."
        case .duplicateKey(let key): "The JSON object repeats the key \"\(key)\"; the payload would be ambiguous."
        }
    }
}

/// A strict RFC 8259 parser for webhook bodies.
///
/// Stricter than most parsers on purpose: a signed body that two consumers could read differently (duplicate keys,
/// lone surrogates, invalid UTF-8) is refused rather than guessed at, and depth and number length are bounded so a
/// hostile body cannot exhaust the stack or memory.
public struct JSONParser {
    public static let defaultMaxDepth = 64
    public static let defaultMaxNumberLength = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    private let maxDepth: Int
    private let maxNumberLength: Int

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, maxNumberLength: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxNumberLength = maxNumberLength
    }

    /// Parses exactly one JSON value surrounded by optional whitespace.
    public static func parse(
        _ body: [UInt8],
        maxDepth: Int = defaultMaxDepth,
        maxNumberLength: Int = defaultMaxNumberLength
    ) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = body.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer, maxDepth: maxDepth, maxNumberLength: maxNumberLength)
            do throws(JSONParseError) {
                parser.skipWhitespace()
                let value = try parser.parseValue()
                parser.skipWhitespace()
                guard parser.index == buffer.count else {
                    throw parser.unexpected("end of input")
                }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private func unexpected(_ expected: String) -> JSONParseError {
        // A stray byte ≥ 0x80 outside a string is an encoding problem before it is a syntax one.
        if index < bytes.count, bytes[index] >= 0x80, !Self.isValidUTF8Prefix(bytes, at: index) {
            return .invalidUTF8(offset: index)
        }
        return .syntax(offset: index, expected: expected)
    }

    private static func isValidUTF8Prefix(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        let end = min(bytes.count, start + 4)
        for length in 2...4 where start + length <= end {
            if String(validating: bytes[start..<start + length], as: UTF8.self) != nil { return true }
        }
        return false
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw unexpected("a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw unexpected("a value")
        }
    }

    /// Only a body cut short inside the literal is told to expect it: one that merely starts with its first
    /// letter (`not json`) is no attempt at `null`, and is told a value was expected.
    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        let available = min(count, bytes.count - index)
        let matching = literal.withUTF8Buffer { expected in
            (0..<available).prefix { bytes[index + $0] == expected[$0] }.count
        }
        guard matching == count else {
            throw unexpected(matching == available ? "\(literal)" : "a value")
        }
        index += count
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > maxDepth { throw .nestingTooDeep(limit: maxDepth) }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        var members: [JSONObject.Member] = []
        // One allocation for a typical provider object, instead of regrowing at 1, 2, 4 and 8 members.
        members.reserveCapacity(12)
        // Past a few keys, duplicates are found by hashing: a linear scan per key is quadratic, and a signed 1 MiB
        // body of 90 000 short keys took minutes to parse.
        var seen: Set<JSONObject.KeyBytes> = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(JSONObject(members))
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw unexpected("a string key") }
            let key = try parseString()
            let hash = JSONObject.hash(key)
            if members.count < 16 {
                if members.contains(where: { $0.keyHash == hash && JSONObject.sameKey($0.key, key) }) {
                    throw .duplicateKey(key)
                }
            } else {
                if seen.isEmpty { seen = Set(members.map { JSONObject.KeyBytes($0.key) }) }
                guard seen.insert(JSONObject.KeyBytes(key)).inserted else { throw .duplicateKey(key) }
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw unexpected("':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append(JSONObject.Member(key: key, value: value, keyHash: hash))
            skipWhitespace()
            guard index < bytes.count else { throw unexpected("',' or '}'") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw unexpected("',' or '}'") }
            index += 1
            depth -= 1
            return .object(JSONObject(members))
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        elements.reserveCapacity(4)
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw unexpected("',' or ']'") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw unexpected("',' or ']'") }
            index += 1
            depth -= 1
            return .array(elements)
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw unexpected("a digit") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw unexpected("a digit") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw unexpected("a digit") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        guard index - start <= maxNumberLength else { throw .numberTooLong(limit: maxNumberLength) }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes, so the bytes between the quotes are the string.
        var ascii = true
        while true {
            index = PlainBytes.end(of: bytes, from: index)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                if ascii {
                    // ASCII is valid UTF-8: no validation pass needed.
                    index += 1
                    return String(decoding: slice, as: UTF8.self)
                }
                guard let text = String(validating: slice, as: UTF8.self) else {
                    throw .invalidUTF8(offset: Self.firstInvalidUTF8(bytes, from: start, to: index))
                }
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw .syntax(offset: index, expected: "an escaped control character") }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        var scalars = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: scalars, as: UTF8.self) else {
                    throw .invalidUTF8(offset: Self.firstInvalidUTF8(bytes, from: start, to: index - 1))
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                try appendEscape(to: &scalars)
            case 0..<0x20:
                throw .syntax(offset: index, expected: "an escaped control character")
            default:
                scalars.append(byte)
                index += 1
            }
        }
        throw unexpected("'\"'")
    }

    private mutating func appendEscape(to scalars: inout [UInt8]) throws(JSONParseError) {
        guard index < bytes.count else { throw unexpected("an escape") }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""): scalars.append(0x22)
        case UInt8(ascii: "\\"): scalars.append(0x5C)
        case UInt8(ascii: "/"): scalars.append(0x2F)
        case UInt8(ascii: "b"): scalars.append(0x08)
        case UInt8(ascii: "f"): scalars.append(0x0C)
        case UInt8(ascii: "n"): scalars.append(0x0A)
        case UInt8(ascii: "r"): scalars.append(0x0D)
        case UInt8(ascii: "t"): scalars.append(0x09)
        case UInt8(ascii: "u"):
            var code = try parseHex4()
            if (0xD800...0xDBFF).contains(code) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { throw .syntax(offset: index, expected: "a low surrogate") }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw .syntax(offset: index - 4, expected: "a low surrogate")
                }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(code) {
                throw .syntax(offset: index - 4, expected: "a high surrogate before a low one")
            }
            guard let scalar = Unicode.Scalar(code) else { throw .syntax(offset: index, expected: "a scalar") }
            scalars.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw .syntax(offset: index - 1, expected: "a valid escape")
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw unexpected("four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Hex.value(of: bytes[index]) else { throw unexpected("a hex digit") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int {
        var position = start
        while position < end {
            if bytes[position] < 0x80 {
                position += 1
                continue
            }
            var advanced = false
            for length in 2...4 where position + length <= end {
                if String(validating: bytes[position..<position + length], as: UTF8.self) != nil {
                    position += length
                    advanced = true
                    break
                }
            }
            if !advanced { return position }
        }
        return start
    }
}
