import Testing
import VerdictCore

/// Veriff's `X-HMAC-SIGNATURE` (hex HMAC-SHA256 of the raw body) and legacy `X-SIGNATURE` (hex SHA-256 of body then
/// secret), checked against the reference vectors V-1 to V-6.
@Suite("Veriff signatures")
struct VeriffSignatureTests {
    /// One published vector: the fixture, its HMAC and, where published, its legacy signature.
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var fixture: String
        var hmac: String
        var legacy: String?
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(
            name: "V-1",
            fixture: "veriff-v1-hmac.json",
            hmac: "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
            // V-6, first line.
            legacy: "19f1c8446beea200e4b184739f1e1dd81c335c513f685b87dea2133681f769ec"
        ),
        Vector(
            name: "V-2 (session id)",
            fixture: "veriff-v2-session-id.txt",
            hmac: "895cb3fd31139d89aeb7b263682e15479ab57651e70591256ad2c14fde4950dd",
            legacy: nil
        ),
        Vector(
            name: "V-3",
            fixture: "veriff-v3-hmac.json",
            hmac: "0dcab73ddd20062616d104231c7439657546a5c24e4691977da93bb854c31e25",
            // V-6, second line.
            legacy: "0558cec8645b295b424644f65dc65f1e4b4af2a9d2211bda0b0e62cfa78275fc"
        ),
        Vector(
            name: "V-4 (event)",
            fixture: "veriff-v4-event-submitted.json",
            hmac: "12d28cd7aa0f418dbb88ad72ed90aba69ce80fdee6f0979b33f032ed01d3de1a",
            legacy: "d2c20653d446edd1e150715d7ee0a148903710531325c39d84481f5aaa4125b2"
        ),
        Vector(
            name: "V-5 (declined)",
            fixture: "veriff-v5-declined.json",
            hmac: "955fbd079920ad153b069bb8f78a832e84c2ccde6d33d718639c3754f41410e2",
            legacy: "931c32012cff3388dde2f0b86328229ed971db387a5fcc92045b25192b37bdaf"
        ),
    ]

    static let legacyVectors = vectors.filter { $0.legacy != nil }
    static let now = Timestamp(secondsSinceEpoch: 1_763_900_000)
    static let secret = Secret(Keys.veriff)

    static func request(_ body: [UInt8], _ headers: [String: String]) -> WebhookRequest {
        Requests.make(path: "/webhooks/veriff", body: body, headers: headers)
    }

    static func check(
        _ provider: VeriffProvider,
        _ body: [UInt8],
        _ headers: [String: String]
    ) -> Rejection? {
        do {
            try provider.authenticate(request(body, headers), now: now)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Vectors

    @Test("Digest reproduces the published HMAC", arguments: vectors)
    func digestMatchesVector(_ vector: Vector) throws {
        let body = try Fixture.bytes(vector.fixture)
        #expect(Hex.encode(Digest.hmacSHA256(Self.secret, body)) == vector.hmac)
    }

    @Test("X-HMAC-SIGNATURE of each vector is accepted", arguments: vectors)
    func hmacVectorAccepted(_ vector: Vector) throws {
        let body = try Fixture.bytes(vector.fixture)
        let provider = VeriffProvider(secrets: [Self.secret])
        #expect(Self.check(provider, body, ["X-HMAC-SIGNATURE": vector.hmac]) == nil)
    }

    @Test("The published legacy X-SIGNATURE is SHA-256 of body then secret", arguments: legacyVectors)
    func legacyDigestMatchesVector(_ vector: Vector) throws {
        let body = try Fixture.bytes(vector.fixture)
        #expect(Hex.encode(Digest.sha256(body, Self.secret.bytes)) == vector.legacy)
    }

    @Test("Legacy X-SIGNATURE is accepted when legacy_signature is enabled", arguments: legacyVectors)
    func legacyAcceptedWhenEnabled(_ vector: Vector) throws {
        let body = try Fixture.bytes(vector.fixture)
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        #expect(Self.check(provider, body, ["X-SIGNATURE": try #require(vector.legacy)]) == nil)
    }

    @Test("Legacy X-SIGNATURE alone counts as no signature when legacy_signature is off", arguments: legacyVectors)
    func legacyIgnoredWhenDisabled(_ vector: Vector) throws {
        let body = try Fixture.bytes(vector.fixture)
        let provider = VeriffProvider(secrets: [Self.secret])
        #expect(
            Self.check(provider, body, ["X-SIGNATURE": try #require(vector.legacy)])
                == .missingSignature(header: "X-HMAC-SIGNATURE")
        )
    }

    @Test("A legacy signature in X-HMAC-SIGNATURE does not match", arguments: legacyVectors)
    func legacyValueInHMACHeaderRefused(_ vector: Vector) throws {
        let body = try Fixture.bytes(vector.fixture)
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        #expect(
            Self.check(provider, body, ["X-HMAC-SIGNATURE": try #require(vector.legacy)])
                == .signatureMismatch(header: "X-HMAC-SIGNATURE")
        )
    }

    @Test("An HMAC in X-SIGNATURE does not match the legacy scheme", arguments: legacyVectors)
    func hmacValueInLegacyHeaderRefused(_ vector: Vector) throws {
        let body = try Fixture.bytes(vector.fixture)
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        #expect(Self.check(provider, body, ["X-SIGNATURE": vector.hmac]) == .signatureMismatch(header: "X-SIGNATURE"))
    }

    @Test("V-1 and V-3 are session-creation request bodies: signed, they pass the check and are refused as payloads")
    func requestBodyVectorsAreNotWebhooks() throws {
        let handler = WebhookHandler(configuration: try HandlerFixture.configuration())
        for fixture in ["veriff-v1-hmac.json", "veriff-v3-hmac.json"] {
            let body = try Fixture.bytes(fixture)
            let request = Requests.make(
                path: "/webhooks/veriff",
                body: body,
                headers: ["X-HMAC-SIGNATURE": Sign.veriff(body)]
            )
            guard case .respond(let answer) = handler.handle(request, now: HandlerFixture.now) else {
                Issue.record("\(fixture) was accepted")
                continue
            }
            #expect(answer.status == 400, "\(fixture)")
            #expect(answer.body.text.contains("\"unexpected_payload\""), "\(fixture)")
        }
    }

    @Test("V-3 passes with the secret list [abc, secret, cde] and fails without the right secret")
    func v3SecretList() throws {
        let body = try Fixture.bytes("veriff-v3-hmac.json")
        let headers = ["X-HMAC-SIGNATURE": "0dcab73ddd20062616d104231c7439657546a5c24e4691977da93bb854c31e25"]
        let rotating = VeriffProvider(secrets: [Secret("abc"), Self.secret, Secret("cde")])
        #expect(Self.check(rotating, body, headers) == nil)
        let withoutIt = VeriffProvider(secrets: [Secret("abc"), Secret("cde")])
        #expect(Self.check(withoutIt, body, headers) == .signatureMismatch(header: "X-HMAC-SIGNATURE"))
    }

    @Test("The legacy scheme also tries every configured secret")
    func legacySecretList() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let provider = VeriffProvider(secrets: [Secret("old"), Self.secret], acceptsLegacySignature: true)
        let legacy = "931c32012cff3388dde2f0b86328229ed971db387a5fcc92045b25192b37bdaf"
        #expect(Self.check(provider, body, ["X-SIGNATURE": legacy]) == nil)
    }

    // MARK: Negative cases

    @Test("Changing any single byte of the body breaks the signature", arguments: [0, 1, 100, 218])
    func oneByteChanged(_ offset: Int) throws {
        var body = try Fixture.bytes("veriff-v1-hmac.json")
        body[offset] ^= 0x01
        let provider = VeriffProvider(secrets: [Self.secret])
        let headers = ["X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"]
        #expect(Self.check(provider, body, headers) == .signatureMismatch(header: "X-HMAC-SIGNATURE"))
    }

    @Test("A body with one byte appended or removed is refused")
    func bodyLengthChanged() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        let headers = ["X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"]
        #expect(Self.check(provider, body + [0x0A], headers) == .signatureMismatch(header: "X-HMAC-SIGNATURE"))
        #expect(Self.check(provider, Array(body.dropLast()), headers) == .signatureMismatch(header: "X-HMAC-SIGNATURE"))
    }

    @Test("One changed byte breaks the legacy signature too")
    func legacyOneByteChanged() throws {
        var body = try Fixture.bytes("veriff-v4-event-submitted.json")
        body[10] ^= 0x20
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        let legacy = "d2c20653d446edd1e150715d7ee0a148903710531325c39d84481f5aaa4125b2"
        #expect(Self.check(provider, body, ["X-SIGNATURE": legacy]) == .signatureMismatch(header: "X-SIGNATURE"))
    }

    @Test("The wrong secret is refused, for both schemes")
    func wrongSecret() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let provider = VeriffProvider(
            secrets: [Secret("abcdef12-abcd-abcd-abcd-abcdef012346")],
            acceptsLegacySignature: true
        )
        let hmac = "955fbd079920ad153b069bb8f78a832e84c2ccde6d33d718639c3754f41410e2"
        let legacy = "931c32012cff3388dde2f0b86328229ed971db387a5fcc92045b25192b37bdaf"
        #expect(
            Self.check(provider, body, ["X-HMAC-SIGNATURE": hmac]) == .signatureMismatch(header: "X-HMAC-SIGNATURE")
        )
        #expect(Self.check(provider, body, ["X-SIGNATURE": legacy]) == .signatureMismatch(header: "X-SIGNATURE"))
    }

    @Test("No signature header at all is missing_signature, with or without legacy support", arguments: [false, true])
    func missingHeader(_ legacy: Bool) throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: legacy)
        #expect(Self.check(provider, body, [:]) == .missingSignature(header: "X-HMAC-SIGNATURE"))
    }

    @Test("An empty or blank X-HMAC-SIGNATURE counts as missing", arguments: ["", " ", "\t"])
    func emptyHeader(_ value: String) throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        #expect(
            Self.check(provider, body, ["X-HMAC-SIGNATURE": value]) == .missingSignature(header: "X-HMAC-SIGNATURE")
        )
    }

    @Test("An empty X-HMAC-SIGNATURE does not hide a valid legacy X-SIGNATURE")
    func emptyHMACHeaderWithLegacy() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        let headers = [
            "X-HMAC-SIGNATURE": "",
            "X-SIGNATURE": "19f1c8446beea200e4b184739f1e1dd81c335c513f685b87dea2133681f769ec",
        ]
        #expect(Self.check(provider, body, headers) == nil)
    }

    @Test("An empty legacy X-SIGNATURE counts as missing")
    func emptyLegacyHeader() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        #expect(Self.check(provider, body, ["X-SIGNATURE": ""]) == .missingSignature(header: "X-HMAC-SIGNATURE"))
    }

    /// Values that are not 64 hex digits.
    static let malformedValues: [String] = [
        // Non-hex digits, right length.
        "zaf6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
        "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd6g",
        // Wrong lengths: one digit short, one digit long, one byte short, a SHA-512 length.
        "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd6",
        "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd670",
        "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd",
        String(repeating: "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67", count: 2),
        // Prefixes and encodings that are not bare hex.
        "0x6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
        "sha256=6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
        "avbZWCLhnpzHB67VU5XY02O6LHvEYlvATr7KDHv4zWc=",
        "6af6d95822e19e9c c707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd6",
    ]

    @Test("A non-hex or wrong-length X-HMAC-SIGNATURE is malformed", arguments: malformedValues)
    func malformedHeader(_ value: String) throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        guard case .malformedSignature(let header, _)? = Self.check(provider, body, ["X-HMAC-SIGNATURE": value]) else {
            Issue.record("expected malformed_signature for \(value)")
            return
        }
        #expect(header == "X-HMAC-SIGNATURE")
    }

    @Test("A malformed legacy X-SIGNATURE is malformed", arguments: malformedValues)
    func malformedLegacyHeader(_ value: String) throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        guard case .malformedSignature(let header, _)? = Self.check(provider, body, ["X-SIGNATURE": value]) else {
            Issue.record("expected malformed_signature for \(value)")
            return
        }
        #expect(header == "X-SIGNATURE")
    }

    @Test(
        "Uppercase and mixed-case hex is accepted, as Veriff's demo lower-cases it",
        arguments: [
            "6AF6D95822E19E9CC707AEC55395D8D363BA2C7BC4625BC04EBECA0C7BF8CD67",
            "6Af6d95822E19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cD67",
        ]
    )
    func uppercaseAccepted(_ value: String) throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        #expect(Self.check(provider, body, ["X-HMAC-SIGNATURE": value]) == nil)
    }

    @Test("Surrounding spaces in the header value are ignored")
    func surroundingSpaces() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        let value = " 6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67 "
        #expect(Self.check(provider, body, ["X-HMAC-SIGNATURE": value]) == nil)
    }

    // MARK: X-AUTH-CLIENT

    @Test("X-AUTH-CLIENT equal to auth_client is accepted")
    func authClientMatch() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], authClient: "my-api-key")
        let headers = [
            "X-AUTH-CLIENT": "my-api-key",
            "X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
        ]
        #expect(Self.check(provider, body, headers) == nil)
    }

    @Test(
        "X-AUTH-CLIENT that differs from auth_client, or is absent, is refused",
        arguments: ["my-api-kez", "my-api-key ", "MY-API-KEY", "", "my-api-ke", "my-api-key-longer", nil] as [String?]
    )
    func authClientMismatch(_ sent: String?) throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], authClient: "my-api-key")
        var headers = ["X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"]
        headers["X-AUTH-CLIENT"] = sent
        #expect(Self.check(provider, body, headers) == .authClientMismatch)
    }

    @Test("Without auth_client configured, any X-AUTH-CLIENT is accepted")
    func authClientNotConfigured() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        let headers = [
            "X-AUTH-CLIENT": "whatever",
            "X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
        ]
        #expect(Self.check(provider, body, headers) == nil)
    }

    // MARK: VRF-AUTH-CLIENT

    @Test("VRF-AUTH-CLIENT alone equal to auth_client is accepted, also beside a blank X-AUTH-CLIENT")
    func alternateAuthClientAccepted() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], authClient: "my-api-key")
        let signature = "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"
        #expect(Self.check(provider, body, ["VRF-AUTH-CLIENT": "my-api-key", "X-HMAC-SIGNATURE": signature]) == nil)
        // A server that maps every header it knows passes an empty value for the one that was not sent.
        let headers = ["X-AUTH-CLIENT": "", "VRF-AUTH-CLIENT": "my-api-key", "X-HMAC-SIGNATURE": signature]
        #expect(Self.check(provider, body, headers) == nil)
    }

    @Test(
        "VRF-AUTH-CLIENT alone that differs from auth_client is refused",
        arguments: ["my-api-kez", "MY-API-KEY", "my-api-key "]
    )
    func alternateAuthClientMismatch(_ sent: String) throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], authClient: "my-api-key")
        let headers = [
            "VRF-AUTH-CLIENT": sent,
            "X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
        ]
        #expect(Self.check(provider, body, headers) == .authClientMismatch)
    }

    @Test("X-AUTH-CLIENT and VRF-AUTH-CLIENT both equal to auth_client are accepted")
    func bothAuthClientsAgree() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], authClient: "my-api-key")
        let headers = [
            "X-AUTH-CLIENT": "my-api-key",
            "VRF-AUTH-CLIENT": "my-api-key",
            "X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
        ]
        #expect(Self.check(provider, body, headers) == nil)
    }

    @Test("X-AUTH-CLIENT and VRF-AUTH-CLIENT disagreeing is refused even when one of them matches")
    func bothAuthClientsDisagree() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], authClient: "my-api-key")
        let signature = "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"
        for headers in [
            ["X-AUTH-CLIENT": "my-api-key", "VRF-AUTH-CLIENT": "someone-else", "X-HMAC-SIGNATURE": signature],
            ["X-AUTH-CLIENT": "someone-else", "VRF-AUTH-CLIENT": "my-api-key", "X-HMAC-SIGNATURE": signature],
        ] {
            #expect(Self.check(provider, body, headers) == .authClientMismatch, "\(headers)")
        }
    }

    // MARK: vrf-hmac-signature

    @Test("vrf-hmac-signature alone is accepted as the signature")
    func alternateHeaderAccepted() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        let headers = ["vrf-hmac-signature": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"]
        #expect(Self.check(provider, body, headers) == nil)
    }

    @Test("A wrong vrf-hmac-signature alone is a mismatch")
    func alternateHeaderWrong() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        let headers = ["vrf-hmac-signature": "0dcab73ddd20062616d104231c7439657546a5c24e4691977da93bb854c31e25"]
        #expect(Self.check(provider, body, headers) == .signatureMismatch(header: "X-HMAC-SIGNATURE"))
    }

    @Test("Both headers with the same value (any case) are accepted")
    func bothHeadersAgree() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        let headers = [
            "X-HMAC-SIGNATURE": "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67",
            "VRF-HMAC-SIGNATURE": "6AF6D95822E19E9CC707AEC55395D8D363BA2C7BC4625BC04EBECA0C7BF8CD67",
        ]
        #expect(Self.check(provider, body, headers) == nil)
    }

    @Test("Both headers disagreeing is refused even when one of them is valid")
    func bothHeadersDisagree() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret])
        let valid = "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"
        let other = "0dcab73ddd20062616d104231c7439657546a5c24e4691977da93bb854c31e25"
        for headers in [
            ["X-HMAC-SIGNATURE": valid, "VRF-HMAC-SIGNATURE": other],
            ["X-HMAC-SIGNATURE": other, "VRF-HMAC-SIGNATURE": valid],
        ] {
            guard case .malformedSignature? = Self.check(provider, body, headers) else {
                Issue.record("expected malformed_signature for \(headers)")
                continue
            }
        }
    }

    @Test("A valid X-HMAC-SIGNATURE wins over a wrong legacy X-SIGNATURE, and a wrong one is not rescued by it")
    func hmacTakesPrecedenceOverLegacy() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret], acceptsLegacySignature: true)
        let hmac = "6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67"
        let legacy = "19f1c8446beea200e4b184739f1e1dd81c335c513f685b87dea2133681f769ec"
        let wrong = String(repeating: "0", count: 64)
        #expect(Self.check(provider, body, ["X-HMAC-SIGNATURE": hmac, "X-SIGNATURE": wrong]) == nil)
        #expect(
            Self.check(provider, body, ["X-HMAC-SIGNATURE": wrong, "X-SIGNATURE": legacy])
                == .signatureMismatch(header: "X-HMAC-SIGNATURE")
        )
    }

    // MARK: verdict sign

    @Test("signatureHeaders gives the V-1 signature and the configured X-AUTH-CLIENT")
    func signatureHeaders() throws {
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let provider = VeriffProvider(secrets: [Self.secret, Secret("other")], authClient: "my-api-key")
        let headers = provider.signatureHeaders(for: body, now: Self.now)
        #expect(headers.map(\.name) == ["X-HMAC-SIGNATURE", "X-AUTH-CLIENT"])
        #expect(
            headers.map(\.value) == ["6af6d95822e19e9cc707aec55395d8d363ba2c7bc4625bc04ebeca0c7bf8cd67", "my-api-key"]
        )
        let request = Self.request(body, Dictionary(uniqueKeysWithValues: headers.map { ($0.name, $0.value) }))
        #expect(throws: Never.self) { try provider.authenticate(request, now: Self.now) }
    }
}
