/// One line of the decision log: the contract with every consumer. Field order is fixed; see the README and
/// `Config/verdict-record.schema.json`.
public struct DecisionRecord: Equatable, Sendable {
    public static let schemaVersion = 1
    /// How deep a line may nest: the payload (up to `JSONParser.defaultMaxDepth` levels) sits inside the record.
    public static let maxDepth = JSONParser.defaultMaxDepth + 1

    public var receivedAt: Timestamp
    public var endpoint: String
    public var provider: String
    public var interpretation: Interpretation

    public init(receivedAt: Timestamp, endpoint: String, provider: String, interpretation: Interpretation) {
        self.receivedAt = receivedAt
        self.endpoint = endpoint
        self.provider = provider
        self.interpretation = interpretation
    }

    /// The record as one UTF-8 JSON line ending in `\n`, with no newline inside.
    ///
    /// - Parameter payloadText: the JSON text `interpretation.payload` was parsed from, when the payload is exactly
    ///   that (nothing redacted): it is then copied compacted rather than serialised again from the tree.
    public func jsonLine(payloadText: [UInt8]? = nil) -> [UInt8] {
        let i = interpretation
        var w = JSONWriter(capacity: 2048)
        w.raw("{\"schema_version\":")
        w.write(integer: Self.schemaVersion)
        w.raw(",\"received_at\":")
        w.write(string: receivedAt.iso8601)
        w.raw(",\"endpoint\":")
        w.write(string: endpoint)
        w.raw(",\"provider\":")
        w.write(string: provider)
        w.raw(",\"kind\":")
        w.write(string: i.kind.rawValue)
        w.raw(",\"event_id\":")
        w.write(string: i.eventID)
        w.raw(",\"event_type\":")
        w.write(optional: i.eventType)
        w.raw(",\"session_id\":")
        w.write(optional: i.sessionID)
        w.raw(",\"attempt_id\":")
        w.write(optional: i.attemptID)
        w.raw(",\"reference\":")
        w.write(optional: i.reference)
        w.raw(",\"end_user_id\":")
        w.write(optional: i.endUserID)
        w.raw(",\"metadata\":")
        w.write(i.metadata ?? .null)
        w.raw(",\"outcome\":")
        w.write(string: i.outcome.rawValue)
        w.raw(",\"final\":")
        w.write(.bool(i.final))
        w.raw(",\"needs_review\":")
        w.write(.bool(i.needsReview))
        w.raw(",\"anomaly\":")
        w.write(optional: i.anomaly)
        w.raw(",\"provider_status\":")
        w.write(optional: i.providerStatus)
        w.raw(",\"provider_code\":")
        w.write(i.providerCode ?? .null)
        w.raw(",\"provider_reason\":")
        w.write(optional: i.providerReason)
        w.raw(",\"provider_reason_code\":")
        w.write(i.providerReasonCode ?? .null)
        w.raw(",\"decision_time\":")
        w.write(optional: i.decisionTime)
        w.raw(",\"livemode\":")
        w.write(i.livemode.map(JSONValue.bool) ?? .null)
        w.raw(",\"payload\":")
        if let payloadText { w.write(compacting: payloadText) } else { w.write(i.payload) }
        w.raw("}\n")
        return w.bytes
    }
}

extension JSONWriter {
    mutating func write(optional text: String?) {
        if let text { write(string: text) } else { raw("null") }
    }
}
