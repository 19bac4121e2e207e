import Foundation
import Testing
import VerdictCore

/// Raw request bodies from `Fixtures/`, read byte for byte (HMACs cover the exact bytes).
///
/// Provenance (see shared/reference/veriff-and-stripe.md):
/// - `veriff-v1-hmac.json`, `veriff-v2-session-id.txt`, `veriff-v3-hmac.json`: vectors V-1 to V-3 (third-party
///   tests citing Veriff's old docs); `veriff-v4-event-submitted.json`, `veriff-v5-declined.json`: V-4 and V-5
///   (derived; V-5 is a constructed declined decision).
/// - `veriff-approved-pretty.json`, `veriff-approved-sparse.json`, `veriff-event-7007-pretty.json`: samples 1.8 (a),
///   (b) and (d), as printed (pretty, with a final newline); `veriff-approved-compact.json`: (a) minified by Python's
///   `json.dumps(separators=(",", ":"), ensure_ascii=False)`.
/// - `stripe-s1-python-payload.json`: stripe-python's `DUMMY_WEBHOOK_PAYLOAD` (S-1); `stripe-s2-verified.json`: S-2.
enum Fixture {
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"),
            "fixture \(name) is missing"
        )
        return Array(try Data(contentsOf: url))
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONParser.parse(bytes(name))
    }
}

/// Test keys. These are the public test secrets of the reference vectors, not real credentials.
enum Keys {
    static let veriff = "abcdef12-abcd-abcd-abcd-abcdef012345"
    static let stripe = "whsec_test_secret"
    static let stripeRolled = "whsec_test_secret_rolled_key"
    static let stripeNode = "test_secret"
}

/// A secret passed as a test argument: test output shows its label, never its text.
struct TestSecret: Sendable, CustomTestStringConvertible {
    var label: String
    var text: String
    var testDescription: String { "<\(label) secret>" }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

/// Builds CGI parameters the way nginx and Apache pass them.
enum Requests {
    /// What `CONTENT_LENGTH` says.
    enum Length {
        case matchingBody
        case absent
        case value(String)
    }

    static func make(
        method: String = "POST",
        path: String,
        body: [UInt8] = [],
        headers: [String: String] = [:],
        contentLength: Length = .matchingBody
    ) -> WebhookRequest {
        var parameters = ["REQUEST_METHOD": method, "PATH_INFO": path]
        switch contentLength {
        case .matchingBody: parameters["CONTENT_LENGTH"] = String(body.count)
        case .absent: break
        case .value(let value): parameters["CONTENT_LENGTH"] = value
        }
        for (name, value) in headers {
            parameters["HTTP_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })] = value
        }
        return WebhookRequest(parameters: parameters, body: body)
    }
}

/// Signatures for bodies that are not reference vectors. The vectors themselves are checked against the hex values
/// published in the reference, so `Digest` is validated independently before it is trusted here.
enum Sign {
    static func veriff(_ body: [UInt8], secret: String = Keys.veriff) -> String {
        Hex.encode(Digest.hmacSHA256(Secret(secret), body))
    }

    static func stripe(_ body: [UInt8], timestamp: Int64, secret: String = Keys.stripe) -> String {
        let mac = Digest.hmacSHA256(Secret(secret), Array("\(timestamp).".utf8), body)
        return "t=\(timestamp),v1=\(Hex.encode(mac))"
    }
}

/// Parses `text` as JSON, failing the test on error.
func parseJSON(_ text: String) throws -> JSONValue {
    try JSONParser.parse(Array(text.utf8))
}

/// Writes `value` compactly.
func compact(_ value: JSONValue) -> String {
    var writer = JSONWriter()
    writer.write(value)
    return writer.bytes.text
}

/// The keys of a JSON object, in order.
func keys(of value: JSONValue?) -> [String] {
    value?.objectValue?.members.map(\.key) ?? []
}

/// What a `WebhookHandler.Action` amounts to, for `#expect`.
extension WebhookHandler.Action {
    var response: HTTPResponse? {
        if case .respond(let response) = self { return response }
        return nil
    }

    var accepted: WebhookHandler.Accepted? {
        if case .record(let accepted) = self { return accepted }
        return nil
    }

    var isCheckHealth: Bool {
        if case .checkHealth = self { return true }
        return false
    }

    /// The `error` code of a refusal, or nil.
    var errorCode: String? {
        guard let response, let body = try? JSONParser.parse(response.body) else { return nil }
        return body["error"]?.stringValue
    }
}
