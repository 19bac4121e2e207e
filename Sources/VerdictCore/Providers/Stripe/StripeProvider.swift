/// Builds Stripe endpoints: `tolerance_seconds` (default 300, as Stripe's libraries).
public enum StripeFactory: ProviderFactory {
    public static let name = "stripe"
    public static let settingKeys: Set<String> = ["tolerance_seconds"]
    public static let defaultToleranceSeconds = 300

    public static func make(_ endpoint: EndpointSettings) throws(ConfigurationError) -> any WebhookProvider {
        StripeProvider(
            secrets: endpoint.secrets,
            toleranceSeconds: Int64(
                try endpoint.integer("tolerance_seconds", default: defaultToleranceSeconds, range: 1...86_400)
            )
        )
    }
}

/// Stripe Identity `identity.verification_session.*` events, signed with `Stripe-Signature`.
public struct StripeProvider: WebhookProvider {
    public let name = StripeFactory.name
    let secrets: [Secret]
    let toleranceSeconds: Int64

    public init(secrets: [Secret], toleranceSeconds: Int64 = 300) {
        self.secrets = secrets
        self.toleranceSeconds = toleranceSeconds
    }

    /// Signature first, then the age of `t`, as stripe-python does; only past-dated timestamps are refused.
    public func authenticate(_ request: WebhookRequest, now: Timestamp) throws(Rejection) {
        let name = "Stripe-Signature"
        guard let text = request.parameters["HTTP_STRIPE_SIGNATURE"], !text.isEmpty else {
            throw .missingSignature(header: name)
        }
        let header: StripeSignatureHeader
        do {
            header = try StripeSignatureHeader.parse(text)
        } catch .unreadable {
            throw .malformedSignature(header: name, detail: "no readable t= timestamp and v1= signature")
        } catch {
            throw .malformedSignature(header: name, detail: "no signature with scheme v1")
        }
        // Stripe's libraries compare lowercase hex text; uppercase or non-hex candidates can never match.
        let candidates = header.signatures.compactMap { signature -> [UInt8]? in
            guard signature.utf8.count == 64, signature.utf8.allSatisfy(Self.isLowerHex) else { return nil }
            return Hex.decode(signature)
        }
        let prefix = Array((header.timestamp + ".").utf8)
        var matched = false
        for secret in secrets {
            let mac = Digest.hmacSHA256(secret, prefix, request.body)
            for candidate in candidates where Digest.constantTimeEqual(mac, candidate) { matched = true }
        }
        guard matched else { throw .signatureMismatch(header: name) }
        let age = Self.ageMilliseconds(of: header, now: now)
        if age > toleranceSeconds * 1000 {
            throw .timestampOutsideTolerance(ageSeconds: age / 1000, toleranceSeconds: toleranceSeconds)
        }
    }

    /// How long ago `t` was, in milliseconds; saturates for timestamps beyond 64 bits.
    static func ageMilliseconds(of header: StripeSignatureHeader, now: Timestamp) -> Int64 {
        let farPast = header.timestamp.hasPrefix("-")
        guard let seconds = header.seconds else { return farPast ? .max : .min }
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return farPast ? .max : .min }
        let (age, ageOverflow) = now.millisecondsSinceEpoch.subtractingReportingOverflow(milliseconds)
        guard !ageOverflow else { return farPast ? .max : .min }
        return age
    }

    static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
    }

    public func signatureHeaders(for body: [UInt8], now: Timestamp) -> [(name: String, value: String)] {
        let t = String(now.secondsSinceEpoch)
        let mac = Digest.hmacSHA256(secrets[0], Array((t + ".").utf8), body)
        return [(name: "Stripe-Signature", value: "t=\(t),v1=\(Hex.encode(mac))")]
    }

    public func interpret(_ payload: JSONValue, body: [UInt8]) throws(Rejection) -> Interpretation {
        try StripeEvent.interpret(payload)
    }
}
