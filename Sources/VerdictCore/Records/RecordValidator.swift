/// Checks one log line against the record contract (the same rules as `Config/verdict-record.schema.json`).
public enum RecordValidator {
    enum FieldType {
        case string, nullableString, integer, bool, nullableBool, object, nullableObject, any
    }

    static let fields: [(name: String, type: FieldType)] = [
        ("schema_version", .integer), ("received_at", .string), ("endpoint", .string), ("provider", .string),
        ("kind", .string), ("event_id", .string), ("event_type", .nullableString), ("session_id", .nullableString),
        ("attempt_id", .nullableString), ("reference", .nullableString), ("end_user_id", .nullableString),
        ("metadata", .nullableObject), ("outcome", .string), ("final", .bool), ("needs_review", .bool),
        ("anomaly", .nullableString), ("provider_status", .nullableString), ("provider_code", .any),
        ("provider_reason", .nullableString), ("provider_reason_code", .any), ("decision_time", .nullableString),
        ("livemode", .nullableBool), ("payload", .object),
    ]

    /// The outcomes after which the provider sends nothing more for the session: the schema's rule for `final`.
    static let finalOutcomes: Set<Outcome> = [.approved, .declined, .expired, .abandoned, .canceled, .redacted]

    /// The record's `(endpoint, event_id)` and the UTC day of its `received_at` (`YYYY-MM-DD`, the day its file is
    /// named after) when `line` (without its `\n`) is a valid record; else the problem.
    public static func validate(
        _ line: [UInt8]
    ) -> Result<(endpoint: String, eventID: String, day: String), Problem> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)
        } catch {
            return .failure(Problem(describe(error)))
        }
        guard let object = value.objectValue else { return .failure(Problem("not a JSON object")) }
        // As Verdict writes a line: nothing around the object (a CRLF ending, a pasted space), no raw character a
        // line escapes.
        guard line.first == UInt8(ascii: "{"), line.last == UInt8(ascii: "}") else {
            return .failure(Problem("not as Verdict writes a line: whitespace before or after the object"))
        }
        if let raw = firstUnescaped(line) {
            return .failure(Problem("not as Verdict writes a line: a raw \(raw), which a line escapes"))
        }
        for member in object.members where !fields.contains(where: { $0.name == member.key }) {
            return .failure(Problem("unexpected field \(member.key)"))
        }
        for (name, type) in fields {
            guard let field = object[name] else { return .failure(Problem("missing field \(name)")) }
            guard matches(field, type) else { return .failure(Problem("field \(name) has the wrong type")) }
        }
        if let misplaced = zip(object.members, fields).first(where: { $0.0.key != $0.1.name }) {
            return .failure(Problem("field \(misplaced.0.key) is out of order (\(misplaced.1.name) comes there)"))
        }
        guard object["schema_version"]?.intValue == DecisionRecord.schemaVersion else {
            return .failure(Problem("schema_version is not \(DecisionRecord.schemaVersion)"))
        }
        // Every type is checked above, so these strings and booleans are present.
        let text = { (name: String) in object[name]?.stringValue ?? "" }
        let receivedAt = text("received_at")
        guard isTimestamp(receivedAt) else { return .failure(notTimestamp("received_at", receivedAt)) }
        let endpoint = text("endpoint")
        guard Configuration.isEndpointName(endpoint) else {
            return .failure(Problem("endpoint \(quoted(endpoint)) is not one or more letters, digits, '.', '_' or '-'"))
        }
        guard endpoint != Configuration.healthName else {
            return .failure(Problem("endpoint is \(quoted(endpoint)), the health check's name"))
        }
        let provider = text("provider")
        guard ProviderRegistry.factory(named: provider) != nil else {
            let known = ProviderRegistry.factories.map { $0.name }.joined(separator: ", ")
            return .failure(Problem("provider \(quoted(provider)) is not one of \(known)"))
        }
        guard let outcome = Outcome(rawValue: text("outcome")) else { return .failure(Problem("unknown outcome")) }
        guard let kind = RecordKind(rawValue: text("kind")) else { return .failure(Problem("unknown kind")) }
        let eventID = text("event_id")
        guard !eventID.isEmpty else { return .failure(Problem("empty event_id")) }
        let final = object["final"]?.boolValue == true
        guard final == finalOutcomes.contains(outcome) else {
            return .failure(Problem("final is \(final) for outcome \(outcome.rawValue)"))
        }
        let needsReview = object["needs_review"]?.boolValue == true
        // An approval is never in doubt: a disagreement is classified review, which always asks for a person.
        if outcome == .approved && needsReview {
            return .failure(Problem("needs_review is true for outcome approved"))
        }
        if outcome == .approved && kind != .decision {
            return .failure(Problem("kind is \(kind.rawValue) for outcome approved"))
        }
        if outcome == .review && !needsReview {
            return .failure(Problem("needs_review is false for outcome review"))
        }
        if let problem = providerProblem(provider, object) { return .failure(problem) }
        return .success((endpoint, eventID, String(receivedAt.prefix(10))))
    }

    /// The first character in `line` that Verdict always escapes (DEL, U+2028, U+2029), named; nil when none.
    static func firstUnescaped(_ line: [UInt8]) -> String? {
        for (index, byte) in line.enumerated() {
            if byte == 0x7F { return "DEL" }
            if byte == 0xE2, index + 2 < line.count, line[index + 1] == 0x80, line[index + 2] & 0xFE == 0xA8 {
                return line[index + 2] == 0xA8 ? "U+2028" : "U+2029"
            }
        }
        return nil
    }

    /// Why a line is not JSON, said of a line (the parser's messages speak to a webhook's sender, of its body).
    static func describe(_ error: JSONParseError) -> String {
        switch error {
        case .syntax(let offset, let expected): "not valid JSON: expected \(expected) at byte \(offset)"
        case .invalidUTF8(let offset): "not valid UTF-8 (byte \(offset))"
        case .nestingTooDeep(let limit): "not a record: nests deeper than \(limit) levels"
        case .numberTooLong(let limit): "not a record: holds a number longer than \(limit) characters"
        case .duplicateKey(let key): "not a record: repeats the key \(quoted(key))"
        }
    }

    /// The rules for fields only one provider fills, or fills in its own way.
    static func providerProblem(_ provider: String, _ object: JSONObject) -> Problem? {
        switch provider {
        case VeriffFactory.name:
            let eventID = object["event_id"]?.stringValue ?? ""
            if !isVeriffEventID(eventID) {
                return Problem("event_id \(quoted(eventID)) is not \"veriff-\" and 32 lowercase hex digits")
            }
            for name in ["metadata", "livemode"] where object[name]?.isNull != true {
                return Problem("\(name) is not null for provider \(provider)")
            }
        case StripeFactory.name:
            for name in ["attempt_id", "end_user_id"] where object[name]?.isNull != true {
                return Problem("\(name) is not null for provider \(provider)")
            }
            // Veriff's decisionTime is kept verbatim; Stripe's is Verdict's own rendering of the event's `created`.
            if let decisionTime = object["decision_time"]?.stringValue, !isTimestamp(decisionTime) {
                return notTimestamp("decision_time", decisionTime)
            }
            let data = object["payload"]?["data"]
            for holder in StripeEvent.credentialHolders {
                for name in StripeEvent.credentialKeys {
                    if let credential = data?[holder]?[name]?.stringValue, credential != StripeEvent.redactionMark {
                        return Problem("payload.data.\(holder).\(name) is not \"\(StripeEvent.redactionMark)\"")
                    }
                }
            }
        default:
            break
        }
        return nil
    }

    static func matches(_ value: JSONValue, _ type: FieldType) -> Bool {
        switch (type, value) {
        case (.any, _): true
        case (.string, .string), (.nullableString, .string), (.nullableString, .null): true
        case (.integer, .number(let text)): Int(text) != nil
        case (.bool, .bool), (.nullableBool, .bool), (.nullableBool, .null): true
        case (.object, .object), (.nullableObject, .object), (.nullableObject, .null): true
        default: false
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` with the schema's ranges: month 01-12, hour 00-23, minute and second 00-59, and a
    /// day that the month has (the schema's `date-time` format; its pattern alone allows February 30).
    static func isTimestamp(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 24 else { return false }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 4, 7: if byte != UInt8(ascii: "-") { return false }
            case 10: if byte != UInt8(ascii: "T") { return false }
            case 13, 16: if byte != UInt8(ascii: ":") { return false }
            case 19: if byte != UInt8(ascii: ".") { return false }
            case 23: if byte != UInt8(ascii: "Z") { return false }
            default: if byte < 0x30 || byte > 0x39 { return false }
            }
        }
        func twoDigits(at index: Int) -> Int { Int(bytes[index] - 0x30) * 10 + Int(bytes[index + 1] - 0x30) }
        let year = twoDigits(at: 0) * 100 + twoDigits(at: 2)
        let month = twoDigits(at: 5)
        guard (1...12).contains(month) else { return false }
        return (1...daysIn(month: month, year: year)).contains(twoDigits(at: 8)) && twoDigits(at: 11) <= 23
            && twoDigits(at: 14) <= 59 && twoDigits(at: 17) <= 59
    }

    /// The Gregorian calendar's month lengths (RFC 3339's `full-date`).
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `^veriff-[0-9a-f]{32}$`: how Veriff records are keyed (`"veriff-" + Digest.stableKey(…)`).
    static func isVeriffEventID(_ text: String) -> Bool {
        let prefix = "veriff-".utf8
        let key = text.utf8.dropFirst(prefix.count)
        return text.utf8.starts(with: prefix) && key.count == 32 && key.allSatisfy(Hex.digits.contains)
    }

    static func notTimestamp(_ name: String, _ text: String) -> Problem {
        Problem("\(name) \(quoted(text)) is not a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ")
    }

    /// `text` as a JSON string, cut short with `…`: problems are printed one per line, and a field may be long.
    static func quoted(_ text: String) -> String {
        var writer = JSONWriter(capacity: 72)
        writer.write(string: String(text.prefix(64)))
        return String(decoding: writer.bytes, as: UTF8.self) + (text.count > 64 ? "…" : "")
    }

    /// What is wrong with a line.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
