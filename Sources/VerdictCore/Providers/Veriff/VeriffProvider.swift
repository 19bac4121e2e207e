/// Builds Veriff endpoints: `auth_client` (expected `X-AUTH-CLIENT` or `VRF-AUTH-CLIENT`) and `legacy_signature`
/// (accept `X-SIGNATURE`).
public enum VeriffFactory: ProviderFactory {
    public static let name = "veriff"
    public static let settingKeys: Set<String> = ["auth_client", "legacy_signature"]

    public static func make(_ endpoint: EndpointSettings) throws(ConfigurationError) -> any WebhookProvider {
        let authClient = try endpoint.string("auth_client")
        if authClient?.isEmpty == true {
            throw endpoint.error("auth_client", "is empty; remove it, or set it to the integration's API key")
        }
        return VeriffProvider(
            secrets: endpoint.secrets,
            authClient: authClient,
            acceptsLegacySignature: try endpoint.bool("legacy_signature", default: false)
        )
    }
}

/// Veriff decision and event webhooks, signed with `X-HMAC-SIGNATURE` = hex HMAC-SHA256(body, shared secret).
public struct VeriffProvider: WebhookProvider {
    public let name = VeriffFactory.name
    let secrets: [Secret]
    let authClient: String?
    let acceptsLegacySignature: Bool

    public init(secrets: [Secret], authClient: String? = nil, acceptsLegacySignature: Bool = false) {
        self.secrets = secrets
        self.authClient = authClient
        self.acceptsLegacySignature = acceptsLegacySignature
    }

    public func authenticate(_ request: WebhookRequest, now: Timestamp) throws(Rejection) {
        if let authClient {
            // Like the signature, the key may also come as vrf-auth-client. Each one sent must match, so two that
            // disagree are refused; neither sent is a mismatch, as before.
            let sent = [request.parameters["HTTP_X_AUTH_CLIENT"], request.parameters["HTTP_VRF_AUTH_CLIENT"]]
                .compactMap(Self.present)
            let expected = Array(authClient.utf8)
            guard !sent.isEmpty, sent.allSatisfy({ Digest.constantTimeEqual(Array($0.utf8), expected) }) else {
                throw .authClientMismatch
            }
        }
        let primary = Self.present(request.parameters["HTTP_X_HMAC_SIGNATURE"])
        // Some integrations receive the same value as vrf-hmac-signature; if both come, they must agree.
        let alternate = Self.present(request.parameters["HTTP_VRF_HMAC_SIGNATURE"])
        if let primary, let alternate, primary.lowercased() != alternate.lowercased() {
            throw .malformedSignature(header: "X-HMAC-SIGNATURE", detail: "it differs from VRF-HMAC-SIGNATURE")
        }
        if let header = primary ?? alternate {
            let mac = try Self.decodeSignature(header, name: "X-HMAC-SIGNATURE")
            for secret in secrets where Digest.isValidHMACSHA256(mac, secret: secret, request.body) { return }
            throw .signatureMismatch(header: "X-HMAC-SIGNATURE")
        }
        if acceptsLegacySignature, let header = Self.present(request.parameters["HTTP_X_SIGNATURE"]) {
            // Veriff's pre-HMAC scheme: hex SHA-256 of the body followed by the secret.
            let digest = try Self.decodeSignature(header, name: "X-SIGNATURE")
            for secret in secrets where Digest.constantTimeEqual(digest, Digest.sha256(request.body, secret.bytes)) {
                return
            }
            throw .signatureMismatch(header: "X-SIGNATURE")
        }
        throw .missingSignature(header: "X-HMAC-SIGNATURE")
    }

    /// The header's value, or nil when it is absent or blank: a server set up with
    /// `fastcgi_param HTTP_X_HMAC_SIGNATURE $http_x_hmac_signature;` passes an empty value for a missing header.
    static func present(_ value: String?) -> String? {
        guard let value, !value.trimmingSpaces.isEmpty else { return nil }
        return value
    }

    static func decodeSignature(_ header: String, name: String) throws(Rejection) -> [UInt8] {
        let trimmed = header.trimmingSpaces
        guard trimmed.utf8.count == 64, let bytes = Hex.decode(trimmed) else {
            throw .malformedSignature(header: name, detail: "expected 64 hexadecimal digits")
        }
        return bytes
    }

    public func signatureHeaders(for body: [UInt8], now: Timestamp) -> [(name: String, value: String)] {
        var headers = [(name: "X-HMAC-SIGNATURE", value: Hex.encode(Digest.hmacSHA256(secrets[0], body)))]
        if let authClient { headers.append((name: "X-AUTH-CLIENT", value: authClient)) }
        return headers
    }

    public func interpret(_ payload: JSONValue, body: [UInt8]) throws(Rejection) -> Interpretation {
        guard let root = payload.objectValue else { throw .unexpectedPayload("expected a JSON object") }
        if root.contains("verification") {
            return try VeriffDecision.interpret(root, payload: payload, body: body)
        }
        if root.contains("action") {
            return try VeriffEvent.interpret(root, payload: payload)
        }
        // Signed, but neither a decision nor an event: keep it, classified as other.
        var record = Interpretation(
            kind: .event,
            eventID: "veriff-" + Digest.stableKey(["other", Hex.encode(Digest.sha256(body))]),
            outcome: .other,
            final: false,
            payload: payload
        )
        record.sessionID = root["id"]?.stringValue
        record.anomaly = "payload is neither a decision nor an event webhook"
        return record
    }
}
