import Testing
import VerdictCore

@Suite("RecordValidator")
struct RecordValidatorTests {
    /// A valid line from the handler, without its final newline.
    static func validLine() throws -> [UInt8] {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let request = Requests.make(
            path: "/webhooks/veriff",
            body: body,
            headers: ["X-HMAC-SIGNATURE": Sign.veriff(body)]
        )
        let accepted = try #require(try HandlerFixture.handler().handle(request, now: HandlerFixture.now).accepted)
        return Array(accepted.line.dropLast())
    }

    /// `line` with the JSON text of `field` replaced by `replacement`.
    static func replacing(_ field: String, with replacement: String, in line: [UInt8]) throws -> [UInt8] {
        var object = try #require(try JSONParser.parse(line).objectValue)
        object[field] = try parseJSON(replacement)
        return Array(compact(.object(object)).utf8)
    }

    static func problem(_ line: [UInt8]) -> String? {
        if case .failure(let problem) = RecordValidator.validate(line) { return problem.description }
        return nil
    }

    @Test("Every line the handler builds is valid and names its endpoint and event id")
    func handlerLines() throws {
        let handler = try HandlerFixture.handler()
        let cases: [(String, String, [String: String], Timestamp)] = [
            ("veriff-v5-declined.json", "/webhooks/veriff", [:], HandlerFixture.now),
            ("veriff-v4-event-submitted.json", "/webhooks/veriff-eu", [:], HandlerFixture.now),
            ("veriff-approved-pretty.json", "/webhooks/veriff", [:], HandlerFixture.now),
            (
                "stripe-s2-verified.json", "/webhooks/stripe", ["Stripe-Signature": StripeSignatureTests.s2Header],
                Timestamp(secondsSinceEpoch: 1_700_000_001)
            ),
        ]
        for (name, path, stripeHeaders, now) in cases {
            let body = try Fixture.bytes(name)
            let headers = stripeHeaders.isEmpty ? ["X-HMAC-SIGNATURE": Sign.veriff(body)] : stripeHeaders
            let accepted = try #require(
                handler.handle(Requests.make(path: path, body: body, headers: headers), now: now).accepted
            )
            guard case .success(let identity) = RecordValidator.validate(Array(accepted.line.dropLast())) else {
                Issue.record("\(name): \(Self.problem(Array(accepted.line.dropLast())) ?? "")")
                continue
            }
            #expect(identity.endpoint == accepted.record.endpoint)
            #expect(identity.eventID == accepted.record.interpretation.eventID)
        }
    }

    @Test(
        "Lines that break the record contract are refused",
        arguments: [
            ("final", "\"true\""), ("needs_review", "null"), ("schema_version", "2"), ("schema_version", "\"1\""),
            ("outcome", "\"approve\""), ("kind", "\"decisions\""), ("event_id", "\"\""), ("event_id", "null"),
            ("received_at", "\"2025-11-23T12:13:20Z\""), ("received_at", "\"2025-11-23 12:13:20.123Z\""),
            ("payload", "null"), ("payload", "[]"), ("metadata", "[]"), ("livemode", "\"false\""),
            ("session_id", "1"), ("endpoint", "null"),
        ]
    )
    func brokenField(_ field: String, _ replacement: String) throws {
        let line = try Self.replacing(field, with: replacement, in: try Self.validLine())
        #expect(Self.problem(line) != nil)
    }

    @Test(
        "Any JSON is allowed in provider_code and provider_reason_code",
        arguments: ["null", "\"x\"", "{}", "[1]", "1.5"]
    )
    func anyCodes(_ replacement: String) throws {
        var line = try Self.replacing("provider_code", with: replacement, in: try Self.validLine())
        line = try Self.replacing("provider_reason_code", with: replacement, in: line)
        #expect(Self.problem(line) == nil)
    }

    @Test("A missing field, an extra field, non-JSON and non-objects are refused")
    func structure() throws {
        let line = try Self.validLine()
        var object = try #require(try JSONParser.parse(line).objectValue)
        object["anomaly"] = nil
        #expect(Self.problem(Array(compact(.object(object)).utf8)) != nil)
        var extra = try #require(try JSONParser.parse(line).objectValue)
        extra["extra"] = .null
        #expect(Self.problem(Array(compact(.object(extra)).utf8)) != nil)
        #expect(Self.problem(Array(line.dropLast())) != nil)
        #expect(Self.problem(Array("[]".utf8)) != nil)
        #expect(Self.problem([]) != nil)
    }
}
