/// A request copied out of the web server's hands: CGI parameters and the body bytes read.
public struct GatewayRequest: Sendable {
    public var parameters: [String: String]
    public var body: [UInt8]

    public init(parameters: [String: String], body: [UInt8]) {
        self.parameters = parameters
        self.body = body
    }
}

/// A response to frame as CGI output: `Status:` line, headers, blank line, body.
public struct GatewayResponse: Sendable {
    public var status: Int
    public var reason: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, reason: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// The bytes a CGI or FastCGI responder writes.
    public var rendered: [UInt8] {
        var head = "Status: \(status) \(reason)\r\n"
        for header in headers { head += "\(header.name): \(header.value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }
}

/// How the transport asks the application how many body bytes to read for a request (never more than the limit,
/// so an oversized body is refused without being buffered), and what to answer.
public struct GatewayApplication: Sendable {
    public var bodyBytesToRead: @Sendable ([String: String]) -> Int
    public var respond: @Sendable (GatewayRequest) -> GatewayResponse

    public init(
        bodyBytesToRead: @escaping @Sendable ([String: String]) -> Int,
        respond: @escaping @Sendable (GatewayRequest) -> GatewayResponse
    ) {
        self.bodyBytesToRead = bodyBytesToRead
        self.respond = respond
    }
}
