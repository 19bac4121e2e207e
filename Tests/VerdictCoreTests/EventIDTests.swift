import Testing
import VerdictCore

/// Event ids and redelivery keys: what makes a second delivery a duplicate.
@Suite("Event ids")
struct EventIDTests {
    static let veriff = VeriffProvider(secrets: [Secret(Keys.veriff)])

    static func veriffID(_ text: String) throws -> String {
        let payload = try parseJSON(text)
        return try veriff.interpret(payload, body: Array(text.utf8)).eventID
    }

    /// A decision with the four identifying fields, plus fields that must not matter.
    static func decision(
        session: String = "12df6045-3846-3e45-946a-14fa6136d78b",
        attempt: String? = "00bca969-b53a-4fad-b065-874d41a7b2b8",
        status: String = "declined",
        decisionTime: String? = "2019-11-06T07:18:36.916Z",
        reason: String = "Suspected document tampering",
        ip: String = "186.153.67.122"
    ) -> String {
        let attemptMember = attempt.map { #""attemptId":"\#($0)","# } ?? ""
        let timeMember = decisionTime.map { #","decisionTime":"\#($0)""# } ?? ""
        return #"""
            {"status":"success","verification":{"id":"\#(session)",\#(attemptMember)"status":"\#(status)","code":9102,"reason":"\#(reason)"\#(timeMember)},"technicalData":{"ip":"\#(ip)"}}
            """#
    }

    @Test("Stripe's event id is the evt_ id")
    func stripeUsesEventID() throws {
        let payload = try Fixture.json("stripe-s2-verified.json")
        let record = try StripeProvider(secrets: [Secret(Keys.stripe)]).interpret(payload, body: [])
        #expect(record.eventID == "evt_1Pgc76B7WZ01zgkWwyRHS12y")
    }

    @Test("A Veriff id is \"veriff-\" and 32 lowercase hex digits")
    func veriffFormat() throws {
        let id = try Self.veriffID(Self.decision())
        #expect(id.hasPrefix("veriff-"))
        let hex = id.dropFirst("veriff-".count)
        #expect(hex.count == 32)
        #expect(hex.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test("The same session, attempt, status and decision time give the same id, whatever else changes")
    func veriffStable() throws {
        let reference = try Self.veriffID(Self.decision())
        #expect(try Self.veriffID(Self.decision()) == reference)
        #expect(try Self.veriffID(Self.decision(reason: "Known fraud")) == reference)
        #expect(try Self.veriffID(Self.decision(ip: "10.0.0.1")) == reference)
        // The same payload pretty-printed: different bytes, same event.
        let pretty = Self.decision().replacing(",", with: ",\n  ")
        #expect(try Self.veriffID(pretty) == reference)
    }

    @Test(
        "Changing the session, attempt, status or decision time gives a new id",
        arguments: [
            decision(session: "12df6045-3846-3e45-946a-14fa6136d78c"),
            decision(attempt: "00bca969-b53a-4fad-b065-874d41a7b2b9"),
            decision(attempt: nil),
            decision(status: "approved"),
            decision(decisionTime: "2019-11-06T07:18:36.917Z"),
            decision(decisionTime: nil),
        ]
    )
    func veriffChanges(_ variant: String) throws {
        #expect(try Self.veriffID(variant) != Self.veriffID(Self.decision()))
    }

    @Test("Fields do not run into each other (session \"ab\" + attempt \"c\" differs from \"a\" + \"bc\")")
    func veriffFieldBoundaries() throws {
        #expect(
            try Self.veriffID(Self.decision(session: "ab", attempt: "c"))
                != Self.veriffID(Self.decision(session: "a", attempt: "bc"))
        )
    }

    @Test("Veriff events: the same event gives the same id; another action or attempt a new one")
    func veriffEvents() throws {
        let v4 = try Fixture.bytes("veriff-v4-event-submitted.json").text
        let id = try Self.veriffID(v4)
        #expect(id.hasPrefix("veriff-"))
        #expect(try Self.veriffID(v4) == id)
        #expect(try Self.veriffID(v4.replacing("\"feature\":\"selfid\"", with: "\"feature\":\"x\"")) == id)
        let started = v4.replacing("7002", with: "7001")
            .replacing("submitted", with: "started")
        #expect(try Self.veriffID(started) != id)
        let otherAttempt = v4.replacing("e30122d1", with: "e30122d2")
        #expect(try Self.veriffID(otherAttempt) != id)
        // A decision for the same session is another event.
        #expect(try Self.veriffID(Self.decision(session: "f04bdb47-d3be-4b28-b028-a652feb060b5")) != id)
    }

    @Test("Veriff flow events that differ only in their context are different events; a resend is the same one")
    func veriffEventContexts() throws {
        let waiting = try Fixture.bytes("veriff-event-7007-pretty.json").text
        let id = try Self.veriffID(waiting)
        #expect(try Self.veriffID(waiting) == id)
        let timedOut = waiting.replacing(
            "\"final_decision_received\"",
            with: "\"timeout\", \"state\": \"document_front\""
        )
        #expect(try Self.veriffID(timedOut) != id)
        #expect(try Self.veriffID(timedOut) == Self.veriffID(timedOut))
        // An event without a context keeps the id it had before contexts counted.
        let withoutContext = #"{"id":"s","attemptId":"a","feature":"selfid","code":7002,"action":"submitted"}"#
        #expect(
            try Self.veriffID(withoutContext)
                == "veriff-" + Digest.stableKey(["event", "s", "a", "submitted", "7002"])
        )
    }

    @Test("A payload that is neither decision nor event is identified by its bytes")
    func veriffOtherPayload() throws {
        let first = try Self.veriffID(#"{"x":1}"#)
        #expect(try Self.veriffID(#"{"x":1}"#) == first)
        #expect(try Self.veriffID(#"{"x":2}"#) != first)
    }

    @Test("The redelivery key is the endpoint name, NUL, and the event id")
    func redeliveryKey() throws {
        let configuration = try HandlerFixture.configuration()
        let handler = WebhookHandler(configuration: configuration)
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let headers = ["X-HMAC-SIGNATURE": Sign.veriff(body)]
        let first = try #require(
            handler.handle(
                Requests.make(path: "/webhooks/veriff", body: body, headers: headers),
                now: HandlerFixture.now
            )
            .accepted
        )
        let second = try #require(
            handler.handle(
                Requests.make(path: "/hooks/veriff-eu", body: body, headers: headers),
                now: HandlerFixture.now
            )
            .accepted
        )
        let eventID = first.record.interpretation.eventID
        #expect(first.redeliveryKey == "veriff\u{0}" + eventID)
        #expect(second.redeliveryKey == "veriff-eu\u{0}" + eventID)
        #expect(second.record.interpretation.eventID == eventID)

        let stripeBody = try Fixture.bytes("stripe-s2-verified.json")
        let stripe = try #require(
            handler.handle(
                Requests.make(
                    path: "/webhooks/stripe",
                    body: stripeBody,
                    headers: ["Stripe-Signature": StripeSignatureTests.s2Header]
                ),
                now: Timestamp(secondsSinceEpoch: 1_700_000_005)
            ).accepted
        )
        #expect(stripe.redeliveryKey == "stripe\u{0}evt_1Pgc76B7WZ01zgkWwyRHS12y")
    }

    @Test("A Stripe retry with a fresh timestamp and signature has the same redelivery key")
    func stripeRetry() throws {
        let handler = WebhookHandler(configuration: try HandlerFixture.configuration())
        let body = try Fixture.bytes("stripe-s2-verified.json")
        var keys: [String] = []
        for t: Int64 in [1_700_000_000, 1_700_003_600] {
            let request = Requests.make(
                path: "/webhooks/stripe",
                body: body,
                headers: ["Stripe-Signature": Sign.stripe(body, timestamp: t)]
            )
            let accepted = try #require(handler.handle(request, now: Timestamp(secondsSinceEpoch: t + 1)).accepted)
            keys.append(accepted.redeliveryKey)
        }
        #expect(keys.count == 2)
        #expect(keys.first == keys.last)
    }
}
