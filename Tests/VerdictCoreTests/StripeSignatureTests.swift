import Testing
import VerdictCore

/// `Stripe-Signature` verification, following stripe-python 16.1.0 item for item. Every "accepted"/"refused"
/// expectation in the tables below was checked against `stripe.WebhookSignature.verify_header`.
@Suite("Stripe signatures")
struct StripeSignatureTests {
    static let s1Signature = "07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda"
    static let s2Signature = "5770d6c6b9b3f8360d0653487a232c5776c1340e8dedeb9689d29884149a5828"
    static let s2RolledSignature = "f99aefdde96dd686041c29420e05bb0728710bda4ffc1c802b6c146828fc67b5"
    static let s2Header =
        "t=1700000000,v1=\(s2Signature),v1=\(s2RolledSignature),"
        + "v0=0000000000000000000000000000000000000000000000000000000000000000"
    /// Close to S-1's `t=12345`.
    static let nearS1 = Timestamp(secondsSinceEpoch: 12_345 + 10)
    /// Close to S-2's `t=1700000000`.
    static let nearS2 = Timestamp(secondsSinceEpoch: 1_700_000_000 + 10)
    /// A present-day clock.
    static let today = Timestamp(secondsSinceEpoch: 1_763_900_000)

    static func check(
        _ provider: StripeProvider,
        _ body: [UInt8],
        _ header: String?,
        now: Timestamp
    ) -> Rejection? {
        var headers: [String: String] = [:]
        headers["Stripe-Signature"] = header
        do {
            try provider.authenticate(Requests.make(path: "/webhooks/stripe", body: body, headers: headers), now: now)
            return nil
        } catch {
            return error
        }
    }

    static func isMalformed(_ rejection: Rejection?) -> Bool {
        if case .malformedSignature(header: "Stripe-Signature", _)? = rejection { return true }
        return false
    }

    // MARK: S-0

    @Test(
        "S-0: plain HMAC-SHA256 with key test_secret (stripe-node helpers)",
        arguments: [
            ([UInt8](), "f7f9bd47fb987337b5796fdc1fdb9ba221d0d5396814bfcaf9521f43fd8927fd"),
            (
                Array(#"{"obj1":"hello","obj2":"world"}"#.utf8),
                "bebb1a643997f419b315ddba19e6f5411e1ce7f810ba6d3617ce72823092f363"
            ),
            ([0xF0, 0x9F, 0x98, 0x80], "837da296d05c4fe31f61d5d7ead035099d9585a5bcde87de952012a78f0b0c43"),
        ]
    )
    func s0PlainHMAC(_ payload: [UInt8], _ expected: String) {
        #expect(Hex.encode(Digest.hmacSHA256(Secret(Keys.stripeNode), payload)) == expected)
        let candidate = Hex.decode(expected) ?? []
        #expect(Digest.isValidHMACSHA256(candidate, secret: Secret(Keys.stripeNode), payload))
        #expect(!Digest.isValidHMACSHA256(candidate, secret: Secret("test_secreT"), payload))
    }

    @Test("S-0: the HMAC of concatenated parts equals the HMAC of the joined bytes")
    func s0Parts() {
        let whole = Digest.hmacSHA256(Secret(Keys.stripeNode), Array(#"{"obj1":"hello","obj2":"world"}"#.utf8))
        let parts = Digest.hmacSHA256(
            Secret(Keys.stripeNode),
            Array(#"{"obj1":"hel"#.utf8),
            Array(#"lo","obj2":"world"}"#.utf8)
        )
        #expect(whole == parts)
    }

    // MARK: S-1

    @Test("S-1: the fixture is stripe-python's payload, byte for byte")
    func s1Fixture() throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        #expect(body.count == 125)
        #expect(body.last == UInt8(ascii: "}"))
        #expect(!body.contains(0x0D))
    }

    @Test("S-1: t=12345 with a present-day clock is a stale timestamp")
    func s1StaleToday() throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)], toleranceSeconds: 300)
        let rejection = Self.check(provider, body, "t=12345,v1=\(Self.s1Signature)", now: Self.today)
        #expect(rejection == .timestampOutsideTolerance(ageSeconds: 1_763_900_000 - 12_345, toleranceSeconds: 300))
        #expect(rejection.map { HTTPResponse(rejection: $0).status } == 401)
        #expect(rejection?.code == "stale_timestamp")
    }

    @Test("S-1: t=12345 with a clock close to 12345 is accepted")
    func s1AcceptedNearTimestamp() throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)], toleranceSeconds: 300)
        #expect(Self.check(provider, body, "t=12345,v1=\(Self.s1Signature)", now: Self.nearS1) == nil)
    }

    @Test("signatureHeaders reproduces S-1's header")
    func s1SignatureHeaders() throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe), Secret(Keys.stripeRolled)])
        let headers = provider.signatureHeaders(for: body, now: Timestamp(millisecondsSinceEpoch: 12_345_999))
        #expect(headers.map(\.name) == ["Stripe-Signature"])
        #expect(headers.map(\.value) == ["t=12345,v1=\(Self.s1Signature)"])
    }

    // MARK: Tolerance

    @Test(
        "Only timestamps older than the tolerance are refused (age == tolerance is accepted, future is accepted)",
        arguments: [
            (12_345_000 + 300_000, true),  // age exactly 300 s
            (12_345_000 + 300_001, false),  // 1 ms more
            (12_345_000 + 301_000, false),
            (12_345_000, true),  // age 0
            (12_345_000 - 1_000_000, true),  // t is 1000 s in the future
            (0, true),  // the clock at the epoch: t is far in the future
        ] as [(Int64, Bool)]
    )
    func tolerance(_ nowMilliseconds: Int64, _ accepted: Bool) throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)], toleranceSeconds: 300)
        let rejection = Self.check(
            provider,
            body,
            "t=12345,v1=\(Self.s1Signature)",
            now: Timestamp(millisecondsSinceEpoch: nowMilliseconds)
        )
        if accepted {
            #expect(rejection == nil)
        } else {
            guard case .timestampOutsideTolerance(_, toleranceSeconds: 300)? = rejection else {
                Issue.record("expected stale_timestamp, got \(String(describing: rejection))")
                return
            }
        }
    }

    @Test("The configured tolerance is the one applied")
    func customTolerance() throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)], toleranceSeconds: 5)
        let header = "t=12345,v1=\(Self.s1Signature)"
        #expect(Self.check(provider, body, header, now: Timestamp(secondsSinceEpoch: 12_350)) == nil)
        #expect(
            Self.check(provider, body, header, now: Timestamp(secondsSinceEpoch: 12_351))
                == .timestampOutsideTolerance(ageSeconds: 6, toleranceSeconds: 5)
        )
    }

    @Test(
        "Timestamps beyond 64 bits behave as in Python: far future accepted, far past stale",
        arguments: [
            // Signatures computed with Python's hmac over "<t>." + the S-1 payload.
            ("99999999999999999999999", "73f8d1fbf406d215c3f1860236271dad770bcace63cf3fb5e98489814aa84a03", true),
            ("9223372036854775808", "320d29ea847a3b0a29c9cd36e96a6ca7a502db72f8d1d54dda414f74e8423293", true),
            ("9223372036854775807", "2528c460272670e7413e35b033e43726d925884cebeed0bc6028cc777d154ef9", true),
            ("-99999999999999999999", "e2b17d66a53b6d7509f02f02b1fb2a66e6e6a2098ed468d58f710298dddb7d78", false),
        ]
    )
    func extremeTimestamps(_ t: String, _ signature: String, _ accepted: Bool) throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)], toleranceSeconds: 300)
        let rejection = Self.check(provider, body, "t=\(t),v1=\(signature)", now: Self.today)
        if accepted {
            #expect(rejection == nil)
        } else {
            guard case .timestampOutsideTolerance? = rejection else {
                Issue.record("expected stale_timestamp, got \(String(describing: rejection))")
                return
            }
        }
    }

    @Test("The signature is checked before the timestamp, as stripe-python does")
    func signatureBeforeTolerance() throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret("whsec_wrong")], toleranceSeconds: 300)
        #expect(
            Self.check(provider, body, "t=12345,v1=\(Self.s1Signature)", now: Self.today)
                == .signatureMismatch(header: "Stripe-Signature")
        )
    }

    // MARK: S-2

    @Test(
        "S-2: either rolled secret alone verifies the header with a v0 decoy",
        arguments: [
            TestSecret(label: "current", text: Keys.stripe), TestSecret(label: "rolled", text: Keys.stripeRolled),
        ]
    )
    func s2EachSecret(_ secret: TestSecret) throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let provider = StripeProvider(secrets: [Secret(secret.text)])
        #expect(Self.check(provider, body, Self.s2Header, now: Self.nearS2) == nil)
    }

    @Test("S-2: each published v1 value is the HMAC of t.body under its secret")
    func s2Values() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let prefix = Array("1700000000.".utf8)
        #expect(Hex.encode(Digest.hmacSHA256(Secret(Keys.stripe), prefix, body)) == Self.s2Signature)
        #expect(Hex.encode(Digest.hmacSHA256(Secret(Keys.stripeRolled), prefix, body)) == Self.s2RolledSignature)
    }

    @Test("S-2: a configured list with an unrelated secret first still verifies")
    func s2SecretList() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let provider = StripeProvider(secrets: [Secret("whsec_other"), Secret(Keys.stripeRolled)])
        #expect(Self.check(provider, body, Self.s2Header, now: Self.nearS2) == nil)
    }

    @Test("S-2: whsec_wrong is a signature mismatch")
    func s2WrongSecret() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let provider = StripeProvider(secrets: [Secret("whsec_wrong")])
        #expect(
            Self.check(provider, body, Self.s2Header, now: Self.nearS2)
                == .signatureMismatch(header: "Stripe-Signature")
        )
    }

    @Test("S-2: a space appended to the body is a signature mismatch")
    func s2SpaceAppended() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json") + [0x20]
        let provider = StripeProvider(secrets: [Secret(Keys.stripe), Secret(Keys.stripeRolled)])
        #expect(
            Self.check(provider, body, Self.s2Header, now: Self.nearS2)
                == .signatureMismatch(header: "Stripe-Signature")
        )
    }

    @Test("S-2: a valid signature under the v0 scheme only is refused (no v1)")
    func s2V0Only() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)])
        let rejection = Self.check(provider, body, "t=1700000000,v0=\(Self.s2Signature)", now: Self.nearS2)
        #expect(Self.isMalformed(rejection))
    }

    @Test("S-2: the header \"garbage\" is malformed")
    func s2Garbage() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)])
        #expect(Self.isMalformed(Self.check(provider, body, "garbage", now: Self.nearS2)))
    }

    @Test("S-2: the v1 value signed for another timestamp does not verify")
    func s2OtherTimestamp() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)])
        #expect(
            Self.check(provider, body, "t=1700000001,v1=\(Self.s2Signature)", now: Self.nearS2)
                == .signatureMismatch(header: "Stripe-Signature")
        )
    }

    @Test("A missing or empty Stripe-Signature is missing_signature", arguments: [nil, ""] as [String?])
    func missingHeader(_ header: String?) throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)])
        #expect(
            Self.check(provider, body, header, now: Self.nearS2) == .missingSignature(header: "Stripe-Signature")
        )
    }

    // MARK: Header forms, end to end over S-1

    /// How stripe-python 16.1.0 answers each header for the S-1 payload and secret (tolerance off).
    enum Verdict: Sendable {
        case accepted
        case malformed
        case mismatch
    }

    static let headerForms: [(String, Verdict)] = [
        ("t=12345,v1=\(s1Signature)", .accepted),
        ("t=12345,v1=\(String(repeating: "0", count: 64)),v1=\(s1Signature)", .accepted),
        ("t=12345,v1=\(s1Signature),v0=\(s1Signature)", .accepted),
        ("t=12345,v0=\(s1Signature)", .malformed),
        ("t=12345, v1=\(s1Signature)", .malformed),
        (" t=12345,v1=\(s1Signature)", .malformed),
        ("t=12345,v1= \(s1Signature)", .mismatch),
        ("t=12345,v1=\(s1Signature) ", .mismatch),
        ("t=00012345,v1=\(s1Signature)", .accepted),
        ("t=+12345,v1=\(s1Signature)", .accepted),
        ("t=12_345,v1=\(s1Signature)", .accepted),
        ("t=1_2_3_4_5,v1=\(s1Signature)", .accepted),
        ("t=12__345,v1=\(s1Signature)", .malformed),
        ("t=12345_,v1=\(s1Signature)", .malformed),
        ("t=_12345,v1=\(s1Signature)", .malformed),
        ("t= 12345 ,v1=\(s1Signature)", .accepted),
        ("t=\t12345\t,v1=\(s1Signature)", .accepted),
        ("v1=\(s1Signature)", .malformed),
        ("t,t=12345,v1=\(s1Signature)", .malformed),
        ("t=12345,t,v1=\(s1Signature)", .malformed),
        ("t=12345,v1,v1=\(s1Signature)", .malformed),
        ("t=12345,v0,v1=\(s1Signature)", .accepted),
        ("t=12345,t=99999,v1=\(s1Signature)", .accepted),
        ("t=12345,t=abc,v1=\(s1Signature)", .accepted),
        ("t=abc,t=12345,v1=\(s1Signature)", .malformed),
        ("t=99999,t=12345,v1=\(s1Signature)", .mismatch),
        ("t=12345,v1=zz\(s1Signature.dropFirst(2))", .mismatch),
        ("t=12345,v1=\(s1Signature.uppercased())", .mismatch),
        ("t=12345,v1=\(s1Signature)=extra", .accepted),
        ("t=12345=9,v1=\(s1Signature)", .accepted),
        (",,t=12345,,v1=\(s1Signature),", .accepted),
        ("t=-0,v1=\(s1Signature)", .mismatch),
        ("T=12345,v1=\(s1Signature)", .malformed),
        ("t=12345,V1=\(s1Signature)", .malformed),
        ("t=,v1=\(s1Signature)", .malformed),
        ("t=12345,v1=", .mismatch),
        ("t=0x3039,v1=\(s1Signature)", .malformed),
        ("t=12345.0,v1=\(s1Signature)", .malformed),
        ("t=12345;v1=\(s1Signature)", .malformed),
        ("garbage", .malformed),
    ]

    @Test("Header forms are accepted or refused exactly as stripe-python does", arguments: headerForms)
    func headerForm(_ header: String, _ verdict: Verdict) throws {
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let provider = StripeProvider(secrets: [Secret(Keys.stripe)], toleranceSeconds: 300)
        let rejection = Self.check(provider, body, header, now: Self.nearS1)
        switch verdict {
        case .accepted: #expect(rejection == nil)
        case .malformed: #expect(Self.isMalformed(rejection))
        case .mismatch: #expect(rejection == .signatureMismatch(header: "Stripe-Signature"))
        }
    }
}

/// `StripeSignatureHeader.parse` on its own.
@Suite("Stripe-Signature header parsing")
struct StripeSignatureHeaderTests {
    /// The parts of a parsed header.
    struct Parts: Equatable, Sendable {
        var timestamp: String
        var signatures: [String]
    }

    typealias Parsed = Result<Parts, StripeSignatureHeader.ParseError>

    static func ok(_ timestamp: String, _ signatures: [String]) -> Parsed {
        .success(Parts(timestamp: timestamp, signatures: signatures))
    }

    static let cases: [(String, Parsed)] = [
        ("t=12345,v1=aa", ok("12345", ["aa"])),
        ("t=12345,v1=aa,v1=bb,v1=cc", ok("12345", ["aa", "bb", "cc"])),
        ("t=12345,v1=aa,v0=bb", ok("12345", ["aa"])),
        ("v1=aa,t=12345", ok("12345", ["aa"])),
        ("t=12345,v0=bb", .failure(.noV1Signature)),
        ("t=12345", .failure(.noV1Signature)),
        // " v1" is not the key "v1", as in stripe-python.
        ("t=12345, v1=aa", .failure(.noV1Signature)),
        ("t=12345,v1= aa", ok("12345", [" aa"])),
        // " t" is not the key "t".
        (" t=12345,v1=aa", .failure(.unreadable)),
        // The timestamp is canonicalised as Python's int() then "%d" would.
        ("t=00012345,v1=aa", ok("12345", ["aa"])),
        ("t=+5,v1=aa", ok("5", ["aa"])),
        ("t=1_700_000_000,v1=aa", ok("1700000000", ["aa"])),
        ("t= 12 ,v1=aa", ok("12", ["aa"])),
        ("t=\t12\n,v1=aa", ok("12", ["aa"])),
        ("t=-0,v1=aa", ok("0", ["aa"])),
        ("t=-007,v1=aa", ok("-7", ["aa"])),
        ("t=0,v1=aa", ok("0", ["aa"])),
        ("t=99999999999999999999999,v1=aa", ok("99999999999999999999999", ["aa"])),
        // Python's int() reads at most 4300 digits (leading zeros count, underscores and the sign do not).
        ("t=\(String(repeating: "9", count: 4300)),v1=aa", ok(String(repeating: "9", count: 4300), ["aa"])),
        ("t=\(String(repeating: "9", count: 4301)),v1=aa", .failure(.unreadable)),
        ("t=0\(String(repeating: "9", count: 4300)),v1=aa", .failure(.unreadable)),
        ("t=-\(String(repeating: "9", count: 4300)),v1=aa", ok("-" + String(repeating: "9", count: 4300), ["aa"])),
        ("t=9\(String(repeating: "_9", count: 4299)),v1=aa", ok(String(repeating: "9", count: 4300), ["aa"])),
        ("t=9\(String(repeating: "_9", count: 4300)),v1=aa", .failure(.unreadable)),
        ("t=12__3,v1=aa", .failure(.unreadable)),
        ("t=12_,v1=aa", .failure(.unreadable)),
        ("t=_12,v1=aa", .failure(.unreadable)),
        ("t=+,v1=aa", .failure(.unreadable)),
        ("t=+-1,v1=aa", .failure(.unreadable)),
        ("t=1 2,v1=aa", .failure(.unreadable)),
        ("t=0x10,v1=aa", .failure(.unreadable)),
        ("t=1.0,v1=aa", .failure(.unreadable)),
        ("t=1e3,v1=aa", .failure(.unreadable)),
        ("t=,v1=aa", .failure(.unreadable)),
        ("v1=aa", .failure(.unreadable)),
        ("t", .failure(.unreadable)),
        ("t,t=1,v1=aa", .failure(.unreadable)),
        ("t=1,t,v1=aa", .failure(.unreadable)),
        ("t=1,v1,v1=aa", .failure(.unreadable)),
        ("t=1,v1", .failure(.unreadable)),
        ("t=1,v0,v1=aa", ok("1", ["aa"])),
        // The first t wins; a later one is not even read.
        ("t=1,t=2,v1=aa", ok("1", ["aa"])),
        ("t=1,t=abc,v1=aa", ok("1", ["aa"])),
        ("t=abc,t=1,v1=aa", .failure(.unreadable)),
        // Split on the first two '=': text after a second '=' is dropped.
        ("t=1,v1=aa=bb", ok("1", ["aa"])),
        ("t=1=9,v1=aa", ok("1", ["aa"])),
        ("t=1,v1=", ok("1", [""])),
        (",,t=1,,v1=aa,", ok("1", ["aa"])),
        ("T=1,v1=aa", .failure(.unreadable)),
        ("t=1,V1=aa", .failure(.noV1Signature)),
        ("t=1;v1=aa", .failure(.unreadable)),
        ("garbage", .failure(.unreadable)),
        ("", .failure(.unreadable)),
        (
            "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,"
                + "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
            ok("1492774577", ["5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"])
        ),
    ]

    @Test("parse", arguments: cases)
    func parse(_ header: String, _ expected: Parsed) {
        let result: Parsed
        do {
            let parsed = try StripeSignatureHeader.parse(header)
            result = .success(Parts(timestamp: parsed.timestamp, signatures: parsed.signatures))
        } catch {
            result = .failure(error)
        }
        #expect(result == expected)
    }

    @Test(
        "seconds is the timestamp as Int64, nil beyond 64 bits",
        arguments: [
            ("t=12345,v1=a", Int64(12_345)),
            ("t=-5,v1=a", Int64(-5)),
            ("t=9223372036854775807,v1=a", Int64.max),
            ("t=9223372036854775808,v1=a", nil),
            ("t=-9223372036854775809,v1=a", nil),
        ] as [(String, Int64?)]
    )
    func seconds(_ header: String, _ expected: Int64?) throws {
        #expect(try StripeSignatureHeader.parse(header).seconds == expected)
    }
}
