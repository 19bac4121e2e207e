public import VerdictCore

/// Stops the run when `condition` is false; libFuzzer saves the input and prints `message`.
public func require(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() { fatalError("fuzz invariant failed: \(message())", file: file, line: line) }
}

/// The test keys of the reference vectors (shared/reference/veriff-and-stripe.md), not real credentials.
public enum FuzzKeys {
    public static let veriff = "abcdef12-abcd-abcd-abcd-abcdef012345"
    public static let stripe = "whsec_test_secret"
    public static let authClient = "my-api-key"
}

/// The record fields in contract order (README, `Config/verdict-record.schema.json`).
public let recordFields = [
    "schema_version", "received_at", "endpoint", "provider", "kind", "event_id", "event_type", "session_id",
    "attempt_id", "reference", "end_user_id", "metadata", "outcome", "final", "needs_review", "anomaly",
    "provider_status", "provider_code", "provider_reason", "provider_reason_code", "decision_time", "livemode",
    "payload",
]

/// Every status `WebhookHandler` may answer with.
public let allowedStatuses: Set<Int> = [200, 400, 401, 404, 405, 411, 413, 503]

/// A log line built from an accepted payload: valid UTF-8, one `\n` and only at the end, JSON that re-parses with
/// `JSONParser` (allowing `DecisionRecord.maxDepth`), the contract's fields in order, accepted by
/// `RecordValidator`, and carrying `record` unchanged.
public func checkRecordLine(_ line: [UInt8], of record: DecisionRecord) {
    require(String(validating: line, as: UTF8.self) != nil, "record line is not valid UTF-8")
    require(line.last == 0x0A, "record line does not end with \\n")
    require(line.lazy.filter { $0 == 0x0A }.count == 1, "record line holds a \\n before its end")
    let parsed: JSONValue
    do {
        // One level deeper than a body may nest: the payload sits inside the record.
        parsed = try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)
    } catch {
        fatalError("fuzz invariant failed: record line does not re-parse: \(error.message)")
    }
    let keys = parsed.objectValue?.members.map(\.key) ?? []
    require(keys == recordFields, "record fields are \(keys)")
    switch RecordValidator.validate(Array(line.dropLast())) {
    case .success(let identity):
        require(identity.endpoint == record.endpoint, "validator read endpoint \(identity.endpoint)")
        require(identity.eventID == record.interpretation.eventID, "validator read event_id \(identity.eventID)")
    case .failure(let problem):
        fatalError("fuzz invariant failed: RecordValidator refuses the line: \(problem)")
    }
    let i = record.interpretation
    require(parsed["payload"] == i.payload, "payload does not survive the line")
    require(parsed["metadata"] == (i.metadata ?? .null), "metadata does not survive the line")
    require(parsed["provider_code"] == (i.providerCode ?? .null), "provider_code does not survive the line")
    require(
        parsed["provider_reason_code"] == (i.providerReasonCode ?? .null),
        "provider_reason_code does not survive the line"
    )
    let strings: [(String, String?)] = [
        ("event_id", i.eventID), ("event_type", i.eventType), ("session_id", i.sessionID),
        ("attempt_id", i.attemptID), ("reference", i.reference), ("end_user_id", i.endUserID),
        ("anomaly", i.anomaly), ("provider_status", i.providerStatus), ("provider_reason", i.providerReason),
        ("decision_time", i.decisionTime),
    ]
    for (name, value) in strings {
        require(parsed[name] == (value.map(JSONValue.string) ?? .null), "\(name) does not survive the line")
    }
}

/// Classification rules from the contract that hold for any payload.
public func checkInterpretation(_ i: Interpretation, provider: String) {
    require(!i.eventID.isEmpty, "empty event id")
    if i.outcome == .approved {
        require(i.final && !i.needsReview && i.anomaly == nil, "approved but final/needs_review/anomaly disagree")
        require(i.kind == .decision, "approved event of kind \(i.kind)")
    }
    if i.outcome == .review { require(i.needsReview, "review without needs_review") }
    switch provider {
    case "veriff":
        require(i.eventID.hasPrefix("veriff-"), "Veriff event id \(i.eventID)")
        if i.outcome == .approved {
            require(i.providerStatus == "approved", "Veriff approved with status \(i.providerStatus ?? "nil")")
            require(i.providerCode?.intValue == 9001, "Veriff approved without code 9001")
        }
    case "stripe":
        if i.outcome == .approved {
            require(
                i.eventType == "identity.verification_session.verified" && i.providerStatus == "verified",
                "Stripe approved for type \(i.eventType ?? "nil") status \(i.providerStatus ?? "nil")"
            )
        }
        // data.object.client_secret and url never reach the log.
        if let session = i.payload["data"]?["object"] {
            for key in ["client_secret", "url"] {
                if let text = session[key]?.stringValue {
                    require(text == "[redacted]", "Stripe data.object.\(key) is logged")
                }
            }
        }
    default:
        break
    }
}

/// A response: an allowed status, a `\n`-terminated JSON object body (`{"error","message"}` for refusals), and
/// the headers the contract requires for 405 and 503.
public func checkResponse(_ response: HTTPResponse) {
    require(allowedStatuses.contains(response.status), "status \(response.status)")
    require(response.body.last == 0x0A, "response body does not end with \\n")
    let body: JSONValue
    do {
        body = try JSONParser.parse(response.body)
    } catch {
        fatalError("fuzz invariant failed: response body is not JSON: \(error.message)")
    }
    let keys = body.objectValue?.members.map(\.key) ?? []
    if response.status == 200 {
        require(body["status"]?.stringValue != nil, "200 without status")
    } else {
        require(keys == ["error", "message"], "refusal body keys \(keys)")
        require(body["error"]?.stringValue?.isEmpty == false, "refusal without error code")
        require(body["message"]?.stringValue?.isEmpty == false, "refusal without message")
    }
    let names = response.headers.map(\.name)
    if response.status == 405 { require(names.contains("Allow"), "405 without Allow") }
    if response.status == 503 { require(names.contains("Retry-After"), "503 without Retry-After") }
    for header in response.headers {
        let text = header.name + header.value
        require(!text.utf8.contains(0x0A) && !text.utf8.contains(0x0D), "header \(header.name) holds a line break")
    }
}

/// A refusal as the handler would send it.
public func checkRejection(_ rejection: Rejection) {
    let response = HTTPResponse(rejection: rejection)
    require(response.status != 200, "rejection \(rejection) answered 200")
    checkResponse(response)
}
