/// The normalised result every provider's status is mapped to.
public enum Outcome: String, CaseIterable, Sendable {
    case approved
    case declined
    case resubmissionRequested = "resubmission_requested"
    case review
    case expired
    case abandoned
    case inProgress = "in_progress"
    case canceled
    case redacted
    case other
}

/// Whether a record is a decision on a session or a progress/other event.
public enum RecordKind: String, Sendable {
    case decision
    case event
}
