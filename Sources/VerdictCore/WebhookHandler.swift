/// The whole decision path for one request, with no I/O: route, check method and size, verify the signature over
/// the raw bytes, parse, classify, and build the log line. The same request and time always give the same action.
public struct WebhookHandler: Sendable {
    public let endpoints: [Configuration.Endpoint]
    public let maxBodyBytes: Int

    public init(endpoints: [Configuration.Endpoint], maxBodyBytes: Int) {
        self.endpoints = endpoints
        self.maxBodyBytes = maxBodyBytes
    }

    public init(configuration: Configuration) {
        self.init(endpoints: configuration.endpoints, maxBodyBytes: configuration.maxBodyBytes)
    }

    /// What the caller must do with a request.
    public enum Action: Sendable {
        /// Answer now; nothing is written.
        case respond(HTTPResponse)
        /// Answer with `HTTPResponse.healthy` when the log directory is writable, else `Rejection.logUnavailable`.
        case checkHealth
        /// Append `line` unless `redeliveryKey` is already logged, then answer with `response(duplicate:)`.
        case record(Accepted)
    }

    /// A verified, classified webhook waiting to be logged.
    public struct Accepted: Sendable {
        public var record: DecisionRecord
        /// The record as one JSON line.
        public var line: [UInt8]
        /// Identifies a redelivery: the endpoint and the event id.
        public var redeliveryKey: String

        /// The 200 answer once the line (or an earlier copy of it) is on disk.
        public func response(duplicate: Bool) -> HTTPResponse {
            .recorded(
                eventID: record.interpretation.eventID,
                outcome: record.interpretation.outcome,
                duplicate: duplicate
            )
        }
    }

    /// Decides what to do with `request`, received at `now`.
    public func handle(_ request: WebhookRequest, now: Timestamp) -> Action {
        do throws(Rejection) {
            return try decide(request, now: now)
        } catch {
            return .respond(HTTPResponse(rejection: error))
        }
    }

    private func decide(_ request: WebhookRequest, now: Timestamp) throws(Rejection) -> Action {
        let name = request.routingName
        if name == Configuration.healthName {
            guard request.method == "GET" || request.method == "HEAD" else {
                throw .methodNotAllowed(method: request.method, allowed: ["GET", "HEAD"])
            }
            return .checkHealth
        }
        guard let endpoint = endpoints.first(where: { $0.name == name }) else { throw .unknownEndpoint(name) }
        guard request.method == "POST" else { throw .methodNotAllowed(method: request.method, allowed: ["POST"]) }
        guard case .bytes(let declared) = request.declaredLength else { throw .lengthRequired }
        guard declared <= maxBodyBytes else { throw .bodyTooLarge(limit: maxBodyBytes) }
        guard request.body.count >= declared else {
            throw .truncatedBody(declared: declared, received: request.body.count)
        }
        let body = request.body.count == declared ? request.body : Array(request.body.prefix(declared))
        let authenticated = WebhookRequest(parameters: request.parameters, body: body)

        try endpoint.provider.authenticate(authenticated, now: now)
        let payload: JSONValue
        do {
            payload = try JSONParser.parse(body)
        } catch {
            throw .invalidPayload(error)
        }
        let interpretation = try endpoint.provider.interpret(payload, body: body)
        let record = DecisionRecord(
            receivedAt: now,
            endpoint: endpoint.name,
            provider: endpoint.provider.name,
            interpretation: interpretation
        )
        // An unchanged payload still shares the parsed tree's storage, so this comparison is immediate; a redacted
        // one is written from its tree.
        let unchanged = interpretation.payload == payload
        return .record(
            Accepted(
                record: record,
                line: record.jsonLine(payloadText: unchanged ? body : nil),
                redeliveryKey: endpoint.name + "\u{0}" + interpretation.eventID
            )
        )
    }

    /// How many body bytes the transport should read for `request`'s `CONTENT_LENGTH`: never more than the limit,
    /// so an oversized body is refused without being buffered.
    public func bodyBytesToRead(declaredLength: WebhookRequest.DeclaredLength) -> Int {
        guard case .bytes(let declared) = declaredLength else { return 0 }
        return min(declared, maxBodyBytes)
    }
}
