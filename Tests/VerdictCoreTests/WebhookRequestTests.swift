import Testing
import VerdictCore

@Suite("WebhookRequest")
struct WebhookRequestTests {
    @Test(
        "The routing path prefers PATH_INFO, then DOCUMENT_URI, SCRIPT_NAME, REQUEST_URI, without the query",
        arguments: [
            (["PATH_INFO": "/a/b", "DOCUMENT_URI": "/c", "SCRIPT_NAME": "/d", "REQUEST_URI": "/e"], "/a/b"),
            (["PATH_INFO": "", "DOCUMENT_URI": "/c", "SCRIPT_NAME": "/d", "REQUEST_URI": "/e"], "/c"),
            (["SCRIPT_NAME": "/d", "REQUEST_URI": "/e"], "/d"),
            (["REQUEST_URI": "/e?x=/y"], "/e"),
            (["DOCUMENT_URI": "/c?q"], "/c"),
            ([:], "/"),
        ] as [([String: String], String)]
    )
    func routingPath(_ parameters: [String: String], _ expected: String) {
        #expect(WebhookRequest(parameters: parameters, body: []).routingPath == expected)
    }

    @Test(
        "The routing name is the last non-empty segment",
        arguments: [
            ("/webhooks/veriff", "veriff"), ("/webhooks/veriff/", "veriff"), ("veriff", "veriff"), ("/", ""),
            ("//a//", "a"),
        ]
    )
    func routingName(_ path: String, _ expected: String) {
        #expect(WebhookRequest(parameters: ["PATH_INFO": path], body: []).routingName == expected)
    }

    @Test("Headers follow the CGI naming rule")
    func headers() {
        let request = WebhookRequest(
            parameters: ["HTTP_STRIPE_SIGNATURE": "t=1", "HTTP_X_HMAC_SIGNATURE": "ab", "REQUEST_METHOD": "PUT"],
            body: []
        )
        #expect(request.header("Stripe-Signature") == "t=1")
        #expect(request.header("stripe-signature") == "t=1")
        #expect(request.header("x-hmac-signature") == "ab")
        #expect(request.header("X-Signature") == nil)
        #expect(request.method == "PUT")
    }

    @Test(
        "CONTENT_LENGTH is absent, invalid or a byte count",
        arguments: [
            (nil, .absent), ("", .absent), ("0", .bytes(0)), ("446", .bytes(446)), ("007", .bytes(7)), ("-1", .invalid),
            ("+1", .invalid), (" 1", .invalid), ("1 ", .invalid), ("0x10", .invalid), ("١٢", .invalid),
            ("99999999999999999999", .invalid),
        ] as [(String?, WebhookRequest.DeclaredLength)]
    )
    func declaredLength(_ value: String?, _ expected: WebhookRequest.DeclaredLength) {
        var parameters: [String: String] = [:]
        parameters["CONTENT_LENGTH"] = value
        #expect(WebhookRequest(parameters: parameters, body: []).declaredLength == expected)
    }
}
