import Testing
import VerdictCore

/// The log line: field order, one line, escaping (contract "Log").
@Suite("Decision record line")
struct DecisionRecordTests {
    static let contractKeys = [
        "schema_version", "received_at", "endpoint", "provider", "kind", "event_id", "event_type", "session_id",
        "attempt_id", "reference", "end_user_id", "metadata", "outcome", "final", "needs_review", "anomaly",
        "provider_status", "provider_code", "provider_reason", "provider_reason_code", "decision_time", "livemode",
        "payload",
    ]

    /// An interpretation whose strings hold every character that could break a line.
    static func hostile() throws -> Interpretation {
        var interpretation = Interpretation(
            kind: .decision,
            eventID: "veriff-0123",
            outcome: .review,
            final: false,
            payload: try parseJSON(#"{"note":"line\nbreak \u2028 \u2029 \r \u0000","n":1e400}"#)
        )
        interpretation.eventType = "type\n"
        interpretation.sessionID = "session\r\n"
        interpretation.attemptID = "attempt\u{2028}"
        interpretation.reference = "ref\u{2029}\"quoted\""
        interpretation.endUserID = "user\u{0}\u{1F}"
        interpretation.metadata = try parseJSON(#"{"k":"v\nw"}"#)
        interpretation.needsReview = true
        interpretation.anomaly = "code 9102 contradicts status approved\n"
        interpretation.providerStatus = "approved"
        interpretation.providerCode = .number("9102")
        interpretation.providerReason = "Suspected\ndocument tampering"
        interpretation.providerReasonCode = .number("102")
        interpretation.decisionTime = "2019-11-06T07:18:36.916Z"
        interpretation.livemode = true
        return interpretation
    }

    @Test("The keys appear in the contract's order")
    func keyOrder() throws {
        let record = DecisionRecord(
            receivedAt: Timestamp(millisecondsSinceEpoch: 0),
            endpoint: "veriff",
            provider: "veriff",
            interpretation: try Self.hostile()
        )
        #expect(keys(of: try JSONParser.parse(record.jsonLine())) == Self.contractKeys)
    }

    @Test("Absent optional fields are written as null, still in order")
    func nulls() throws {
        let interpretation = Interpretation(
            kind: .event,
            eventID: "evt_1",
            outcome: .other,
            final: false,
            payload: .object(JSONObject())
        )
        let line = DecisionRecord(
            receivedAt: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000),
            endpoint: "stripe",
            provider: "stripe",
            interpretation: interpretation
        ).jsonLine()
        #expect(
            line.text
                == #"{"schema_version":1,"received_at":"2023-11-14T22:13:20.000Z","endpoint":"stripe","provider":"stripe","kind":"event","event_id":"evt_1","event_type":null,"session_id":null,"attempt_id":null,"reference":null,"end_user_id":null,"metadata":null,"outcome":"other","final":false,"needs_review":false,"anomaly":null,"provider_status":null,"provider_code":null,"provider_reason":null,"provider_reason_code":null,"decision_time":null,"livemode":null,"payload":{}}"#
                + "\n"
        )
    }

    @Test("The line has no raw line break or U+2028/U+2029 and ends with exactly one newline")
    func oneLine() throws {
        let line = DecisionRecord(
            receivedAt: Timestamp(millisecondsSinceEpoch: 1),
            endpoint: "veriff",
            provider: "veriff",
            interpretation: try Self.hostile()
        ).jsonLine()
        #expect(line.last == 0x0A)
        #expect(line.dropLast().last != 0x0A)
        #expect(!line.dropLast().contains(0x0A))
        #expect(!line.contains(0x0D))
        #expect(!line.contains { $0 < 0x20 && $0 != 0x0A })
        let text = line.text
        #expect(!text.contains("\u{2028}"))
        #expect(!text.contains("\u{2029}"))
        // Still a faithful encoding: parsing gives the original strings back.
        let parsed = try JSONParser.parse(line)
        #expect(parsed["session_id"] == .string("session\r\n"))
        #expect(parsed["reference"] == .string("ref\u{2029}\"quoted\""))
        #expect(parsed["end_user_id"] == .string("user\u{0}\u{1F}"))
        #expect(parsed["payload"] == (try Self.hostile()).payload)
    }

    @Test("Typed fields carry their JSON types")
    func types() throws {
        let parsed = try JSONParser.parse(
            DecisionRecord(
                receivedAt: Timestamp(millisecondsSinceEpoch: 1_573_024_716_916),
                endpoint: "veriff",
                provider: "veriff",
                interpretation: try Self.hostile()
            ).jsonLine()
        )
        #expect(parsed["schema_version"] == .number("1"))
        #expect(parsed["received_at"] == .string("2019-11-06T07:18:36.916Z"))
        #expect(parsed["kind"] == .string("decision"))
        #expect(parsed["outcome"] == .string("review"))
        #expect(parsed["final"] == .bool(false))
        #expect(parsed["needs_review"] == .bool(true))
        #expect(parsed["provider_code"] == .number("9102"))
        #expect(parsed["provider_reason_code"] == .number("102"))
        #expect(parsed["livemode"] == .bool(true))
        #expect(parsed["metadata"]?["k"] == .string("v\nw"))
        #expect(compact(try #require(parsed["payload"])).contains(#""n":1e400"#))
    }

    @Test("A pretty-printed Veriff body is logged as one compact payload")
    func prettyPayload() throws {
        let provider = VeriffProvider(secrets: [Secret(Keys.veriff)])
        let body = try Fixture.bytes("veriff-approved-pretty.json")
        let interpretation = try provider.interpret(try JSONParser.parse(body), body: body)
        let line = DecisionRecord(
            receivedAt: Timestamp(millisecondsSinceEpoch: 0),
            endpoint: "veriff",
            provider: "veriff",
            interpretation: interpretation
        ).jsonLine()
        let compactPayload = try Fixture.bytes("veriff-approved-compact.json").text
        #expect(line.text.hasSuffix(#","payload":"# + compactPayload + "}\n"))
        #expect(line.filter { $0 == 0x0A }.count == 1)
    }

    @Test("The Stripe record payload never holds the client_secret or url")
    func stripeRedactedInLine() throws {
        let body = Array(
            #"""
            {"id":"evt_9","object":"event","created":1700000000,"type":"identity.verification_session.created","data":{"object":{"id":"vs_9","object":"identity.verification_session","client_secret":"vs_9_secret_live_DoNotLog","status":"requires_input","last_error":null,"url":"https://verify.stripe.com/start/DoNotLog"}}}
            """#.utf8
        )
        let interpretation = try StripeProvider(secrets: [Secret(Keys.stripe)])
            .interpret(try JSONParser.parse(body), body: body)
        let line = DecisionRecord(
            receivedAt: Timestamp(millisecondsSinceEpoch: 0),
            endpoint: "stripe",
            provider: "stripe",
            interpretation: interpretation
        ).jsonLine().text
        #expect(!line.contains("DoNotLog"))
        #expect(line.contains(#""client_secret":"[redacted]""#))
        #expect(line.contains(#""url":"[redacted]""#))
    }
}
