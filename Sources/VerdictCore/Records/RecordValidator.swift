/// Checks one log line against the record contract (the same rules as `Config/verdict-record.schema.json`).
public enum RecordValidator {
    enum FieldType {
        case string, nullableString, integer, bool, nullableBool, object, nullableObject, any, timestamp,
            nullableTimestamp
    }

    static let fields: [(name: String, type: FieldType)] = [
        ("schema_version", .integer), ("received_at", .timestamp), ("endpoint", .string), ("provider", .string),
        ("kind", .string), ("event_id", .string), ("event_type", .nullableString), ("session_id", .nullableString),
        ("attempt_id", .nullableString), ("reference", .nullableString), ("end_user_id", .nullableString),
        ("metadata", .nullableObject), ("outcome", .string), ("final", .bool), ("needs_review", .bool),
        ("anomaly", .nullableString), ("provider_status", .nullableString), ("provider_code", .any),
        ("provider_reason", .nullableString), ("provider_reason_code", .any), ("decision_time", .nullableString),
        ("livemode", .nullableBool), ("payload", .object),
    ]

    /// The record's `(endpoint, event_id)` when `line` (without its `\n`) is a valid record; else the problem.
    public static func validate(_ line: [UInt8]) -> Result<(endpoint: String, eventID: String), Problem> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)
        } catch {
            return .failure(Problem("not valid JSON: \(error.message)"))
        }
        guard let object = value.objectValue else { return .failure(Problem("not a JSON object")) }
        for member in object.members where !fields.contains(where: { $0.name == member.key }) {
            return .failure(Problem("unexpected field \(member.key)"))
        }
        for (name, type) in fields {
            guard let field = object[name] else { return .failure(Problem("missing field \(name)")) }
            guard matches(field, type) else { return .failure(Problem("field \(name) has the wrong type")) }
        }
        guard object["schema_version"]?.intValue == DecisionRecord.schemaVersion else {
            return .failure(Problem("schema_version is not \(DecisionRecord.schemaVersion)"))
        }
        guard let outcome = object["outcome"]?.stringValue, Outcome(rawValue: outcome) != nil else {
            return .failure(Problem("unknown outcome"))
        }
        guard let kind = object["kind"]?.stringValue, RecordKind(rawValue: kind) != nil else {
            return .failure(Problem("unknown kind"))
        }
        let endpoint = object["endpoint"]?.stringValue ?? ""
        let eventID = object["event_id"]?.stringValue ?? ""
        guard !eventID.isEmpty else { return .failure(Problem("empty event_id")) }
        return .success((endpoint, eventID))
    }

    static func matches(_ value: JSONValue, _ type: FieldType) -> Bool {
        switch (type, value) {
        case (.any, _): true
        case (.string, .string), (.nullableString, .string), (.nullableString, .null): true
        case (.integer, .number(let text)): Int(text) != nil
        case (.bool, .bool), (.nullableBool, .bool), (.nullableBool, .null): true
        case (.object, .object), (.nullableObject, .object), (.nullableObject, .null): true
        case (.timestamp, .string(let text)), (.nullableTimestamp, .string(let text)): isTimestamp(text)
        case (.nullableTimestamp, .null): true
        default: false
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
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
        return true
    }

    /// What is wrong with a line.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
