import Testing
import VerdictCore

/// How Veriff decision and event payloads become outcomes (contract "Classification").
@Suite("Veriff classification")
struct VeriffClassificationTests {
    static let provider = VeriffProvider(secrets: [Secret(Keys.veriff)])

    static func interpret(_ payload: JSONValue) throws(Rejection) -> Interpretation {
        try provider.interpret(payload, body: Array(compact(payload).utf8))
    }

    static func interpret(_ text: String) throws -> Interpretation {
        try interpret(parseJSON(text))
    }

    /// A minimal decision with `status` and, when given, `code` (raw JSON text).
    static func decision(status: String, code: String?) -> String {
        let codeMember = code.map { #","code":\#($0)"# } ?? ""
        return #"""
            {"status":"success","verification":{"id":"12df6045-3846-3e45-946a-14fa6136d78b","attemptId":"00bca969-b53a-4fad-b065-874d41a7b2b8","status":"\#(status)"\#(codeMember),"decisionTime":"2019-11-06T07:18:36.916Z"}}
            """#
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var status: String
        var code: String?
        var outcome: Outcome
        var final: Bool
        var needsReview: Bool
        var anomaly: Bool
        var testDescription: String { "\(status)/\(code ?? "no code") -> \(outcome.rawValue)" }
    }

    static let table: [Row] = [
        // The documented pairs.
        Row(status: "approved", code: "9001", outcome: .approved, final: true, needsReview: false, anomaly: false),
        Row(status: "declined", code: "9102", outcome: .declined, final: true, needsReview: false, anomaly: false),
        Row(
            status: "resubmission_requested",
            code: "9103",
            outcome: .resubmissionRequested,
            final: false,
            needsReview: false,
            anomaly: false
        ),
        Row(status: "expired", code: "9104", outcome: .expired, final: true, needsReview: false, anomaly: false),
        Row(status: "abandoned", code: "9104", outcome: .abandoned, final: true, needsReview: false, anomaly: false),
        Row(status: "abandoned", code: "9121", outcome: .abandoned, final: true, needsReview: false, anomaly: false),
        Row(status: "review", code: "9121", outcome: .review, final: false, needsReview: true, anomaly: false),
        // Approval needs its confirming code: a missing or null one makes it a review with an anomaly.
        Row(status: "approved", code: nil, outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(status: "approved", code: "null", outcome: .review, final: false, needsReview: true, anomaly: true),
        // Other statuses are classified on the string alone: a missing or null code is not a contradiction.
        Row(status: "declined", code: nil, outcome: .declined, final: true, needsReview: false, anomaly: false),
        Row(status: "declined", code: "null", outcome: .declined, final: true, needsReview: false, anomaly: false),
        Row(
            status: "resubmission_requested",
            code: nil,
            outcome: .resubmissionRequested,
            final: false,
            needsReview: false,
            anomaly: false
        ),
        Row(status: "abandoned", code: "null", outcome: .abandoned, final: true, needsReview: false, anomaly: false),
        Row(status: "expired", code: nil, outcome: .expired, final: true, needsReview: false, anomaly: false),
        Row(status: "review", code: nil, outcome: .review, final: false, needsReview: true, anomaly: false),
        // Codes that contradict the status: review, not final, needs review, anomaly.
        Row(status: "approved", code: "9102", outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(status: "approved", code: "9121", outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(status: "approved", code: "9104", outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(status: "approved", code: "\"9001\"", outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(status: "declined", code: "9001", outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(status: "expired", code: "9121", outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(status: "review", code: "9001", outcome: .review, final: false, needsReview: true, anomaly: true),
        Row(
            status: "resubmission_requested",
            code: "9001",
            outcome: .review,
            final: false,
            needsReview: true,
            anomaly: true
        ),
        // Unknown statuses: other, needs review; never approved even with the approval code.
        Row(status: "suspected", code: "9001", outcome: .other, final: false, needsReview: true, anomaly: true),
        Row(status: "Approved", code: "9001", outcome: .other, final: false, needsReview: true, anomaly: true),
        Row(status: "created", code: nil, outcome: .other, final: false, needsReview: true, anomaly: true),
        Row(status: "", code: "9001", outcome: .other, final: false, needsReview: true, anomaly: true),
    ]

    @Test("Decision status and code", arguments: table)
    func decisionTable(_ row: Row) throws {
        let record = try Self.interpret(Self.decision(status: row.status, code: row.code))
        #expect(record.kind == .decision)
        #expect(record.outcome == row.outcome)
        #expect(record.final == row.final)
        #expect(record.needsReview == row.needsReview)
        #expect((record.anomaly != nil) == row.anomaly)
        #expect(record.providerStatus == row.status)
    }

    @Test("Every Outcome the table uses keeps its contract spelling")
    func outcomeSpelling() {
        #expect(
            Outcome.allCases.map(\.rawValue) == [
                "approved", "declined", "resubmission_requested", "review", "expired", "abandoned", "in_progress",
                "canceled", "redacted", "other",
            ]
        )
    }

    @Test("An anomaly names the contradicting code and the status")
    func anomalyText() throws {
        let record = try Self.interpret(Self.decision(status: "approved", code: "9102"))
        let anomaly = try #require(record.anomaly)
        #expect(anomaly.contains("9102"))
        #expect(anomaly.contains("approved"))
    }

    @Test(
        "An approved decision without a code is a review that keeps Veriff's status",
        arguments: [(nil, "missing"), ("null", "null")] as [(String?, String)]
    )
    func approvedWithoutCode(_ code: String?, _ word: String) throws {
        let record = try Self.interpret(Self.decision(status: "approved", code: code))
        #expect(record.outcome == .review)
        #expect(!record.final)
        #expect(record.needsReview)
        #expect(record.anomaly == "code is \(word) for status approved")
        #expect(record.providerStatus == "approved")
        #expect(record.providerCode == nil)
    }

    @Test("An approved decision with code 9001 is still approved, with no anomaly")
    func approvedWithCode() throws {
        let record = try Self.interpret(Self.decision(status: "approved", code: "9001"))
        #expect(record.outcome == .approved)
        #expect(record.final)
        #expect(!record.needsReview)
        #expect(record.anomaly == nil)
        #expect(record.providerStatus == "approved")
        #expect(record.providerCode == .number("9001"))
    }

    @Test("V-5: code, reason and reasonCode are kept verbatim, with the correlation fields")
    func v5Verbatim() throws {
        let record = try Self.interpret(try Fixture.json("veriff-v5-declined.json"))
        #expect(record.outcome == .declined)
        #expect(record.providerStatus == "declined")
        #expect(record.providerCode == .number("9102"))
        #expect(record.providerReason == "Suspected document tampering")
        #expect(record.providerReasonCode == .number("102"))
        #expect(record.decisionTime == "2019-11-06T07:18:36.916Z")
        #expect(record.sessionID == "12df6045-3846-3e45-946a-14fa6136d78b")
        #expect(record.attemptID == "00bca969-b53a-4fad-b065-874d41a7b2b8")
        #expect(record.reference == "12345678")
        #expect(record.endUserID == nil)
        #expect(record.eventType == nil)
        #expect(record.metadata == nil)
        #expect(record.livemode == nil)
        #expect(record.payload == (try Fixture.json("veriff-v5-declined.json")))
    }

    @Test("Unknown reason codes and free-text reasons are kept as sent")
    func unknownReasonCode() throws {
        let record = try Self.interpret(
            #"""
            {"verification":{"id":"s","status":"resubmission_requested","code":9103,"reason":"Document Front Photo T…","reasonCode":210}}
            """#
        )
        #expect(record.outcome == .resubmissionRequested)
        #expect(record.providerReason == "Document Front Photo T…")
        #expect(record.providerReasonCode == .number("210"))
        #expect(record.providerCode == .number("9103"))
    }

    @Test("A null reasonCode and reason are recorded as null")
    func nullReason() throws {
        let record = try Self.interpret(try Fixture.json("veriff-approved-pretty.json"))
        #expect(record.outcome == .approved)
        #expect(record.final)
        #expect(record.providerReason == nil)
        #expect(record.providerReasonCode == nil)
        #expect(record.reference == "12345678")
    }

    @Test("The sparse approved sample keeps its microsecond decisionTime verbatim")
    func sparseSample() throws {
        let record = try Self.interpret(try Fixture.json("veriff-approved-sparse.json"))
        #expect(record.outcome == .approved)
        #expect(record.decisionTime == "2024-09-06T21:11:48.476108Z")
        #expect(record.sessionID == "c30b78d5-5d88-44cf-b18d-82b3d84aa614")
        #expect(record.attemptID == nil)
        #expect(record.reference == "0000000")
    }

    // MARK: Events

    @Test(
        "Event webhooks are in_progress events",
        arguments: [
            ("7001", "started"), ("7002", "submitted"), ("7007", "waiting_complete"), ("7999", "something_new"),
        ]
    )
    func events(_ code: String, _ action: String) throws {
        let record = try Self.interpret(
            #"""
            {"id":"f04bdb47-d3be-4b28-b028-a652feb060b5","attemptId":"e30122d1-740b-4764-853f-470374a7abf4","feature":"selfid","code":\#(code),"action":"\#(action)","vendorData":"QWE123","endUserId":"a1b2c35d-e8f7-6d5e-3cd2-a1b2c35db3d4"}
            """#
        )
        #expect(record.kind == .event)
        #expect(record.outcome == .inProgress)
        #expect(!record.final)
        #expect(!record.needsReview)
        #expect(record.eventType == action)
        #expect(record.providerStatus == action)
        #expect(record.providerCode == .number(code))
        #expect(record.sessionID == "f04bdb47-d3be-4b28-b028-a652feb060b5")
        #expect(record.attemptID == "e30122d1-740b-4764-853f-470374a7abf4")
        #expect(record.reference == "QWE123")
        #expect(record.endUserID == "a1b2c35d-e8f7-6d5e-3cd2-a1b2c35db3d4")
    }

    @Test("V-4 and the 7007 sample fixtures are in_progress events")
    func eventFixtures() throws {
        for name in ["veriff-v4-event-submitted.json", "veriff-event-7007-pretty.json"] {
            let record = try Self.interpret(try Fixture.json(name))
            #expect(record.kind == .event, "\(name)")
            #expect(record.outcome == .inProgress, "\(name)")
            #expect(!record.final, "\(name)")
        }
    }

    @Test("A signed JSON object that is neither a decision nor an event is kept as other")
    func neitherDecisionNorEvent() throws {
        let record = try Self.interpret(#"{"id":"abc","feature":"selfid"}"#)
        #expect(record.outcome == .other)
        #expect(record.kind == .event)
        #expect(record.sessionID == "abc")
        #expect(record.anomaly != nil)
        #expect(record.eventID.hasPrefix("veriff-"))
    }

    @Test(
        "Payloads missing required fields are unexpected_payload",
        arguments: [
            "[]",
            "\"text\"",
            "42",
            "null",
            #"{"verification":"approved"}"#,
            #"{"verification":{"status":"approved","code":9001}}"#,
            #"{"verification":{"id":"","status":"approved"}}"#,
            #"{"verification":{"id":42,"status":"approved"}}"#,
            #"{"verification":{"id":"s"}}"#,
            #"{"verification":{"id":"s","status":null}}"#,
            #"{"verification":{"id":"s","status":9001}}"#,
            #"{"action":"submitted","code":7002}"#,
            #"{"id":"","action":"submitted"}"#,
            #"{"id":"s","action":7002}"#,
        ]
    )
    func unexpectedPayload(_ text: String) throws {
        let payload = try parseJSON(text)
        let rejection = #expect(throws: Rejection.self) { try Self.interpret(payload) }
        guard case .unexpectedPayload? = rejection else {
            Issue.record("expected unexpected_payload, got \(String(describing: rejection))")
            return
        }
        #expect(rejection?.code == "unexpected_payload")
        #expect(rejection?.status == 400)
    }

    @Test("A signed response whose verification is null is kept as other for a person, not refused")
    func nullVerificationIsKept() throws {
        let payload = try parseJSON(#"{"status":"fail","verification":null}"#)
        let record = try Self.interpret(payload)
        #expect(record.outcome == .other)
        #expect(record.kind == .decision)
        #expect(!record.final)
        #expect(record.needsReview)
        #expect(record.providerStatus == "fail")
        #expect(record.anomaly?.contains("null") == true)
        #expect(record.eventID.hasPrefix("veriff-"))
    }
}
