/// One identity-verification vendor, configured for one endpoint: how it signs, and how its payloads map to an
/// `Interpretation`. A provider lives in its own folder and is listed once in `ProviderRegistry`.
public protocol WebhookProvider: Sendable {
    /// The provider's name in configuration and records (`veriff`, `stripe`).
    var name: String { get }

    /// Checks the request's signature over the exact raw body bytes. Runs before any parsing.
    func authenticate(_ request: WebhookRequest, now: Timestamp) throws(Rejection)

    /// Classifies a verified, parsed payload. `body` is the raw bytes it was parsed from.
    func interpret(_ payload: JSONValue, body: [UInt8]) throws(Rejection) -> Interpretation

    /// The headers that sign `body` as this provider would, with the first configured secret (`verdict sign`).
    func signatureHeaders(for body: [UInt8], now: Timestamp) -> [(name: String, value: String)]
}

/// Builds a provider from its endpoint's configuration table.
public protocol ProviderFactory: Sendable {
    /// The value of `provider = "…"` that selects this factory.
    static var name: String { get }
    /// The keys this provider accepts besides the common ones; anything else is a configuration error.
    static var settingKeys: Set<String> { get }
    static func make(_ endpoint: EndpointSettings) throws(ConfigurationError) -> any WebhookProvider
}
