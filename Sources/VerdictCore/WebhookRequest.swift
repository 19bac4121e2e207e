/// CGI/FastCGI parameters by name (`REQUEST_METHOD`, `HTTP_STRIPE_SIGNATURE`, …): the transport's own storage,
/// which decodes only the values asked for, or a dictionary.
public protocol RequestParameters: Sendable {
    subscript(name: String) -> String? { get }
}

extension Dictionary: RequestParameters where Key == String, Value == String {}

/// One HTTP request as the web server handed it over: CGI parameters and the raw body bytes.
public struct WebhookRequest: Sendable {
    public var parameters: any RequestParameters
    /// The body bytes actually received; may be shorter than `CONTENT_LENGTH` when the client went away.
    public var body: [UInt8]

    public init(parameters: any RequestParameters, body: [UInt8]) {
        self.parameters = parameters
        self.body = body
    }

    public var method: String { parameters["REQUEST_METHOD"] ?? "GET" }

    /// The value of request header `name` (for example `Stripe-Signature`), following the CGI naming rule.
    public func header(_ name: String) -> String? {
        parameters["HTTP_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })]
    }

    /// `CONTENT_LENGTH`: nil when absent, `.invalid` when it is not a decimal number.
    public var declaredLength: DeclaredLength {
        guard let text = parameters["CONTENT_LENGTH"], !text.isEmpty else { return .absent }
        guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else { return .invalid }
        return .bytes(value)
    }

    /// What `CONTENT_LENGTH` said.
    public enum DeclaredLength: Equatable, Sendable {
        case absent
        case invalid
        case bytes(Int)
    }

    /// The path used for routing: `PATH_INFO` under CGI, else the URI nginx passes, without the query.
    public var routingPath: String {
        for key in Self.routingKeys {
            if let value = parameters[key], !value.isEmpty {
                guard let query = value.utf8.firstIndex(of: UInt8(ascii: "?")) else { return value }
                return String(value[..<query])
            }
        }
        return "/"
    }

    private static let routingKeys = ["PATH_INFO", "DOCUMENT_URI", "SCRIPT_NAME", "REQUEST_URI"]

    /// The last non-empty segment of `routingPath`: the endpoint name.
    public var routingName: String {
        // Scanned as bytes ('/' is ASCII): the last run of non-slash bytes.
        let utf8 = routingPath.utf8
        var end = utf8.endIndex
        while end > utf8.startIndex, utf8[utf8.index(before: end)] == UInt8(ascii: "/") {
            end = utf8.index(before: end)
        }
        var start = end
        while start > utf8.startIndex, utf8[utf8.index(before: start)] != UInt8(ascii: "/") {
            start = utf8.index(before: start)
        }
        return String(decoding: utf8[start..<end], as: UTF8.self)
    }
}
