/// Veriff's decision webhook: a top-level `verification` object.
enum VeriffDecision {
    /// Status → outcome, finality, and the decision codes that agree with it. Classification is on the status
    /// string; the code is only a consistency check (Veriff's own pages disagree on 9104 and 9121).
    static let table: [String: (outcome: Outcome, final: Bool, codes: Set<Int>)] = [
        "approved": (.approved, true, [9001]),
        "declined": (.declined, true, [9102]),
        "resubmission_requested": (.resubmissionRequested, false, [9103]),
        "expired": (.expired, true, [9104]),
        "abandoned": (.abandoned, true, [9104, 9121]),
        "review": (.review, false, [9121]),
    ]

    static func interpret(
        _ root: JSONObject,
        payload: JSONValue,
        body: [UInt8]
    ) throws(Rejection) -> Interpretation {
        if root["verification"]?.isNull == true {
            // A signed response without a decision (`"status":"fail"`): kept for a person, never dropped.
            var record = Interpretation(
                kind: .decision,
                eventID: "veriff-" + Digest.stableKey(["no-verification", Hex.encode(Digest.sha256(body))]),
                outcome: .other,
                final: false,
                payload: payload
            )
            record.needsReview = true
            record.providerStatus = root["status"]?.stringValue
            record.anomaly = "verification is null (response status \(record.providerStatus ?? "missing"))"
            return record
        }
        guard let verification = root["verification"]?.objectValue else {
            throw .unexpectedPayload("verification must be an object")
        }
        guard let sessionID = verification["id"]?.stringValue, !sessionID.isEmpty else {
            throw .unexpectedPayload("verification.id is missing")
        }
        guard let status = verification["status"]?.stringValue else {
            throw .unexpectedPayload("verification.status is missing")
        }
        let attemptID = verification["attemptId"]?.stringValue
        let decisionTime = verification["decisionTime"]?.stringValue
        let code = verification["code"]
        let eventID =
            "veriff-"
            + Digest.stableKey(["decision", sessionID, attemptID ?? "", status, decisionTime ?? ""])

        var record: Interpretation
        if let entry = table[status] {
            record = Interpretation(
                kind: .decision,
                eventID: eventID,
                outcome: entry.outcome,
                final: entry.final,
                payload: payload
            )
            record.needsReview = entry.outcome == .review
            let anomaly: String? =
                if let code, !code.isNull {
                    code.intValue.map(entry.codes.contains) == true
                        ? nil : "code \(describe(code)) contradicts status \(status)"
                } else if entry.outcome == .approved {
                    // An approval needs its confirming code: without one the pair is unknown, and the reference
                    // (1.5) says an unknown pair goes to a person, never to approval.
                    "code is \(code == nil ? "missing" : "null") for status \(status)"
                } else {
                    // The other statuses are classified on the string and none approves, so a missing code
                    // contradicts nothing.
                    nil
                }
            if let anomaly {
                record.outcome = .review
                record.final = false
                record.needsReview = true
                record.anomaly = anomaly
            }
        } else {
            record = Interpretation(kind: .decision, eventID: eventID, outcome: .other, final: false, payload: payload)
            record.needsReview = true
            record.anomaly = "unknown status \(status)"
        }
        record.sessionID = sessionID
        record.attemptID = attemptID
        record.reference = verification["vendorData"]?.stringValue
        record.endUserID = verification["endUserId"]?.stringValue
        record.providerStatus = status
        record.providerCode = code.flatMap { $0.isNull ? nil : $0 }
        record.providerReason = verification["reason"]?.stringValue
        record.providerReasonCode = verification["reasonCode"].flatMap { $0.isNull ? nil : $0 }
        record.decisionTime = decisionTime
        return record
    }

    static func describe(_ value: JSONValue) -> String {
        var writer = JSONWriter(capacity: 16)
        writer.write(value)
        return String(decoding: writer.bytes.prefix(40), as: UTF8.self)
    }
}

/// Veriff's event webhook: progress (`started` 7001, `submitted` 7002, other 7xxx flow events).
enum VeriffEvent {
    static func interpret(_ root: JSONObject, payload: JSONValue) throws(Rejection) -> Interpretation {
        guard let sessionID = root["id"]?.stringValue, !sessionID.isEmpty else {
            throw .unexpectedPayload("id is missing")
        }
        guard let action = root["action"]?.stringValue else { throw .unexpectedPayload("action is missing") }
        let attemptID = root["attemptId"]?.stringValue
        let code = root["code"].flatMap { $0.isNull ? nil : $0 }
        var identity = ["event", sessionID, attemptID ?? "", action, code.map(VeriffDecision.describe) ?? ""]
        // Flow events of one attempt and action differ only in their context (7007 waiting_complete with the
        // reason final_decision_received, or timeout, in any combination with a state): without it the second
        // would be taken for a redelivery of the first and never logged. Only when present, so that the ids of
        // events without one stay as they were.
        if let context = root["context"], !context.isNull {
            var writer = JSONWriter(capacity: 64)
            writer.write(context)
            identity += ["context", String(decoding: writer.bytes, as: UTF8.self)]
        }
        var record = Interpretation(
            kind: .event,
            eventID: "veriff-" + Digest.stableKey(identity),
            outcome: .inProgress,
            final: false,
            payload: payload
        )
        record.eventType = action
        record.sessionID = sessionID
        record.attemptID = attemptID
        record.reference = root["vendorData"]?.stringValue
        record.endUserID = root["endUserId"]?.stringValue
        record.providerStatus = action
        record.providerCode = code
        return record
    }
}
