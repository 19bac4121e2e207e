/// Why a request was refused. `HTTPResponse(rejection:)` is the one place that turns each case into a status.
public enum Rejection: Error, Equatable, Sendable {
    case unknownEndpoint(String)
    case methodNotAllowed(method: String, allowed: [String])
    case lengthRequired
    case bodyTooLarge(limit: Int)
    case truncatedBody(declared: Int, received: Int)
    case missingSignature(header: String)
    case malformedSignature(header: String, detail: String)
    case signatureMismatch(header: String)
    case timestampOutsideTolerance(ageSeconds: Int64, toleranceSeconds: Int64)
    case authClientMismatch
    case invalidPayload(JSONParseError)
    case unexpectedPayload(String)
    case logUnavailable

    /// The HTTP status this rejection is answered with.
    public var status: Int {
        switch self {
        case .unknownEndpoint: 404
        case .methodNotAllowed: 405
        case .lengthRequired: 411
        case .bodyTooLarge: 413
        case .truncatedBody, .invalidPayload, .unexpectedPayload: 400
        case .missingSignature, .malformedSignature, .signatureMismatch, .timestampOutsideTolerance,
            .authClientMismatch:
            401
        case .logUnavailable: 503
        }
    }

    /// A stable machine-readable code for the `error` field.
    public var code: String {
        switch self {
        case .unknownEndpoint: "unknown_endpoint"
        case .methodNotAllowed: "method_not_allowed"
        case .lengthRequired: "length_required"
        case .bodyTooLarge: "body_too_large"
        case .truncatedBody: "truncated_body"
        case .missingSignature: "missing_signature"
        case .malformedSignature: "malformed_signature"
        case .signatureMismatch: "signature_mismatch"
        case .timestampOutsideTolerance: "stale_timestamp"
        case .authClientMismatch: "auth_client_mismatch"
        case .invalidPayload(let error):
            switch error {
            case .invalidUTF8: "invalid_utf8"
            case .nestingTooDeep: "nesting_too_deep"
            case .numberTooLong: "number_too_long"
            case .duplicateKey: "duplicate_key"
            case .syntax: "invalid_json"
            }
        case .unexpectedPayload: "unexpected_payload"
        case .logUnavailable: "log_unavailable"
        }
    }

    /// One sentence for the sender. Never contains a secret or an expected signature.
    public var message: String {
        switch self {
        case .unknownEndpoint(let name):
            "No endpoint is configured for the path segment \"\(String(name.prefix(64)))\"."
        case .methodNotAllowed(let method, let allowed):
            "Method \(String(method.prefix(16))) is not allowed here; use \(allowed.joined(separator: " or "))."
        case .lengthRequired: "The request has no valid Content-Length."
        case .bodyTooLarge(let limit): "The body is larger than the configured limit of \(limit) bytes."
        case .truncatedBody(let declared, let received):
            "The body ended after \(received) of the \(declared) bytes announced."
        case .missingSignature(let header): "The request has no \(header) header."
        case .malformedSignature(let header, let detail): "The \(header) header is malformed: \(detail)."
        case .signatureMismatch(let header): "The \(header) header does not match the body for any configured secret."
        case .timestampOutsideTolerance(let age, let tolerance):
            "The signature timestamp is \(age) s old, more than the tolerance of \(tolerance) s."
        case .authClientMismatch: "The X-AUTH-CLIENT header does not match the configured API key."
        case .invalidPayload(let error): error.message
        case .unexpectedPayload(let detail): "The signed body is not a payload this provider sends: \(detail)."
        case .logUnavailable: "The decision could not be written to the log; retry later."
        }
    }
}
