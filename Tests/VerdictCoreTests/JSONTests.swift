import Testing
import VerdictCore

@Suite("JSON parser")
struct JSONParserTests {
    static func parse(_ bytes: [UInt8]) -> Result<JSONValue, JSONParseError> {
        do {
            return .success(try JSONParser.parse(bytes))
        } catch {
            return .failure(error)
        }
    }

    static func error(_ text: String) -> JSONParseError? {
        error(Array(text.utf8))
    }

    static func error(_ bytes: [UInt8]) -> JSONParseError? {
        if case .failure(let error) = parse(bytes) { return error }
        return nil
    }

    static func isSyntax(_ error: JSONParseError?) -> Bool {
        if case .syntax? = error { return true }
        return false
    }

    static func isInvalidUTF8(_ error: JSONParseError?) -> Bool {
        if case .invalidUTF8? = error { return true }
        return false
    }

    @Test("Values of every kind parse to the expected tree")
    func kinds() throws {
        let value = try parseJSON(
            #" { "s" : "x" , "n" : -1.5e+3 , "t" : true , "f" : false , "z" : null , "a" : [ 1 , [ ] , { } ] } "#
        )
        let expected = JSONValue.object(
            JSONObject([
                .init(key: "s", value: .string("x")),
                .init(key: "n", value: .number("-1.5e+3")),
                .init(key: "t", value: .bool(true)),
                .init(key: "f", value: .bool(false)),
                .init(key: "z", value: .null),
                .init(key: "a", value: .array([.number("1"), .array([]), .object(JSONObject())])),
            ])
        )
        #expect(value == expected)
    }

    @Test(
        "Top-level scalars and surrounding JSON whitespace are accepted",
        arguments: ["1", "\"a\"", "null", " \t\r\n[]\n"]
    )
    func topLevel(_ text: String) throws {
        _ = try parseJSON(text)
    }

    @Test(
        "Syntax errors are refused as invalid JSON",
        arguments: [
            "", " ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{a:1}", "{'a':1}", "[1 2]",
            "01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "0x1", "tru", "nul", "True", "NaN", "Infinity",
            "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "1 2", "{}x", "{}}", "\"\t\"", "\"a\nb\"", "/* c */ 1",
            "\u{FEFF}{}", "[1]\u{0}",
        ]
    )
    func syntaxErrors(_ text: String) {
        #expect(Self.isSyntax(Self.error(text)))
    }

    @Test(
        "A body that starts like a literal but is not one is told a value was expected; one cut short, the literal",
        arguments: [
            ("not json", JSONParseError.syntax(offset: 0, expected: "a value")),
            ("tree", .syntax(offset: 0, expected: "a value")),
            ("[tx]", .syntax(offset: 1, expected: "a value")),
            ("nul", .syntax(offset: 0, expected: "null")),
            ("[fals", .syntax(offset: 1, expected: "false")),
        ]
    )
    func literalErrors(_ text: String, _ expected: JSONParseError) {
        #expect(Self.error(text) == expected)
    }

    @Test("A raw NUL byte inside a string is refused")
    func rawNUL() throws {
        let bytes: [UInt8] = [0x22, 0x61, 0x00, 0x62, 0x22]
        #expect(Self.isSyntax(Self.error(bytes)))
        #expect(try JSONParser.parse(Array(#""a\u0000b""#.utf8)) == .string("a\u{0}b"))
    }

    @Test(
        "Raw control characters inside strings are refused",
        arguments: Array(0x00...0x1F) as [UInt8]
    )
    func rawControlCharacters(_ byte: UInt8) {
        #expect(Self.isSyntax(Self.error([0x22, byte, 0x22])))
    }

    @Test(
        "Lone or misordered surrogate escapes are refused",
        arguments: [
            #""\ud800""#, #""\udbff""#, #""\udc00""#, #""\udfff""#, #""\ud800x""#, #""\ud800\u0041""#,
            #""\ud800\ud800""#, #""\udc00\ud800""#, #""\ud800\n""#, #"{"\ud800":1}"#,
        ]
    )
    func loneSurrogates(_ text: String) {
        #expect(Self.isSyntax(Self.error(text)))
    }

    @Test("A surrogate pair decodes to its scalar")
    func surrogatePair() throws {
        #expect(try parseJSON(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parseJSON(#""\uD83D\uDE00""#) == .string("😀"))
    }

    @Test(
        "Escapes decode",
        arguments: [
            (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
            (#""\u00e9\u4e2d""#, "é中"),
            (#""a\u2028b""#, "a\u{2028}b"),
            (#""é""#, "é"),
        ]
    )
    func escapes(_ text: String, _ expected: String) throws {
        #expect(try parseJSON(text) == .string(expected))
    }

    @Test(
        "Invalid UTF-8 is refused as invalid_utf8, in strings, keys and between tokens",
        arguments: [
            [0x22, 0xC3, 0x28, 0x22],  // bad continuation
            [0x22, 0x80, 0x22],  // lone continuation byte
            [0x22, 0xC0, 0xAF, 0x22],  // overlong "/"
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8-encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // beyond U+10FFFF
            [0x22, 0xE2, 0x82, 0x22],  // truncated sequence
            [0x22, 0x61, 0x5C, 0x6E, 0xFF, 0x22],  // after an escape
            [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D],  // in a key
            [0x5B, 0x31, 0xFF, 0x5D],  // between tokens
            [0xFF],
        ] as [[UInt8]]
    )
    func invalidUTF8(_ bytes: [UInt8]) {
        #expect(Self.isInvalidUTF8(Self.error(bytes)))
    }

    @Test("The invalid_utf8 offset points at the first bad byte")
    func invalidUTF8Offset() {
        let bytes: [UInt8] = Array(#"{"name":"Zoë "#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(Self.error(bytes) == .invalidUTF8(offset: 14))
    }

    @Test("Nesting up to 64 levels is accepted; 65 is refused")
    func nestingLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try parseJSON(ok)
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(Self.error(tooDeep) == .nestingTooDeep(limit: 64))
        let objects = String(repeating: "{\"a\":", count: 64) + "1" + String(repeating: "}", count: 64)
        _ = try parseJSON(objects)
        let deeperObjects = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(Self.error(deeperObjects) == .nestingTooDeep(limit: 64))
    }

    @Test("Sibling containers do not add up to depth")
    func siblingsDoNotNest() throws {
        let wide =
            "["
            + Array(repeating: String(repeating: "[", count: 60) + String(repeating: "]", count: 60), count: 50)
            .joined(separator: ",") + "]"
        _ = try parseJSON(wide)
    }

    @Test("100 000 levels of arrays or objects are refused without a crash")
    func hostileNesting() {
        let arrays = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(Self.error(arrays) == .nestingTooDeep(limit: 64))
        let objects = Array(String(repeating: "{\"k\":", count: 100_000).utf8)
        #expect(Self.error(objects) == .nestingTooDeep(limit: 64))
        let mixed = Array(String(repeating: "[{\"k\":", count: 50_000).utf8)
        #expect(Self.error(mixed) == .nestingTooDeep(limit: 64))
    }

    @Test("Numbers up to 64 characters are kept; longer ones are refused")
    func numberLength() throws {
        let max = "-" + String(repeating: "1", count: 40) + ".5e+" + String(repeating: "2", count: 19)
        #expect(max.count == 64)
        #expect(try parseJSON(max) == .number(max))
        let tooLong = String(repeating: "1", count: 65)
        #expect(Self.error(tooLong) == .numberTooLong(limit: 64))
        let tenThousand = "[" + String(repeating: "9", count: 10_000) + "]"
        #expect(Self.error(tenThousand) == .numberTooLong(limit: 64))
    }

    @Test(
        "Duplicate keys are refused, also when spelled with escapes",
        arguments: [
            (#"{"a":1,"a":2}"#, "a"),
            (#"{"a":1,"b":{"c":1,"c":1}}"#, "c"),
            (#"{"a":1,"\u0061":2}"#, "a"),
            (#"{"é":1,"\u00e9":2}"#, "é"),
            (#"{"":1,"":2}"#, ""),
        ]
    )
    func duplicateKeys(_ text: String, _ key: String) {
        #expect(Self.error(text) == .duplicateKey(key))
    }

    @Test("Duplicates are found in large objects too, by code points", arguments: [17, 40, 1000])
    func duplicateKeysInLargeObjects(_ count: Int) throws {
        let members = (0..<count).map { #""k\#($0)":\#($0)"# }
        #expect(Self.error("{" + (members + [#""k3":0"#]).joined(separator: ",") + "}") == .duplicateKey("k3"))
        let last = "k\(count - 1)"
        #expect(Self.error("{" + (members + [#""\#(last)":0"#]).joined(separator: ",") + "}") == .duplicateKey(last))
        // Canonically equivalent but distinct keys stay distinct past the linear scan.
        let distinct = try parseJSON("{" + (members + ["\"\u{E9}\":1", "\"e\u{301}\":2"]).joined(separator: ",") + "}")
        #expect(distinct.objectValue?.members.count == count + 2)
    }

    @Test("An object with 30 000 keys parses in linear time")
    func manyKeys() throws {
        let text = "{" + (0..<30_000).map { #""k\#($0)":0"# }.joined(separator: ",") + "}"
        let clock = ContinuousClock()
        let elapsed = try clock.measure { _ = try parseJSON(text) }
        // Quadratic duplicate detection took minutes here; linear parsing takes well under a second.
        #expect(elapsed < .seconds(10))
    }

    @Test("The same key in different objects is fine, and keys keep their order")
    func sameKeyDifferentObjects() throws {
        let value = try parseJSON(#"{"z":{"a":1},"a":{"a":2},"m":[{"a":3},{"a":4}]}"#)
        #expect(keys(of: value) == ["z", "a", "m"])
    }

    @Test("Keys differing only by Unicode normalisation are distinct, as their code points differ")
    func normalisation() throws {
        // "é" precomposed and decomposed; "K" and KELVIN SIGN.
        let value = try parseJSON("{\"\u{E9}\":1,\"e\u{301}\":2,\"K\":3,\"\u{212A}\":4}")
        #expect(value.objectValue?.members.count == 4)
        #expect(value["e\u{301}"] == .number("2"))
        #expect(value["\u{212A}"] == .number("4"))
        #expect(value["K"] == .number("3"))
        let kelvinOnly = try parseJSON("{\"\u{212A}\":4}")
        #expect(kelvinOnly["K"] == nil)
        #expect(kelvinOnly.objectValue?.contains("K") == false)
    }

    @Test(
        "Each parse error maps to its contract code",
        arguments: [
            (JSONParseError.invalidUTF8(offset: 0), "invalid_utf8"),
            (.syntax(offset: 0, expected: "a value"), "invalid_json"),
            (.nestingTooDeep(limit: 64), "nesting_too_deep"),
            (.numberTooLong(limit: 64), "number_too_long"),
            (.duplicateKey("a"), "duplicate_key"),
        ]
    )
    func codes(_ error: JSONParseError, _ code: String) {
        let rejection = Rejection.invalidPayload(error)
        #expect(rejection.code == code)
        #expect(rejection.status == 400)
        #expect(rejection.message == error.message)
    }

    @Test("Accessors read only the matching kind")
    func accessors() throws {
        let value = try parseJSON(#"{"s":"1","n":1,"big":12345678901234567890,"f":1.0,"b":true,"o":{},"z":null}"#)
        #expect(value["s"]?.stringValue == "1")
        #expect(value["s"]?.intValue == nil)
        #expect(value["n"]?.intValue == 1)
        #expect(value["n"]?.stringValue == nil)
        #expect(value["big"]?.intValue == nil)
        #expect(value["f"]?.intValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["o"]?.objectValue == JSONObject())
        #expect(value["z"]?.isNull == true)
        #expect(value["missing"] == nil)
        #expect(value["s"]?["x"] == nil)
        #expect(value.objectValue?.contains("z") == true)
        #expect(value.objectValue?.contains("y") == false)
    }

    @Test("JSONObject's subscript replaces in place, appends and removes")
    func objectMutation() {
        var object = JSONObject([.init(key: "a", value: .number("1")), .init(key: "b", value: .number("2"))])
        object["a"] = .string("x")
        object["c"] = .null
        object["b"] = nil
        #expect(object.members.map(\.key) == ["a", "c"])
        #expect(object["a"] == .string("x"))
        #expect(object.contains("c"))
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test(
        "Compact input is written back byte for byte",
        arguments: [
            "veriff-v1-hmac.json", "veriff-v3-hmac.json", "veriff-v4-event-submitted.json", "veriff-v5-declined.json",
            "stripe-s2-verified.json", "veriff-approved-compact.json",
        ]
    )
    func compactRoundTrip(_ name: String) throws {
        let bytes = try Fixture.bytes(name)
        var writer = JSONWriter()
        writer.write(try JSONParser.parse(bytes))
        #expect(writer.bytes == bytes)
    }

    @Test("A pretty-printed payload becomes one compact line, equal to Python's minified form")
    func prettyBecomesCompact() throws {
        let pretty = try Fixture.bytes("veriff-approved-pretty.json")
        #expect(pretty.filter { $0 == 0x0A }.count > 80)
        var writer = JSONWriter()
        writer.write(try JSONParser.parse(pretty))
        #expect(!writer.bytes.contains(0x0A))
        #expect(writer.bytes == (try Fixture.bytes("veriff-approved-compact.json")))
        // The values Python would round or reformat are kept as text.
        #expect(writer.bytes.text.contains(#""estimatedGender":0.613"#))
        #expect(writer.bytes.text.contains(#""houseNumber":"null""#))
    }

    @Test(
        "Parse, write, parse gives the same value",
        arguments: [
            #"{"a":[1,2,{"b":null}],"c":"\u2028\n\"","d":-0.0e-0}"#,
            #"[[],{},"",0,-0,true,false,null]"#,
            #"{"k":"\ud83d\ude00 東京 Zoë"}"#,
        ]
    )
    func roundTrip(_ text: String) throws {
        let value = try parseJSON(text)
        let written = compact(value)
        #expect(try parseJSON(written) == value)
        #expect(compact(try parseJSON(written)) == written)
    }

    @Test(
        "Compacting a parsed text gives the same value, and the tree's own bytes for the fixtures",
        arguments: [
            "veriff-v1-hmac.json", "veriff-v3-hmac.json", "veriff-v4-event-submitted.json", "veriff-v5-declined.json",
            "stripe-s2-verified.json", "veriff-approved-compact.json", "veriff-approved-pretty.json",
        ]
    )
    func compactingFixtures(_ name: String) throws {
        let bytes = try Fixture.bytes(name)
        var writer = JSONWriter()
        writer.write(compacting: bytes)
        #expect(writer.bytes == Array(compact(try JSONParser.parse(bytes)).utf8))
    }

    @Test("Compacting drops whitespace between tokens only, and keeps the sender's escapes")
    func compactingKeepsStrings() throws {
        let text = " {\n\t\"a b\" : \"x \\\" , y \\\\\" ,\r\n \"c\" : [ 1 , -0.50e+1 , { } , \"\\u00e9\\/\" ] } "
        var writer = JSONWriter()
        writer.write(compacting: Array(text.utf8))
        #expect(writer.bytes.text == #"{"a b":"x \" , y \\","c":[1,-0.50e+1,{},"\u00e9\/"]}"#)
        #expect(try JSONParser.parse(writer.bytes) == (try parseJSON(text)))
    }

    @Test("Compacting escapes raw U+2028, U+2029 and DEL, and leaves their neighbours raw")
    func compactingEscapesLineSeparators() throws {
        var writer = JSONWriter()
        writer.write(compacting: Array("[\"a\u{2028}b\u{2029}c\u{7F}\u{2027}\u{202A}\u{20AC}\", \"\\u2028\"]".utf8))
        #expect(writer.bytes.text == #"["a\u2028b\u2029c\u007f"# + "\u{2027}\u{202A}\u{20AC}" + #"","\u2028"]"#)
    }

    @Test(
        "Numbers are kept verbatim",
        arguments: ["0.613", "1e400", "-0", "1E+2", "-1.50", "123456789012345678901234567890", "0e-7"]
    )
    func numbersVerbatim(_ text: String) throws {
        #expect(compact(try parseJSON("[\(text)]")) == "[\(text)]")
    }

    @Test("Non-ASCII text is written raw, including escaped input")
    func unicodeRaw() throws {
        #expect(compact(try parseJSON(#"["Zoë 😀 東京"]"#)) == #"["Zoë 😀 東京"]"#)
        #expect(compact(try parseJSON(#"["\u00e9\ud83d\ude00"]"#)) == #"["é😀"]"#)
        #expect(
            compact(.string("\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}"))
                == "\"\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}\""
        )
    }

    @Test("U+2028 and U+2029 are escaped, whether they arrived raw or escaped")
    func lineSeparators() throws {
        #expect(compact(.string("a\u{2028}b\u{2029}c")) == #""a\u2028b\u2029c""#)
        #expect(compact(try parseJSON(#"["\u2028"]"#)) == #"["\u2028"]"#)
        let raw = compact(try parseJSON("[\"\u{2028}\u{2029}\"]"))
        #expect(raw == #"["\u2028\u2029"]"#)
        // Neighbours sharing the E2 80 lead bytes stay raw.
        #expect(compact(.string("\u{2027}\u{202A}\u{20AC}")) == "\"\u{2027}\u{202A}\u{20AC}\"")
    }

    @Test("Control characters are escaped", arguments: Array(0x00...0x1F) + [0x7F] as [UInt32])
    func controlCharacters(_ code: UInt32) throws {
        let scalar = try #require(Unicode.Scalar(code))
        let written = compact(.string(String(Character(scalar))))
        let short: [UInt32: String] = [0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"]
        let hex = String(code, radix: 16)
        let expected = short[code] ?? "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        #expect(written == "\"\(expected)\"")
        #expect(!written.utf8.contains { $0 < 0x20 || $0 == 0x7F })
    }

    @Test("Quotes and backslashes are escaped; the slash is not")
    func quotes() {
        #expect(compact(.string(#"a"b\c/d"#)) == #""a\"b\\c/d""#)
    }

    @Test("Keys are escaped like values")
    func keysEscaped() {
        let value = JSONValue.object(JSONObject([.init(key: "a\nb\u{2028}", value: .null)]))
        #expect(compact(value) == #"{"a\nb\u2028":null}"#)
    }

    @Test("write(integer:) writes decimal integers")
    func integers() {
        var writer = JSONWriter()
        writer.write(integer: -42)
        writer.raw(",")
        writer.write(integer: Int.max)
        #expect(writer.bytes.text == "-42,9223372036854775807")
    }
}
