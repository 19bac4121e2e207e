import Testing
import VerdictCore

/// Secrets never show up in descriptions, dumps, errors or responses. No test here prints anything: each renders
/// into a string and checks it.
@Suite("Secret hygiene")
struct SecretTests {
    static let secretText = "whsec_SuperSecretValue0123456789"

    static func reveals(_ text: String) -> Bool {
        text.contains(secretText) || text.contains("SuperSecret")
    }

    static func dumped(_ value: some Any) -> String {
        var out = ""
        dump(value, to: &out)
        return out
    }

    @Test("The secret's bytes are kept exactly")
    func bytes() {
        #expect(Secret(Self.secretText).bytes == Array(Self.secretText.utf8))
        #expect(Secret("é").bytes == [0xC3, 0xA9])
    }

    @Test("description, debugDescription, interpolation and Mirror hide the secret")
    func renderings() {
        let secret = Secret(Self.secretText)
        let renderings = [
            secret.description,
            secret.debugDescription,
            "\(secret)",
            String(describing: secret),
            String(reflecting: secret),
            Self.dumped(secret),
            String(describing: [secret]),
            String(reflecting: Optional(secret)),
        ]
        for rendering in renderings {
            let revealed = Self.reveals(rendering)
            #expect(!revealed)
        }
        #expect(secret.description == "<secret>")
        #expect(Mirror(reflecting: secret).children.isEmpty)
    }

    @Test("Dumping a provider or a whole configuration does not reveal the secrets")
    func providersAndConfiguration() throws {
        let veriff = VeriffProvider(secrets: [Secret(Self.secretText)], authClient: "key")
        let stripe = StripeProvider(secrets: [Secret(Self.secretText)])
        let configuration = try ConfigurationTests.load(
            """
            log_dir = "/l"
            [[endpoint]]
            name = "stripe"
            provider = "stripe"
            secrets = ["\(Self.secretText)"]
            """
        )
        let renderings = [
            Self.dumped(veriff), String(describing: veriff), String(reflecting: stripe), Self.dumped(stripe),
            Self.dumped(configuration), String(describing: configuration), Self.dumped(configuration.endpoints),
            Self.dumped(WebhookHandler(configuration: configuration)),
        ]
        for rendering in renderings {
            let revealed = Self.reveals(rendering)
            #expect(!revealed)
        }
    }

    @Test("Configuration errors about secrets do not quote them")
    func configurationErrors() {
        let texts = [
            "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\"\(Self.secretText)\", 5]",
            "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\"\(Self.secretText)\"] x",
            "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"onfido\"\nsecrets = [\"\(Self.secretText)\"]",
            "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\(Self.secretText)]",
            "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecret = \"\(Self.secretText)\"",
        ]
        for text in texts {
            guard let error = ConfigurationTests.failure(text) else {
                Issue.record("expected an error")
                continue
            }
            let revealed = Self.reveals(error.description)
            #expect(!revealed)
        }
    }

    @Test("Refusals and their bodies never contain the secret or the expected signature")
    func refusals() throws {
        let body = try Fixture.bytes("veriff-v5-declined.json")
        let provider = VeriffProvider(secrets: [Secret(Self.secretText)])
        let expected = Sign.veriff(body, secret: Self.secretText)
        let request = Requests.make(path: "/v", body: body, headers: ["X-HMAC-SIGNATURE": Sign.veriff(body)])
        let rejection = #expect(throws: Rejection.self) {
            try provider.authenticate(request, now: Timestamp(secondsSinceEpoch: 0))
        }
        let rendered =
            try #require(rejection).message + String(describing: rejection)
            + HTTPResponse(rejection: try #require(rejection)).body.text
        let revealed = Self.reveals(rendered) || rendered.contains(expected)
        #expect(!revealed)
    }
}
