import Testing
import VerdictCore

/// The configuration the end-to-end tests run against, built from configuration text like a real deployment.
enum HandlerFixture {
    static let text = """
        # Verdict test configuration (inline test secrets only).
        log_dir = "log"

        [[endpoint]]
        name = "veriff"
        provider = "veriff"
        secrets = ["\(Keys.veriff)"]

        [[endpoint]]
        name = "veriff-eu"
        provider = "veriff"
        secrets = ["\(Keys.veriff)"]

        [[endpoint]]
        name = "veriff-strict"
        provider = "veriff"
        secrets = ["\(Keys.veriff)"]
        auth_client = "my-api-key"
        legacy_signature = true

        [[endpoint]]
        name = "stripe"
        provider = "stripe"
        secrets = ["\(Keys.stripe)"]
        tolerance_seconds = 300
        """

    static let now = Timestamp(millisecondsSinceEpoch: 1_763_900_000_123)

    static func configuration() throws -> Configuration {
        let document = try ConfigDocument(text: text, file: "/etc/verdict/verdict.toml")
        return try Configuration(document) { (path: String) throws(ConfigurationError) -> String in
            throw ConfigurationError(file: path, problem: "no secret files in this test")
        }
    }

    static func handler() throws -> WebhookHandler {
        WebhookHandler(configuration: try configuration())
    }
}

@Suite("WebhookHandler end to end")
struct WebhookHandlerTests {
    let handler: WebhookHandler

    init() throws {
        handler = try HandlerFixture.handler()
    }

    func handle(_ request: WebhookRequest, now: Timestamp = HandlerFixture.now) -> WebhookHandler.Action {
        handler.handle(request, now: now)
    }

    /// A Veriff request to `/webhooks/veriff` signed correctly.
    func signedVeriff(_ body: [UInt8], path: String = "/webhooks/veriff") -> WebhookRequest {
        Requests.make(path: path, body: body, headers: ["X-HMAC-SIGNATURE": Sign.veriff(body)])
    }

    /// Checks that `action` is a refusal with `status` and `code`, a `{"error","message"}` body and no secret.
    func expectRefusal(
        _ action: WebhookHandler.Action,
        status: Int,
        code: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let response = try #require(action.response, "expected a response", sourceLocation: sourceLocation)
        #expect(response.status == status, sourceLocation: sourceLocation)
        let body = try JSONParser.parse(response.body)
        #expect(keys(of: body) == ["error", "message"], sourceLocation: sourceLocation)
        #expect(body["error"]?.stringValue == code, sourceLocation: sourceLocation)
        #expect(body["message"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(response.body.last == 0x0A, sourceLocation: sourceLocation)
        let text = response.body.text
        let leaks = [Keys.veriff, Keys.stripe].contains { text.contains($0) }
        #expect(!leaks, "a response body names a secret", sourceLocation: sourceLocation)
    }

    // MARK: Routing and method

    @Test("An unknown endpoint is 404 unknown_endpoint, whatever the method")
    func unknownEndpoint() throws {
        for method in ["POST", "GET", "PUT"] {
            let action = handle(Requests.make(method: method, path: "/webhooks/nope", body: []))
            try expectRefusal(action, status: 404, code: "unknown_endpoint")
        }
        let body = try JSONParser.parse(try #require(handle(Requests.make(path: "/webhooks/nope")).response).body)
        #expect(body["message"]?.stringValue?.contains("\"nope\"") == true)
    }

    @Test("The root path and a path with only slashes are unknown endpoints", arguments: ["/", "//", ""])
    func rootPath(_ path: String) throws {
        try expectRefusal(handle(Requests.make(path: path)), status: 404, code: "unknown_endpoint")
    }

    @Test("Routing uses the last path segment, ignoring a trailing slash and the query")
    func routingSegment() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        for path in ["/veriff", "/webhooks/veriff/", "/a/b/c/veriff", "/webhooks/veriff?x=1"] {
            #expect(handle(signedVeriff(body, path: path)).accepted != nil, "\(path)")
        }
        #expect(handle(signedVeriff(body, path: "/veriff/extra")).errorCode == "unknown_endpoint")
        #expect(handle(signedVeriff(body, path: "/webhooks/Veriff")).errorCode == "unknown_endpoint")
    }

    @Test("Without PATH_INFO, DOCUMENT_URI, SCRIPT_NAME and REQUEST_URI are used in that order")
    func routingFallbacks() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        var parameters = [
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": String(body.count),
            "HTTP_X_HMAC_SIGNATURE": Sign.veriff(body),
            "REQUEST_URI": "/webhooks/veriff?retry=1",
        ]
        #expect(handle(WebhookRequest(parameters: parameters, body: body)).accepted != nil)
        parameters["SCRIPT_NAME"] = "/webhooks/veriff-eu"
        #expect(handle(WebhookRequest(parameters: parameters, body: body)).accepted?.record.endpoint == "veriff-eu")
        parameters["DOCUMENT_URI"] = "/webhooks/veriff"
        #expect(handle(WebhookRequest(parameters: parameters, body: body)).accepted?.record.endpoint == "veriff")
        parameters["PATH_INFO"] = "/webhooks/nope"
        #expect(handle(WebhookRequest(parameters: parameters, body: body)).errorCode == "unknown_endpoint")
        parameters["PATH_INFO"] = ""
        #expect(handle(WebhookRequest(parameters: parameters, body: body)).accepted?.record.endpoint == "veriff")
    }

    @Test("A method other than POST is 405 with Allow: POST", arguments: ["GET", "HEAD", "PUT", "DELETE", "post"])
    func methodNotAllowed(_ method: String) throws {
        let action = handle(Requests.make(method: method, path: "/webhooks/veriff", body: []))
        try expectRefusal(action, status: 405, code: "method_not_allowed")
        #expect(action.response?.headers.map(\.name) == ["Allow"])
        #expect(action.response?.headers.map(\.value) == ["POST"])
    }

    @Test("GET and HEAD on any .../healthz ask for the health check", arguments: ["GET", "HEAD"])
    func healthCheck(_ method: String) {
        #expect(handle(Requests.make(method: method, path: "/healthz")).isCheckHealth)
        #expect(handle(Requests.make(method: method, path: "/anything/healthz")).isCheckHealth)
        #expect(handle(Requests.make(method: method, path: "/webhooks/healthz?probe=1")).isCheckHealth)
    }

    @Test("POST to healthz is 405 with Allow: GET, HEAD", arguments: ["POST", "PUT", "DELETE"])
    func healthCheckWrongMethod(_ method: String) throws {
        let action = handle(Requests.make(method: method, path: "/anything/healthz", body: Array("{}".utf8)))
        try expectRefusal(action, status: 405, code: "method_not_allowed")
        #expect(action.response?.headers.map(\.name) == ["Allow"])
        #expect(action.response?.headers.map(\.value) == ["GET, HEAD"])
    }

    @Test("The healthy answer is 200 {\"status\":\"ok\"}")
    func healthyResponse() throws {
        #expect(HTTPResponse.healthy.status == 200)
        #expect(HTTPResponse.healthy.body.text == "{\"status\":\"ok\"}\n")
        #expect(HTTPResponse.healthy.headers.isEmpty)
    }

    @Test("log_unavailable is 503 with Retry-After: 60")
    func logUnavailable() throws {
        let response = HTTPResponse(rejection: .logUnavailable)
        try expectRefusal(.respond(response), status: 503, code: "log_unavailable")
        #expect(response.headers.map(\.name) == ["Retry-After"])
        #expect(response.headers.map(\.value) == ["60"])
    }

    // MARK: Length and size

    @Test(
        "A missing or non-decimal Content-Length is 411",
        arguments: [
            Requests.Length.absent, .value(""), .value("abc"), .value("-1"), .value(" 12"), .value("1e3"), .value("+5"),
        ]
    )
    func lengthRequired(_ length: Requests.Length) throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let request = Requests.make(
            path: "/webhooks/veriff",
            body: body,
            headers: ["X-HMAC-SIGNATURE": Sign.veriff(body)],
            contentLength: length
        )
        try expectRefusal(handle(request), status: 411, code: "length_required")
    }

    @Test("A Content-Length too large for Int is refused, never trusted", arguments: ["99999999999999999999999"])
    func hugeContentLength(_ value: String) throws {
        let action = handle(Requests.make(path: "/webhooks/veriff", body: [], contentLength: .value(value)))
        let status = try #require(action.response).status
        #expect(status == 411 || status == 413)
    }

    @Test("A declared length above max_body_bytes is 413, before the signature is looked at")
    func bodyTooLarge() throws {
        let limit = Configuration.defaultMaxBodyBytes
        #expect(handler.maxBodyBytes == limit)
        let action = handle(Requests.make(path: "/webhooks/veriff", body: [], contentLength: .value(String(limit + 1))))
        try expectRefusal(action, status: 413, code: "body_too_large")
        #expect(handler.bodyBytesToRead(declaredLength: .bytes(limit + 1)) == limit)
        #expect(handler.bodyBytesToRead(declaredLength: .bytes(10)) == 10)
        #expect(handler.bodyBytesToRead(declaredLength: .absent) == 0)
        #expect(handler.bodyBytesToRead(declaredLength: .invalid) == 0)
    }

    @Test("A body of exactly max_body_bytes is not refused for its size")
    func bodyAtLimit() throws {
        let small = WebhookHandler(endpoints: try HandlerFixture.configuration().endpoints, maxBodyBytes: 446)
        let body = try Fixture.bytes("veriff-v5-declined.json")
        #expect(body.count == 446)
        #expect(small.handle(signedVeriff(body), now: HandlerFixture.now).accepted != nil)
        let larger = body + [0x20]
        #expect(small.handle(signedVeriff(larger), now: HandlerFixture.now).errorCode == "body_too_large")
    }

    @Test("A body shorter than Content-Length is 400 truncated_body")
    func truncatedBody() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let request = Requests.make(
            path: "/webhooks/veriff",
            body: Array(body.prefix(100)),
            headers: ["X-HMAC-SIGNATURE": Sign.veriff(body)],
            contentLength: .value(String(body.count))
        )
        try expectRefusal(handle(request), status: 400, code: "truncated_body")
    }

    @Test("Bytes beyond Content-Length are ignored: only the declared body is verified and parsed")
    func extraBytesIgnored() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let request = Requests.make(
            path: "/webhooks/veriff",
            body: body + Array("garbage".utf8),
            headers: ["X-HMAC-SIGNATURE": Sign.veriff(body)],
            contentLength: .value(String(body.count))
        )
        let accepted = try #require(handle(request).accepted)
        #expect(accepted.record.interpretation.payload == (try JSONParser.parse(body)))
    }

    // MARK: Signature

    @Test("No signature is 401 missing_signature")
    func missingSignature() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        try expectRefusal(
            handle(Requests.make(path: "/webhooks/veriff", body: body)),
            status: 401,
            code: "missing_signature"
        )
        try expectRefusal(
            handle(Requests.make(path: "/webhooks/stripe", body: body)),
            status: 401,
            code: "missing_signature"
        )
    }

    @Test("A malformed signature is 401 malformed_signature")
    func malformedSignature() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        try expectRefusal(
            handle(Requests.make(path: "/webhooks/veriff", body: body, headers: ["X-HMAC-SIGNATURE": "xyz"])),
            status: 401,
            code: "malformed_signature"
        )
        try expectRefusal(
            handle(Requests.make(path: "/webhooks/stripe", body: body, headers: ["Stripe-Signature": "garbage"])),
            status: 401,
            code: "malformed_signature"
        )
    }

    @Test("A wrong signature is 401 signature_mismatch, and the message gives away no expected value")
    func signatureMismatch() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let expected = Sign.veriff(body)
        let action = handle(
            Requests.make(path: "/webhooks/veriff", body: body, headers: ["X-HMAC-SIGNATURE": Sign.veriff(body + [0])])
        )
        try expectRefusal(action, status: 401, code: "signature_mismatch")
        let leaked = try #require(action.response).body.text.contains(expected)
        #expect(!leaked)
    }

    @Test("An old Stripe timestamp is 401 stale_timestamp")
    func staleTimestamp() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let request = Requests.make(
            path: "/webhooks/stripe",
            body: body,
            headers: ["Stripe-Signature": StripeSignatureTests.s2Header]
        )
        try expectRefusal(handle(request), status: 401, code: "stale_timestamp")
        #expect(handle(request, now: Timestamp(secondsSinceEpoch: 1_700_000_300)).accepted != nil)
        try expectRefusal(
            handle(request, now: Timestamp(millisecondsSinceEpoch: 1_700_000_300_001)),
            status: 401,
            code: "stale_timestamp"
        )
    }

    @Test("A wrong X-AUTH-CLIENT is 401 auth_client_mismatch; the right one with legacy X-SIGNATURE is accepted")
    func authClient() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let legacy = "931c32012cff3388dde2f0b86328229ed971db387a5fcc92045b25192b37bdaf"
        try expectRefusal(
            handle(Requests.make(path: "/webhooks/veriff-strict", body: body, headers: ["X-SIGNATURE": legacy])),
            status: 401,
            code: "auth_client_mismatch"
        )
        let good = Requests.make(
            path: "/webhooks/veriff-strict",
            body: body,
            headers: ["X-SIGNATURE": legacy, "X-AUTH-CLIENT": "my-api-key"]
        )
        #expect(handle(good).accepted?.record.interpretation.outcome == .declined)
        // The plain endpoint does not accept the legacy scheme.
        let plain = Requests.make(path: "/webhooks/veriff", body: body, headers: ["X-SIGNATURE": legacy])
        try expectRefusal(handle(plain), status: 401, code: "missing_signature")
    }

    @Test("The signature is checked before the JSON: an unsigned invalid body is 401, not 400")
    func signatureBeforeJSON() throws {
        let body = Array("{not json".utf8)
        try expectRefusal(
            handle(Requests.make(path: "/webhooks/veriff", body: body)),
            status: 401,
            code: "missing_signature"
        )
        try expectRefusal(
            handle(Requests.make(path: "/webhooks/veriff", body: body, headers: ["X-HMAC-SIGNATURE": Sign.veriff([])])),
            status: 401,
            code: "signature_mismatch"
        )
    }

    // MARK: JSON

    @Test(
        "Signed bodies that are not acceptable JSON are 400 with the matching code",
        arguments: [
            ("{", "invalid_json"),
            ("", "invalid_json"),
            ("{\"a\":1}x", "invalid_json"),
            ("{\"a\":\"\u{0}\"}", "invalid_json"),
            ("{\"a\":1,\"a\":2}", "duplicate_key"),
            ("{\"verification\":{\"id\":\"s\",\"status\":\"approved\",\"status\":\"declined\"}}", "duplicate_key"),
            ("[]", "unexpected_payload"),
            ("{\"verification\":{}}", "unexpected_payload"),
            ("{\"verification\":{\"id\":\"s\"}}", "unexpected_payload"),
        ]
    )
    func invalidJSON(_ text: String, _ code: String) throws {
        try expectRefusal(handle(signedVeriff(Array(text.utf8))), status: 400, code: code)
    }

    @Test("Invalid UTF-8 is 400 invalid_utf8, inside and outside strings")
    func invalidUTF8() throws {
        let inside: [UInt8] = Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        let outside: [UInt8] = Array("{\"a\":1".utf8) + [0xFF] + Array("}".utf8)
        let encodedSurrogate: [UInt8] = Array("{\"a\":\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"}".utf8)
        for body in [inside, outside, encodedSurrogate] {
            try expectRefusal(handle(signedVeriff(body)), status: 400, code: "invalid_utf8")
        }
    }

    @Test("100 000 levels of nesting are 400 nesting_too_deep, without exhausting the stack")
    func deepNesting() throws {
        let arrays =
            [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
            + [UInt8](repeating: UInt8(ascii: "]"), count: 100_000)
        try expectRefusal(handle(signedVeriff(arrays)), status: 400, code: "nesting_too_deep")
        let objects = Array(String(repeating: "{\"a\":", count: 100_000).utf8)
        try expectRefusal(handle(signedVeriff(objects)), status: 400, code: "nesting_too_deep")
    }

    @Test("A 10 000-digit number is 400 number_too_long")
    func longNumber() throws {
        let body =
            Array("{\"verification\":{\"id\":\"s\",\"status\":\"approved\",\"code\":".utf8)
            + [UInt8](repeating: UInt8(ascii: "9"), count: 10_000) + Array("}}".utf8)
        try expectRefusal(handle(signedVeriff(body)), status: 400, code: "number_too_long")
    }

    // MARK: Accepted

    @Test("V-5 is accepted and becomes one record line")
    func acceptedVeriff() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let accepted = try #require(handle(signedVeriff(body)).accepted)
        #expect(accepted.record.endpoint == "veriff")
        #expect(accepted.record.provider == "veriff")
        #expect(accepted.record.receivedAt == HandlerFixture.now)
        #expect(accepted.record.interpretation.outcome == .declined)
        #expect(accepted.line == accepted.record.jsonLine())
        let line = try JSONParser.parse(accepted.line)
        #expect(line["received_at"] == .string("2025-11-23T12:13:20.123Z"))
        #expect(line["payload"] == (try JSONParser.parse(body)))
    }

    @Test("An unchanged payload is logged as its sender wrote it, compacted, escapes and all")
    func payloadCopiedCompacted() throws {
        let body = Array(
            """
            {
              "verification": { "id": "s-1", "status": "approved", "code": 9001,
                "person": { "firstName": "Zo\\u00eb", "note": "tab\\there \\"quoted\\"" } }
            }
            """.utf8
        )
        let accepted = try #require(handle(signedVeriff(body)).accepted)
        #expect(
            accepted.line.text.contains(#","payload":{"verification":{"id":"s-1","status":"approved","code":9001,"#)
        )
        #expect(accepted.line.text.contains(#""person":{"firstName":"Zo\u00eb","note":"tab\there \"quoted\""}}}}"#))
        #expect(accepted.line.filter { $0 == 0x0A }.count == 1)
        #expect(try JSONParser.parse(accepted.line)["payload"] == (try JSONParser.parse(body)))
    }

    @Test("A payload with credentials is logged redacted, never copied from the body")
    func redactedPayloadIsRewritten() throws {
        let secret = "vs_secret_abc123"
        let body = Array(
            """
            {"id":"evt_1","object":"event","type":"identity.verification_session.requires_input","created":1763900000,
             "data":{"object":{"id":"vs_1","object":"identity.verification_session","status":"requires_input",
             "client_secret":"\(secret)","url":"https://verify.stripe.com/start/\(secret)","last_error":null}}}
            """.utf8
        )
        let request = Requests.make(
            path: "/webhooks/stripe",
            body: body,
            headers: ["Stripe-Signature": Sign.stripe(body, timestamp: HandlerFixture.now.secondsSinceEpoch)]
        )
        let accepted = try #require(handle(request).accepted)
        #expect(!accepted.line.text.contains(secret))
        let session = try JSONParser.parse(accepted.line)["payload"]?["data"]?["object"]
        #expect(session?["client_secret"] == .string("[redacted]"))
        #expect(session?["url"] == .string("[redacted]"))
        #expect(session?["status"] == .string("requires_input"))
    }

    @Test("The accepted and duplicate answers have exactly the contract's shape")
    func responseShapes() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let accepted = try #require(handle(signedVeriff(body)).accepted)
        let id = accepted.record.interpretation.eventID
        let first = accepted.response(duplicate: false)
        #expect(first.status == 200)
        #expect(first.headers.isEmpty)
        #expect(first.body.text == #"{"status":"accepted","event_id":"\#(id)","outcome":"declined"}"# + "\n")
        let again = accepted.response(duplicate: true)
        #expect(again.status == 200)
        #expect(again.body.text == #"{"status":"duplicate","event_id":"\#(id)","outcome":"declined"}"# + "\n")
    }

    @Test("S-2 through the Stripe endpoint is accepted as approved")
    func acceptedStripe() throws {
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let request = Requests.make(
            path: "/webhooks/stripe",
            body: body,
            headers: ["Stripe-Signature": StripeSignatureTests.s2Header]
        )
        let accepted = try #require(handle(request, now: Timestamp(secondsSinceEpoch: 1_700_000_060)).accepted)
        #expect(
            accepted.response(duplicate: false).body.text
                == #"{"status":"accepted","event_id":"evt_1Pgc76B7WZ01zgkWwyRHS12y","outcome":"approved"}"# + "\n"
        )
        #expect(accepted.record.provider == "stripe")
    }

    @Test("Veriff events and pretty-printed bodies are accepted")
    func acceptedOthers() throws {
        for name in ["veriff-v4-event-submitted.json", "veriff-event-7007-pretty.json", "veriff-approved-pretty.json"] {
            let accepted = handle(signedVeriff(try Fixture.bytes(name))).accepted
            #expect(accepted != nil, "\(name)")
            let newlines = accepted?.line.filter { $0 == 0x0A }.count
            #expect(newlines == 1, "\(name)")
        }
    }

    @Test("The same request at the same time gives the same line")
    func deterministic() throws {
        let body = try Fixture.bytes("veriff-approved-pretty.json")
        let first = try #require(handle(signedVeriff(body)).accepted)
        let second = try #require(handle(signedVeriff(body)).accepted)
        #expect(first.line == second.line)
        #expect(first.redeliveryKey == second.redeliveryKey)
    }

    @Test(
        "Each refusal has its contract status and reason phrase",
        arguments: [
            (Rejection.unknownEndpoint("x"), 404, "Not Found"),
            (.methodNotAllowed(method: "GET", allowed: ["POST"]), 405, "Method Not Allowed"),
            (.lengthRequired, 411, "Length Required"),
            (.bodyTooLarge(limit: 1), 413, "Payload Too Large"),
            (.truncatedBody(declared: 2, received: 1), 400, "Bad Request"),
            (.missingSignature(header: "X"), 401, "Unauthorized"),
            (.malformedSignature(header: "X", detail: "d"), 401, "Unauthorized"),
            (.signatureMismatch(header: "X"), 401, "Unauthorized"),
            (.timestampOutsideTolerance(ageSeconds: 301, toleranceSeconds: 300), 401, "Unauthorized"),
            (.authClientMismatch, 401, "Unauthorized"),
            (.invalidPayload(.syntax(offset: 0, expected: "a value")), 400, "Bad Request"),
            (.unexpectedPayload("x"), 400, "Bad Request"),
            (.logUnavailable, 503, "Service Unavailable"),
        ]
    )
    func statuses(_ rejection: Rejection, _ status: Int, _ phrase: String) throws {
        let response = HTTPResponse(rejection: rejection)
        #expect(response.status == status)
        #expect(response.reasonPhrase == phrase)
        try expectRefusal(.respond(response), status: status, code: rejection.code)
    }

    @Test("Refusal messages are escaped JSON even when they quote what the client sent")
    func hostileEndpointName() throws {
        let action = handle(Requests.make(path: "/webhooks/a\"b\\c\u{2028}d\u{1}"))
        try expectRefusal(action, status: 404, code: "unknown_endpoint")
        let body = try #require(action.response).body
        #expect(body.filter { $0 == 0x0A }.count == 1)
    }
}
