#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A request copied out of the web server's hands: CGI parameters and the body bytes read.
public struct GatewayRequest: Sendable {
    public var parameters: GatewayParameters
    public var body: [UInt8]

    public init(parameters: GatewayParameters, body: [UInt8]) {
        self.parameters = parameters
        self.body = body
    }
}

/// The `NAME=value` parameters the web server sent, kept as the bytes it sent. A request carries twenty or more
/// and the application reads a handful, so a value becomes a `String` only when asked for: decoding all of them
/// into a dictionary took about three times as long (3.0 against 1.0 µs for nginx's usual set and seven lookups).
public struct GatewayParameters: Sendable {
    private var bytes: [UInt8] = []
    /// Each entry's offsets in `bytes`: its start, its first `=`, its end.
    private var entries: [(start: Int32, equals: Int32, end: Int32)] = []

    /// No parameters.
    public init() {}

    /// The entries of a NULL-terminated C array (the process environment, libfcgi's `envp`), split at the first
    /// `=`; an entry without one is skipped.
    init(environment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
        var count = 0
        while environment[count] != nil { count += 1 }
        entries.reserveCapacity(count)
        bytes.reserveCapacity(1024)
        for index in 0..<count {
            guard let entry = environment[index] else { continue }
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { start in
                let text = UnsafeBufferPointer(start: start, count: length)
                guard let equals = text.firstIndex(of: UInt8(ascii: "=")) else { return }
                let offset = bytes.count
                bytes.append(contentsOf: text)
                entries.append((Int32(offset), Int32(offset + equals), Int32(offset + length)))
            }
        }
    }

    /// Adds `name=value`, which from now on is the value of `name`.
    public mutating func append(name: String, value: String) {
        let start = bytes.count
        bytes.append(contentsOf: name.utf8)
        let equals = bytes.count
        bytes.append(UInt8(ascii: "="))
        bytes.append(contentsOf: value.utf8)
        entries.append((Int32(start), Int32(equals), Int32(bytes.count)))
    }

    /// The value of the parameter `name` (a later duplicate wins), or nil. Bytes that are not UTF-8 are replaced,
    /// as `String(cString:)` does.
    public subscript(name: String) -> String? {
        var name = name
        return name.withUTF8 { wanted in
            bytes.withUnsafeBufferPointer { bytes in
                for entry in entries.reversed()
                where Int(entry.equals - entry.start) == wanted.count
                    && wanted.elementsEqual(bytes[Int(entry.start)..<Int(entry.equals)])
                {
                    return String(decoding: bytes[Int(entry.equals) + 1..<Int(entry.end)], as: UTF8.self)
                }
                return nil
            }
        }
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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(
            32 + reason.utf8.count + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
                + body.count
        )
        bytes.append(contentsOf: "Status: ".utf8)
        bytes.append(contentsOf: String(status).utf8)
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: reason.utf8)
        bytes.append(contentsOf: "\r\n".utf8)
        for header in headers {
            bytes.append(contentsOf: header.name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: header.value.utf8)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        bytes.append(contentsOf: "\r\n".utf8)
        bytes.append(contentsOf: body)
        return bytes
    }
}

/// How the transport asks the application how many body bytes to read for a request (never more than the limit,
/// so an oversized body is refused without being buffered), and what to answer.
public struct GatewayApplication: Sendable {
    public var bodyBytesToRead: @Sendable (GatewayParameters) -> Int
    public var respond: @Sendable (GatewayRequest) -> GatewayResponse
    /// When set, a FastCGI server answers through this instead of `respond`: the application may send the reply
    /// later from another thread, so the thread that accepted the request goes on to the next one meanwhile.
    public var respondLater: (@Sendable (GatewayRequest, GatewayReply) -> Void)?

    public init(
        bodyBytesToRead: @escaping @Sendable (GatewayParameters) -> Int,
        respond: @escaping @Sendable (GatewayRequest) -> GatewayResponse,
        respondLater: (@Sendable (GatewayRequest, GatewayReply) -> Void)? = nil
    ) {
        self.bodyBytesToRead = bodyBytesToRead
        self.respond = respond
        self.respondLater = respondLater
    }
}
