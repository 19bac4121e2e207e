/// A value in the configuration file.
public enum ConfigValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case array([ConfigValue])

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .bool: "true or false"
        case .array: "an array"
        }
    }
}

/// A table of `key = value` lines, remembering where each key was written.
public struct ConfigTable: Sendable {
    public var values: [String: ConfigValue] = [:]
    public var lines: [String: Int] = [:]
    /// The line of the `[[…]]` header, or 0 for the top level.
    public var headerLine: Int
}

/// The parsed file: top-level keys and the `[[endpoint]]` tables, in order.
///
/// The syntax is the subset of TOML that a webhook receiver needs (comments, strings, integers, booleans, arrays,
/// `[[endpoint]]`), so editors highlight it and a TOML library could read it, without a TOML dependency.
public struct ConfigDocument: Sendable {
    public var file: String
    public var topLevel = ConfigTable(headerLine: 0)
    public var endpoints: [ConfigTable] = []

    /// Parses `text`; `file` names the file in errors.
    public init(text: String, file: String) throws(ConfigurationError) {
        self.file = file
        // "\r\n" is one Character in Swift, so CRLF files must be split on it explicitly.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map(String.init)
        var lineNumber = 0
        var current: Int? = nil
        while lineNumber < lines.count {
            var line = lines[lineNumber]
            lineNumber += 1
            var cursor = Cursor(text: line, file: file, line: lineNumber)
            cursor.skipSpaces()
            if cursor.atEndOrComment { continue }
            if cursor.peek == "[" {
                guard line.trimmingSpaces.hasPrefix("[[endpoint]]"),
                    Cursor(text: String(line.trimmingSpaces.dropFirst(12)), file: file, line: lineNumber)
                        .restIsBlank
                else {
                    // Only a header of letters is quoted back (`[endpoint]`): any other line starting with "[" may
                    // hold a secret (`["…"]` pasted alone, or after the header; secrets have digits or '_').
                    let header = line.trimmingSpaces
                    let quotable = header.allSatisfy { $0.isASCII && ($0.isLetter || $0 == "[" || $0 == "]") }
                    throw ConfigurationError(
                        file: file,
                        line: lineNumber,
                        problem: "only [[endpoint]] tables are allowed; found "
                            + (quotable ? header : "a line starting with '[' that is not one")
                    )
                }
                endpoints.append(ConfigTable(headerLine: lineNumber))
                current = endpoints.count - 1
                continue
            }
            let key = try cursor.parseKey()
            cursor.skipSpaces()
            guard cursor.consume("=") else {
                // Not quoted back: a word alone on a line may be a secret pasted in the wrong place.
                throw cursor.error("expected '=' after the first word (a line is `key = value`)")
            }
            cursor.skipSpaces()
            // An array may span lines: join following lines until the brackets balance.
            while cursor.peek == "[", !Cursor.bracketsBalance(cursor.rest), lineNumber < lines.count {
                line += "\n" + lines[lineNumber]
                lines[lineNumber] = ""
                lineNumber += 1
                cursor.text = Array(line)
            }
            let value = try cursor.parseValue()
            cursor.skipSpaces()
            guard cursor.atEndOrComment else { throw cursor.error("unexpected text after the value of \(key)") }
            let startLine = cursor.line
            if let index = current {
                try Self.set(key, value, line: startLine, in: &endpoints[index], file: file)
            } else {
                try Self.set(key, value, line: startLine, in: &topLevel, file: file)
            }
        }
    }

    private static func set(
        _ key: String,
        _ value: ConfigValue,
        line: Int,
        in table: inout ConfigTable,
        file: String
    ) throws(ConfigurationError) {
        if let previous = table.lines[key] {
            throw ConfigurationError(file: file, line: line, key: key, problem: "already set on line \(previous)")
        }
        table.values[key] = value
        table.lines[key] = line
    }
}

/// A character cursor over one logical line.
private struct Cursor {
    var text: [Character]
    var position = 0
    let file: String
    let line: Int

    init(text: String, file: String, line: Int) {
        self.text = Array(text)
        self.file = file
        self.line = line
    }

    var peek: Character? { position < text.count ? text[position] : nil }
    var rest: String { String(text[position...]) }
    var atEndOrComment: Bool { peek == nil || peek == "#" || peek == "\r" }
    var restIsBlank: Bool {
        var copy = self
        copy.skipSpaces()
        return copy.atEndOrComment
    }

    func error(_ problem: String) -> ConfigurationError {
        ConfigurationError(file: file, line: line, problem: problem)
    }

    mutating func skipSpaces() {
        while let c = peek, c == " " || c == "\t" { position += 1 }
    }

    mutating func skipSpacesAndNewlines() {
        while true {
            skipSpaces()
            if peek == "#" {
                while let c = peek, c != "\n" { position += 1 }
            }
            if let c = peek, c == "\n" || c == "\r" {
                position += 1
                continue
            }
            return
        }
    }

    mutating func consume(_ c: Character) -> Bool {
        guard peek == c else { return false }
        position += 1
        return true
    }

    mutating func parseKey() throws(ConfigurationError) -> String {
        let start = position
        while let c = peek, c.isASCII, c.isLetter || c.isNumber || c == "_" || c == "-" { position += 1 }
        guard position > start else { throw error("expected a key (letters, digits, '_' or '-')") }
        return String(text[start..<position])
    }

    mutating func parseValue() throws(ConfigurationError) -> ConfigValue {
        switch peek {
        case "\"": return .string(try parseBasicString())
        case "'": return .string(try parseLiteralString())
        case "[": return try parseArray()
        case "t", "f":
            let word = parseWord()
            if word == "true" { return .bool(true) }
            if word == "false" { return .bool(false) }
            // The word is not quoted back: it may be a secret written without its quotes.
            throw error("expected true or false (or a string missing its quotes)")
        case let c? where c == "-" || c == "+" || c.isNumber:
            let word = parseWord()
            guard Self.isTOMLInteger(word), let value = Int(word.filter { $0 != "_" }) else {
                throw error("the value is not an integer (or a string missing its quotes)")
            }
            return .integer(value)
        default:
            throw error("expected a value (a quoted string, an integer, true/false or [ … ])")
        }
    }

    /// A decimal integer as TOML writes one: an optional sign, no leading zero, and each `_` between two digits.
    static func isTOMLInteger(_ word: String) -> Bool {
        let digits = word.first == "+" || word.first == "-" ? word.dropFirst() : Substring(word)
        guard let first = digits.first, first.isASCII, first.isNumber, digits.last?.isNumber == true else {
            return false
        }
        if first == "0" && digits.count > 1 { return false }
        var previous: Character = "_"
        for c in digits {
            guard c.isASCII && c.isNumber || (c == "_" && previous != "_") else { return false }
            previous = c
        }
        return true
    }

    private mutating func parseWord() -> String {
        let start = position
        while let c = peek, c.isLetter || c.isNumber || c == "_" || c == "-" || c == "+" { position += 1 }
        return String(text[start..<position])
    }

    private mutating func parseBasicString() throws(ConfigurationError) -> String {
        position += 1
        var out = ""
        while let c = peek {
            position += 1
            switch c {
            case "\"": return out
            case "\\":
                guard let e = peek else { break }
                position += 1
                switch e {
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "u":
                    guard position + 4 <= text.count,
                        text[position..<position + 4].allSatisfy(\.isHexDigit),
                        let code = UInt32(String(text[position..<position + 4]), radix: 16),
                        let scalar = Unicode.Scalar(code)
                    else { throw error("bad \\u escape in a string") }
                    out.unicodeScalars.append(scalar)
                    position += 4
                default: throw error("unknown escape \\\(e) in a string")
                }
            case "\n": throw error("a string does not end before the line does")
            default: out.append(c)
            }
        }
        throw error("a string does not end before the line does")
    }

    private mutating func parseLiteralString() throws(ConfigurationError) -> String {
        position += 1
        let start = position
        while let c = peek, c != "'", c != "\n" { position += 1 }
        guard consume("'") else { throw error("a string does not end before the line does") }
        return String(text[start..<position - 1])
    }

    private mutating func parseArray() throws(ConfigurationError) -> ConfigValue {
        position += 1
        var elements: [ConfigValue] = []
        while true {
            skipSpacesAndNewlines()
            if consume("]") { return .array(elements) }
            elements.append(try parseValue())
            skipSpacesAndNewlines()
            if consume(",") { continue }
            skipSpacesAndNewlines()
            guard consume("]") else { throw error("expected ',' or ']' in an array") }
            return .array(elements)
        }
    }

    static func bracketsBalance(_ text: String) -> Bool {
        var depth = 0
        var quote: Character? = nil
        var escaped = false
        var comment = false
        for c in text {
            if comment {
                if c == "\n" { comment = false }
                continue
            }
            if let q = quote {
                if escaped {
                    escaped = false
                } else if c == "\\" && q == "\"" {
                    escaped = true
                } else if c == q {
                    quote = nil
                }
                continue
            }
            switch c {
            case "\"", "'": quote = c
            case "#": comment = true
            case "[": depth += 1
            case "]": depth -= 1
            default: break
            }
        }
        return depth <= 0
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let c = slice.first, c == " " || c == "\t" || c == "\r" { slice.removeFirst() }
        while let c = slice.last, c == " " || c == "\t" || c == "\r" { slice.removeLast() }
        return String(slice)
    }
}
