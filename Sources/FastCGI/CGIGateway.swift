#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Plain CGI: one request from the environment and standard input, one answer on standard output.
public enum CGIGateway {
    /// Serves the single request of this process.
    public static func serveOne(_ application: GatewayApplication) {
        let parameters = environmentParameters()
        let wanted = max(0, application.bodyBytesToRead(parameters))
        let body = readStandardInput(upTo: wanted)
        let response = application.respond(GatewayRequest(parameters: parameters, body: body))
        writeStandardOutput(response.rendered)
        discardUnreadBody(alreadyRead: body.count)
    }

    /// Reads and drops what is left of the request body (at most `limit` bytes), after the answer is written.
    /// Under mod_cgid standard input and output are one unix socket: a process that exits with request bytes
    /// still unread resets it, and Apache loses the answer ("Connection reset by peer", a truncated response).
    static func discardUnreadBody(alreadyRead: Int, limit: Int = 64 << 20) {
        guard let declared = getenv("CONTENT_LENGTH").flatMap({ Int(String(cString: $0)) }) else { return }
        var left = min(declared - alreadyRead, limit)
        var scratch = [UInt8](repeating: 0, count: 65_536)
        while left > 0 {
            let n = scratch.withUnsafeMutableBytes { read(0, $0.baseAddress!, min($0.count, left)) }
            if n > 0 {
                left -= n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
    }

    /// The process environment (CGI passes parameters there).
    static func environmentParameters() -> GatewayParameters {
        GatewayParameters(environment: environ)
    }

    /// Reads up to `count` bytes; fewer when the client went away (the caller compares with `CONTENT_LENGTH`).
    static func readStandardInput(upTo count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var body = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = body.withUnsafeMutableBytes { buffer in
                read(0, buffer.baseAddress! + filled, count - filled)
            }
            if n > 0 {
                filled += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        body.removeLast(count - filled)
        return body
    }

    /// Writes a response to standard output (for answers given without reading a request).
    public static func write(_ response: GatewayResponse) {
        writeStandardOutput(response.rendered)
        discardUnreadBody(alreadyRead: 0)
    }

    static func writeStandardOutput(_ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                Glibc.write(1, buffer.baseAddress! + written, bytes.count - written)
            }
            if n > 0 {
                written += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
