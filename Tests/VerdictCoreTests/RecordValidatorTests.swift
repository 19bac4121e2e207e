import Foundation
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

    /// A valid Stripe line from the handler, for a session whose `client_secret` and `url` were redacted.
    static func validStripeLine() throws -> [UInt8] {
        let body = Array(
            (#"{"id":"evt_1RecordValidator","object":"event","created":1763899990,"data":{"object":{"id":"vs_1","#
                + #""object":"identity.verification_session","client_reference_id":"user_42","#
                + #""client_secret":"vs_1_secret_abc","last_error":null,"livemode":false,"#
                + #""metadata":{"user_id":"42"},"status":"verified","type":"document","#
                + #""url":"https://verify.stripe.com/start/abc"}},"livemode":false,"#
                + #""type":"identity.verification_session.verified"}"#).utf8
        )
        let request = Requests.make(
            path: "/webhooks/stripe",
            body: body,
            headers: ["Stripe-Signature": Sign.stripe(body, timestamp: HandlerFixture.now.secondsSinceEpoch)]
        )
        let accepted = try #require(try HandlerFixture.handler().handle(request, now: HandlerFixture.now).accepted)
        let line = Array(accepted.line.dropLast())
        let session = try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)["payload"]?["data"]?["object"]
        try #require(session?["client_secret"] == .string("[redacted]") && session?["url"] == .string("[redacted]"))
        return line
    }

    /// The valid line of `provider` (`veriff` or `stripe`): a declined Veriff decision, an approved Stripe session.
    static func baseline(_ provider: String) throws -> [UInt8] {
        provider == "stripe" ? try validStripeLine() : try validLine()
    }

    /// `line` with the JSON text at `path` (member names joined by `.`) replaced by `replacement`.
    static func replacing(_ path: String, with replacement: String, in line: [UInt8]) throws -> [UInt8] {
        let record = try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)
        let names = path.split(separator: ".").map(String.init)
        return Array(compact(try setting(names[...], to: try parseJSON(replacement), in: record)).utf8)
    }

    static func setting(_ names: ArraySlice<String>, to newValue: JSONValue, in value: JSONValue) throws -> JSONValue {
        guard let name = names.first else { return newValue }
        var object = try #require(value.objectValue, "no object to hold \(name)")
        object[name] = try setting(names.dropFirst(), to: newValue, in: object[name] ?? .null)
        return .object(object)
    }

    /// `line` with every `(path, JSON text)` of `changes` applied.
    static func replacing(_ changes: [(String, String)], in line: [UInt8]) throws -> [UInt8] {
        try changes.reduce(line) { line, change in try replacing(change.0, with: change.1, in: line) }
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
            #expect(identity.day == accepted.record.receivedAt.utcDay)
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

    @Test("A line not as Verdict writes one is refused: around the object, raw characters, field order")
    func notAsWritten() throws {
        let line = try Self.validLine()
        #expect(Self.problem(line + [0x0D]) == "not as Verdict writes a line: whitespace before or after the object")
        #expect(Self.problem([0x20] + line) == "not as Verdict writes a line: whitespace before or after the object")
        let note = try Self.replacing("payload.note", with: #""a\u2028b""#, in: line)
        #expect(Self.problem(note) == nil)
        let raw = Array(
            String(decoding: note, as: UTF8.self).replacingOccurrences(of: "\\u2028", with: "\u{2028}").utf8
        )
        #expect(raw != note)
        #expect(Self.problem(raw) == "not as Verdict writes a line: a raw U+2028, which a line escapes")
        var object = try #require(try JSONParser.parse(line).objectValue)
        let receivedAt = try #require(object["received_at"])
        object["received_at"] = nil
        object["received_at"] = receivedAt
        #expect(
            Self.problem(Array(compact(.object(object)).utf8))
                == "field endpoint is out of order (received_at comes there)"
        )
    }

    @Test("The baseline line of each provider is valid", arguments: ["veriff", "stripe"])
    func baselines(_ provider: String) throws {
        let line = try Self.baseline(provider)
        #expect(Self.problem(line) == nil)
        #expect(try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)["provider"] == .string(provider))
    }

    /// A baseline line with some fields replaced, and the problem the validator must report for it (nil: none).
    struct Mutation: Sendable, CustomTestStringConvertible {
        var provider: String
        var changes: [(String, String)]
        var problem: String?
        var testDescription: String { "\(provider): \(changes.map { "\($0.0)=\($0.1)" }.joined(separator: ", "))" }

        init(_ provider: String, _ changes: [(String, String)], _ problem: String? = nil) {
            self.provider = provider
            self.changes = changes
            self.problem = problem
        }
    }

    static let timestampProblem = "is not a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"
    static let endpointProblem = "is not one or more letters, digits, '.', '_' or '-'"
    static let veriffKeyProblem = "is not \"veriff-\" and 32 lowercase hex digits"

    /// `field` set to the string `value`, which is no UTC time of the record's format.
    static func badTime(_ provider: String, _ field: String, _ value: String) -> Mutation {
        Mutation(provider, [(field, "\"\(value)\"")], "\(field) \"\(value)\" \(timestampProblem)")
    }

    /// A Veriff record whose `event_id` is the string `value`, which is no Veriff key.
    static func badVeriffKey(_ value: String) -> Mutation {
        Mutation("veriff", [("event_id", "\"\(value)\"")], "event_id \"\(value)\" \(veriffKeyProblem)")
    }

    @Test(
        "Each rule of the schema refuses a line that breaks it, naming the field",
        arguments: [
            Mutation("veriff", [("provider", #""onfido""#)], #"provider "onfido" is not one of veriff, stripe"#),
            Mutation("stripe", [("provider", #""Stripe""#)], #"provider "Stripe" is not one of veriff, stripe"#),
            Mutation("veriff", [("endpoint", #""veriff/eu""#)], #"endpoint "veriff/eu" \#(endpointProblem)"#),
            Mutation("veriff", [("endpoint", #""veriff eu""#)], #"endpoint "veriff eu" \#(endpointProblem)"#),
            Mutation("stripe", [("endpoint", #""""#)], #"endpoint "" \#(endpointProblem)"#),
            // Values are quoted as JSON and cut short: verify-log prints one problem per line.
            Mutation("veriff", [("endpoint", #""a\nb""#)], #"endpoint "a\nb" \#(endpointProblem)"#),
            Mutation(
                "veriff",
                [("endpoint", "\"\(String(repeating: "x", count: 70))/\"")],
                "endpoint \"\(String(repeating: "x", count: 64))\"… \(endpointProblem)"
            ),
            Mutation("veriff", [("endpoint", #""healthz""#)], #"endpoint is "healthz", the health check's name"#),
            badTime("veriff", "received_at", "2025-00-23T12:13:20.123Z"),
            badTime("veriff", "received_at", "2025-13-23T12:13:20.123Z"),
            badTime("veriff", "received_at", "2025-11-00T12:13:20.123Z"),
            badTime("veriff", "received_at", "2025-11-32T12:13:20.123Z"),
            // The schema's date-time format: a day the month has (its pattern alone allows these).
            badTime("veriff", "received_at", "2026-02-30T12:13:20.123Z"),
            badTime("veriff", "received_at", "2025-02-29T12:13:20.123Z"),
            badTime("veriff", "received_at", "1900-02-29T12:13:20.123Z"),
            badTime("stripe", "received_at", "2025-04-31T12:13:20.123Z"),
            badTime("stripe", "decision_time", "2025-11-31T12:13:10.000Z"),
            badTime("stripe", "received_at", "2025-11-23T24:13:20.123Z"),
            badTime("stripe", "received_at", "2025-11-23T12:60:20.123Z"),
            badTime("stripe", "received_at", "2025-11-23T12:13:60.123Z"),
            badTime("veriff", "received_at", "2025-11-23T12:13:20Z"),
            Mutation("veriff", [("final", "false")], "final is false for outcome declined"),
            Mutation("veriff", [("outcome", #""in_progress""#)], "final is true for outcome in_progress"),
            Mutation("stripe", [("needs_review", "true")], "needs_review is true for outcome approved"),
            Mutation("stripe", [("kind", #""event""#)], "kind is event for outcome approved"),
            Mutation(
                "veriff",
                [("outcome", #""review""#), ("final", "false")],
                "needs_review is false for outcome review"
            ),
            badVeriffKey("evt_1"),
            badVeriffKey("veriff-0123456789abcdef0123456789abcde"),
            badVeriffKey("veriff-0123456789abcdef0123456789abcdef0"),
            badVeriffKey("veriff-0123456789ABCDEF0123456789abcdef"),
            badVeriffKey("Veriff-0123456789abcdef0123456789abcdef"),
            Mutation("veriff", [("metadata", "{}")], "metadata is not null for provider veriff"),
            Mutation("veriff", [("livemode", "false")], "livemode is not null for provider veriff"),
            Mutation("stripe", [("attempt_id", #""a""#)], "attempt_id is not null for provider stripe"),
            Mutation("stripe", [("end_user_id", #""u""#)], "end_user_id is not null for provider stripe"),
            badTime("stripe", "decision_time", "2025-11-23T12:13:10Z"),
            badTime("stripe", "decision_time", "2025-11-31T25:13:10.000Z"),
            Mutation(
                "stripe",
                [("payload.data.object.client_secret", #""vs_1_secret_abc""#)],
                #"payload.data.object.client_secret is not "[redacted]""#
            ),
            Mutation(
                "stripe",
                [("payload.data.object.url", #""https://verify.stripe.com/start/abc""#)],
                #"payload.data.object.url is not "[redacted]""#
            ),
            Mutation(
                "stripe",
                [("payload.data.previous_attributes", #"{"url":"https://verify.stripe.com/start/old"}"#)],
                #"payload.data.previous_attributes.url is not "[redacted]""#
            ),
        ]
    )
    func brokenRule(_ broken: Mutation) throws {
        let line = try Self.replacing(broken.changes, in: try Self.baseline(broken.provider))
        #expect(Self.problem(line) == broken.problem)
    }

    @Test(
        "What the schema allows at the edges of its rules is valid",
        arguments: [
            Mutation("veriff", [("endpoint", #""a.b_c-D9""#)]),
            Mutation("veriff", [("received_at", #""2025-12-31T23:59:59.999Z""#)]),
            Mutation("stripe", [("received_at", #""2026-01-01T00:00:00.000Z""#)]),
            Mutation("veriff", [("received_at", #""2024-02-29T12:00:00.000Z""#)]),
            Mutation("stripe", [("received_at", #""2000-02-29T12:00:00.000Z""#)]),
            Mutation("stripe", [("decision_time", #""2025-04-30T12:00:00.000Z""#)]),
            Mutation("veriff", [("outcome", #""review""#), ("final", "false"), ("needs_review", "true")]),
            Mutation("veriff", [("outcome", #""in_progress""#), ("final", "false"), ("kind", #""event""#)]),
            // Veriff's decisionTime is kept verbatim, whatever its form.
            Mutation("veriff", [("decision_time", #""2019-11-06T07:18:36+00:00""#)]),
            Mutation("stripe", [("decision_time", "null")]),
            // Only credentials sent as text are redacted: anything else is not a credential.
            Mutation("stripe", [("payload.data.object.client_secret", "null"), ("payload.data.object.url", "5")]),
            Mutation("stripe", [("payload.data.object.client_secret", #"{"a":"b"}"#)]),
            Mutation("stripe", [("payload.data.object", #""vs_1_secret_abc""#)]),
            Mutation("stripe", [("payload.data", "[]")]),
            Mutation("stripe", [("livemode", "null"), ("metadata", "null")]),
        ]
    )
    func allowedEdge(_ allowed: Mutation) throws {
        let line = try Self.replacing(allowed.changes, in: try Self.baseline(allowed.provider))
        #expect(Self.problem(line) == allowed.problem)
    }

    @Test(
        "final is true exactly for approved, declined, expired, abandoned, canceled and redacted",
        arguments: Outcome.allCases
    )
    func finalFollowsOutcome(_ outcome: Outcome) throws {
        let final: Set<Outcome> = [.approved, .declined, .expired, .abandoned, .canceled, .redacted]
        let changes = [
            ("outcome", "\"\(outcome.rawValue)\""), ("needs_review", "\(outcome == .review)"),
            ("final", "\(final.contains(outcome))"),
        ]
        let line = try Self.replacing(changes, in: try Self.validLine())
        #expect(Self.problem(line) == nil)
        let flipped = try Self.replacing("final", with: "\(!final.contains(outcome))", in: line)
        #expect(Self.problem(flipped) == "final is \(!final.contains(outcome)) for outcome \(outcome.rawValue)")
    }
}
