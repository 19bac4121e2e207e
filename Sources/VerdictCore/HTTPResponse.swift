/// A response independent of CGI framing: status, extra headers, a small JSON body.
public struct HTTPResponse: Equatable, Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
            && lhs.headers.map { "\($0.name): \($0.value)" } == rhs.headers.map { "\($0.name): \($0.value)" }
    }

    /// The answer for a refused request: `{"error":"<code>","message":"<sentence>"}`.
    public init(rejection: Rejection) {
        var writer = JSONWriter(capacity: 160)
        writer.raw("{\"error\":")
        writer.write(string: rejection.code)
        writer.raw(",\"message\":")
        writer.write(string: rejection.message)
        writer.raw("}\n")
        var headers: [(name: String, value: String)] = []
        switch rejection {
        case .methodNotAllowed(_, let allowed): headers.append(("Allow", allowed.joined(separator: ", ")))
        case .logUnavailable: headers.append(("Retry-After", "60"))
        default: break
        }
        self.init(status: rejection.status, headers: headers, body: writer.bytes)
    }

    /// The answer for a webhook whose record is on disk: `accepted` the first time, `duplicate` after.
    public static func recorded(eventID: String, outcome: Outcome, duplicate: Bool) -> HTTPResponse {
        var writer = JSONWriter(capacity: 128)
        writer.raw("{\"status\":")
        writer.write(string: duplicate ? "duplicate" : "accepted")
        writer.raw(",\"event_id\":")
        writer.write(string: eventID)
        writer.raw(",\"outcome\":")
        writer.write(string: outcome.rawValue)
        writer.raw("}\n")
        return HTTPResponse(status: 200, body: writer.bytes)
    }

    /// The answer to the health check when the log directory is writable.
    public static let healthy = HTTPResponse(status: 200, body: Array("{\"status\":\"ok\"}\n".utf8))

    /// The reason phrase for the status line.
    public var reasonPhrase: String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 411: "Length Required"
        case 413: "Payload Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}
