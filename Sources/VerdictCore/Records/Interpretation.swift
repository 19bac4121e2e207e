/// What a provider made of one verified payload: the classification plus the provider's own words, kept verbatim.
public struct Interpretation: Equatable, Sendable {
    public var kind: RecordKind
    /// The redelivery key: Stripe's `evt_…`, or a stable key derived from the payload for Veriff.
    public var eventID: String
    public var eventType: String?
    public var sessionID: String?
    public var attemptID: String?
    /// The customer's own reference (Veriff `vendorData`, Stripe `client_reference_id`).
    public var reference: String?
    public var endUserID: String?
    public var metadata: JSONValue?
    public var outcome: Outcome
    /// False when the provider will send more for this session.
    public var final: Bool
    /// True when a person should look: a review status, an unknown status, a failed check (Stripe), or a code that
    /// contradicts the status.
    public var needsReview: Bool
    /// Why the classification is not the plain one, when it is not.
    public var anomaly: String?
    public var providerStatus: String?
    public var providerCode: JSONValue?
    public var providerReason: String?
    public var providerReasonCode: JSONValue?
    public var decisionTime: String?
    public var livemode: Bool?
    /// The payload as received, minus credentials the provider embeds (see `PayloadRedaction`).
    public var payload: JSONValue

    public init(
        kind: RecordKind,
        eventID: String,
        outcome: Outcome,
        final: Bool,
        payload: JSONValue
    ) {
        self.kind = kind
        self.eventID = eventID
        self.outcome = outcome
        self.final = final
        self.needsReview = false
        self.payload = payload
    }
}
