/// A Stripe event envelope carrying an Identity VerificationSession in `data.object`.
enum StripeEvent {
    static let typePrefix = "identity.verification_session."

    /// Event type suffix → the session status that event reports (nil: any status).
    static let expectedStatus: [String: String?] = [
        "created": "requires_input",
        "processing": "processing",
        "verified": "verified",
        "requires_input": "requires_input",
        "canceled": "canceled",
        "redacted": nil,
    ]

    /// `last_error.code`s that say the user stopped, could not go on, or needs another document or person. Any other
    /// code, including one Stripe adds later, says a check failed (a selfie that does not match or was manipulated,
    /// an ID number that does not match, a document that could not be verified): a risk a person should look at.
    static let userSideErrorCodes: Set<String> = [
        "abandoned", "consent_declined", "device_not_supported", "email_verification_declined",
        "phone_verification_declined", "country_not_supported", "document_expired", "document_type_not_supported",
        "under_supported_age",
    ]

    static func interpret(_ payload: JSONValue) throws(Rejection) -> Interpretation {
        guard let event = payload.objectValue else { throw .unexpectedPayload("expected a JSON object") }
        guard let eventID = event["id"]?.stringValue, !eventID.isEmpty else {
            throw .unexpectedPayload("id is missing")
        }
        guard let type = event["type"]?.stringValue else { throw .unexpectedPayload("type is missing") }
        let session = event["data"]?["object"]?.objectValue
        // Credentials are removed whatever the event type: every Stripe payload that reaches the log is redacted.
        var record = Interpretation(
            kind: .event,
            eventID: eventID,
            outcome: .other,
            final: false,
            payload: redacted(payload)
        )
        record.eventType = type
        record.livemode = event["livemode"]?.boolValue ?? session?["livemode"]?.boolValue
        // Overflow-checked: `created` is the sender's number, and `Timestamp(secondsSinceEpoch:)` would trap. A time
        // beyond four-digit years is no time Stripe sends, and has no place in the record's format: left out.
        if let created = event["created"]?.intValue,
            case (let milliseconds, false) = Int64(created).multipliedReportingOverflow(by: 1000),
            Timestamp.fourDigitYears.contains(Timestamp(millisecondsSinceEpoch: milliseconds))
        {
            record.decisionTime = Timestamp(millisecondsSinceEpoch: milliseconds).iso8601
        }
        // Compared as bytes: the prefix is ASCII, and walking Characters cost more than the rest of the lookup.
        guard type.utf8.starts(with: typePrefix.utf8) else {
            // Another Stripe event sent to this endpoint: logged, never classified as a decision.
            record.anomaly = "not an Identity VerificationSession event"
            return record
        }
        let suffix = String(decoding: type.utf8.dropFirst(typePrefix.utf8.count), as: UTF8.self)
        // A type Stripe adds later is logged as it comes, whatever its object holds: refusing it would make Stripe
        // retry for three days an event no later delivery could change.
        let expected = expectedStatus[suffix]
        if let session { describe(session, into: &record) }
        guard let expected else {
            record.anomaly = "unknown event type \(type)"
            return record
        }
        guard let session else { throw .unexpectedPayload("data.object is missing") }
        if let object = session["object"], object.stringValue != sessionObject {
            throw .unexpectedPayload("data.object is not an \(sessionObject)")
        }
        guard let sessionID = record.sessionID, !sessionID.isEmpty else {
            throw .unexpectedPayload("data.object.id is missing")
        }
        guard let status = record.providerStatus else { throw .unexpectedPayload("data.object.status is missing") }
        let errorCode = record.providerReasonCode
        if suffix == "redacted" {
            record.outcome = .redacted
            record.final = true
            return record
        }
        classify(status: status, errorCode: errorCode, into: &record)
        // A check that failed, in a form Stripe does not send: classified without it, and looked at by a person.
        if status == "requires_input", let lastError = session["last_error"], !lastError.isNull,
            lastError.objectValue == nil
        {
            record.anomaly = "last_error is not an object"
            record.needsReview = true
        }
        if let expected, expected != status {
            record.needsReview = true
            record.anomaly = "event type \(type) carries status \(status)"
            if record.outcome == .approved {
                record.outcome = .review
                record.final = false
                record.kind = .decision
            }
        }
        return record
    }

    /// What the record copies out of a VerificationSession, as far as it has them.
    static func describe(_ session: JSONObject, into record: inout Interpretation) {
        record.sessionID = session["id"]?.stringValue
        record.reference = session["client_reference_id"]?.stringValue
        // Stripe's metadata is an object; anything else stays only in `payload` (a record's metadata is an object or
        // null, and `verify-log` holds it to that).
        record.metadata = session["metadata"].flatMap { $0.objectValue == nil ? nil : $0 }
        record.providerStatus = session["status"]?.stringValue
        let lastError = session["last_error"]?.objectValue
        record.providerReasonCode = lastError?["code"].flatMap { $0.isNull ? nil : $0 }
        record.providerReason = lastError?["reason"]?.stringValue
    }

    /// `data.object.object` of the events this provider classifies.
    static let sessionObject = "identity.verification_session"

    static func classify(status: String, errorCode: JSONValue?, into record: inout Interpretation) {
        switch status {
        case "verified":
            record.outcome = .approved
            record.final = true
            record.kind = .decision
        case "requires_input" where errorCode != nil:
            record.outcome = .resubmissionRequested
            record.final = false
            record.kind = .decision
            record.needsReview = !(errorCode?.stringValue.map(userSideErrorCodes.contains) ?? false)
        case "requires_input", "processing":
            record.outcome = .inProgress
            record.final = false
        case "canceled":
            record.outcome = .canceled
            record.final = true
            record.kind = .decision
        default:
            record.outcome = .other
            record.needsReview = true
            record.anomaly = "unknown status \(status)"
        }
    }

    /// The session fields that grant access to the user's verification flow: they stay out of logs.
    static let credentialKeys = ["client_secret", "url"]
    /// What the log holds in their place.
    static let redactionMark = "[redacted]"

    /// Where credentials can be, under `data`: the session, and the values it had before the change an update
    /// event reports.
    static let credentialHolders = ["object", "previous_attributes"]

    /// The payload with the session's `credentialKeys` (now or before) replaced by `redactionMark`.
    static func redacted(_ payload: JSONValue) -> JSONValue {
        // Most events carry none (or null): then the payload is logged as it came, without rebuilding it.
        guard let found = payload["data"]?.objectValue,
            credentialHolders.contains(where: { holder in
                credentialKeys.contains { found[holder]?[$0]?.stringValue != nil }
            }),
            case .object(var event) = payload, case .object(var data)? = event["data"]
        else { return payload }
        for holder in credentialHolders {
            guard case .object(var object)? = data[holder] else { continue }
            for key in credentialKeys where object[key]?.stringValue != nil {
                object[key] = .string(redactionMark)
            }
            data[holder] = .object(object)
        }
        event["data"] = .object(data)
        return .object(event)
    }
}
