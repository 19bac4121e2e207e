import Testing
import VerdictCore

/// Inputs from the libFuzzer targets in `Tests/Fuzz` (run them with `Tests/Fuzz/run`), kept as bytes so every
/// `swift test` replays them. Only public API: these run against release builds too.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let veriff = VeriffProvider(secrets: [Secret("abcdef12-abcd-abcd-abcd-abcdef012345")])
    static let stripe = StripeProvider(secrets: [Secret("whsec_test_secret")])
    static let now = Timestamp(millisecondsSinceEpoch: 1_763_900_000_123)

    /// `{"a":` + 63 × `[` + 63 × `]` + `}`: 64 levels, the most a body may nest.
    static let deepestBody: [UInt8] =
        [0x7B, 0x22, 0x61, 0x22, 0x3A] + [UInt8](repeating: 0x5B, count: 63) + [UInt8](repeating: 0x5D, count: 63)
        + [0x7D]

    /// FuzzPayloads: a body at the nesting limit was accepted and logged, but its record nests one level deeper
    /// (the payload sits inside the record), so `RecordValidator` and therefore `verdict verify-log` refused the line
    /// as "nests deeper than 64 levels". Fixed by `DecisionRecord.maxDepth` (64 + 1) in the validator.
    @Test("A body nesting 64 levels makes a record line that validates")
    func deepestPayloadRecordValidates() throws {
        let payload = try JSONParser.parse(Self.deepestBody)
        let interpretation = try Self.veriff.interpret(payload, body: Self.deepestBody)
        let record = DecisionRecord(
            receivedAt: Self.now,
            endpoint: "veriff",
            provider: "veriff",
            interpretation: interpretation
        )
        let line = record.jsonLine()
        #expect(line.last == 0x0A)
        #expect(line.filter { $0 == 0x0A }.count == 1)
        let reparsed = try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)
        #expect(reparsed["payload"] == payload)
        let identity = try RecordValidator.validate(Array(line.dropLast())).get()
        #expect(identity.endpoint == "veriff")
        #expect(identity.eventID == interpretation.eventID)
    }

    /// FuzzPayloads: a Stripe session whose `metadata` was a number was logged with that number as the record's
    /// `metadata`, which the record contract (and `verify-log`) allow only as an object or null. Fixed: anything but
    /// an object is left out of `metadata` (it stays in `payload`).
    @Test(
        "A Stripe metadata that is not an object makes a record line that validates",
        arguments: ["5", "\"x\"", "[1]", "true"]
    )
    func nonObjectStripeMetadataRecordValidates(_ metadata: String) throws {
        let body = Array(
            (#"{"id":"evt_1","object":"event","created":1700000000,"data":{"object":{"id":"vs_1","livemode":false,"#
                + #""metadata":\#(metadata),"status":"verified","type":"document"}},"livemode":false,"#
                + #""type":"identity.verification_session.verified"}"#).utf8
        )
        let payload = try JSONParser.parse(body)
        let interpretation = try Self.stripe.interpret(payload, body: body)
        #expect(interpretation.metadata == nil)
        #expect(interpretation.outcome == .approved)
        let line = DecisionRecord(
            receivedAt: Self.now,
            endpoint: "stripe",
            provider: "stripe",
            interpretation: interpretation
        ).jsonLine()
        let identity = try RecordValidator.validate(Array(line.dropLast())).get()
        #expect(identity.eventID == "evt_1")
        let reparsed = try JSONParser.parse(line, maxDepth: DecisionRecord.maxDepth)
        #expect(reparsed["payload"]?["data"]?["object"]?["metadata"] == (try JSONParser.parse(Array(metadata.utf8))))
    }

    /// The limit itself is unchanged: a body one level deeper is still refused before anything is logged.
    @Test("A body nesting 65 levels is still nesting_too_deep")
    func bodyLimitUnchanged() {
        let body = [0x5B] + Self.deepestBody + [0x5D]
        #expect(throws: JSONParseError.nestingTooDeep(limit: JSONParser.defaultMaxDepth)) {
            try JSONParser.parse(body)
        }
        let line = Array(#"{"a":"#.utf8) + body + [0x7D]
        guard case .failure = RecordValidator.validate(line) else {
            Issue.record("a line nesting 67 levels validated")
            return
        }
    }

    /// FuzzStripeHeader's stripe-python model: Python splits the header on code points, but splitting a Swift
    /// `String` on the Character "," does not split ",\u{301}" (comma + combining acute) or "\u{600}," (a
    /// prepended mark + comma), which are single grapheme clusters. The committed parser read these headers
    /// differently from stripe-python; the byte-level parser in the working tree agrees with it.
    @Test(
        "Stripe-Signature items split on every comma, as stripe-python does",
        arguments: [
            // "t=1,\u{301}v1=x": items "t=1" and "\u{301}v1=x"; the second is not a v1.
            ([0x74, 0x3D, 0x31, 0x2C, 0xCC, 0x81, 0x76, 0x31, 0x3D, 0x78], nil),
            // "t=1,v1=ab,\u{301}": the v1 is "ab"; the last item is ignored.
            ([0x74, 0x3D, 0x31, 0x2C, 0x76, 0x31, 0x3D, 0x61, 0x62, 0x2C, 0xCC, 0x81], ["ab"]),
            // "t=1,v1=a\u{600},v1=cd": two v1 values, the first ending in U+0600.
            (
                [0x74, 0x3D, 0x31, 0x2C, 0x76, 0x31, 0x3D, 0x61, 0xD8, 0x80, 0x2C, 0x76, 0x31, 0x3D, 0x63, 0x64],
                ["a\u{600}", "cd"]
            ),
        ] as [([UInt8], [String]?)]
    )
    func stripeHeaderSplitsOnCodePoints(input: [UInt8], signatures: [String]?) throws {
        let text = String(decoding: input, as: UTF8.self)
        guard let signatures else {
            #expect(throws: StripeSignatureHeader.ParseError.noV1Signature) {
                try StripeSignatureHeader.parse(text)
            }
            return
        }
        let header = try StripeSignatureHeader.parse(text)
        #expect(header.timestamp == "1")
        #expect(header.signatures.map { Array($0.unicodeScalars) } == signatures.map { Array($0.unicodeScalars) })
    }

    /// The same, end to end: a valid v1 followed by an item starting with a combining mark is accepted, as
    /// stripe-python accepts it (the committed parser glued the mark onto the v1 and answered signature_mismatch).
    @Test("A valid v1 before a combining mark item verifies")
    func stripeValidSignatureBeforeCombiningMark() throws {
        let body = Array(#"{"id":"evt_1"}"#.utf8)
        let t = String(Self.now.secondsSinceEpoch)
        let v1 = Hex.encode(Digest.hmacSHA256(Secret("whsec_test_secret"), Array("\(t).".utf8), body))
        let header = String(decoding: Array("t=\(t),v1=\(v1),".utf8) + [0xCC, 0x81], as: UTF8.self)
        let request = WebhookRequest(parameters: ["HTTP_STRIPE_SIGNATURE": header], body: body)
        try Self.stripe.authenticate(request, now: Self.now)
    }
}
