#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Plain CGI: one request from the environment and standard input, one answer on standard output.
public enum CGIGateway {
    /// Serves the single request of this process.
    public static func serveOne(_ application: GatewayApplication) {
        var parameters = environmentParameters()
        let body: [UInt8]
        var unread = 0
        if isUnmeasuredBody(parameters) {
            // It is measured here, as nginx and mod_fcgid measure one before passing it on, keeping no more of it
            // than of a body whose length was announced (the limit: what the application reads of an endless one).
            var endless = parameters
            endless.append(name: "CONTENT_LENGTH", value: String(Int.max))
            let measured = readStandardInputToEnd(keeping: max(0, application.bodyBytesToRead(endless)))
            body = measured.kept
            // Cut short (no end within the limits): announced as one byte more than arrived, so that it is refused
            // as incomplete rather than checked as if whole.
            let length = measured.ended ? measured.length : measured.length + 1
            parameters.append(name: "CONTENT_LENGTH", value: String(length))
        } else {
            body = readStandardInput(upTo: max(0, application.bodyBytesToRead(parameters)))
            unread = parameters["CONTENT_LENGTH"].flatMap { Int($0) }.map { $0 - body.count } ?? 0
        }
        let response = application.respond(GatewayRequest(parameters: parameters, body: body))
        writeStandardOutput(response.rendered)
        discardStandardInput(count: unread)
        if hasUnmeasuredBody(parameters) && !isUnmeasuredBody(parameters) {
            // Another method's body is refused unread; it is read to its end now, for the reason
            // `discardStandardInput` gives, with the answer already ended, so that a body that never ends does not
            // delay it.
            endStandardOutput()
            _ = readStandardInputToEnd(keeping: 0)
        }
    }

    /// A body passed without `CONTENT_LENGTH`, to be read up to the end of standard input.
    static func hasUnmeasuredBody(_ parameters: GatewayParameters) -> Bool {
        parameters["CONTENT_LENGTH"] == nil && parameters["HTTP_TRANSFER_ENCODING"] != nil
    }

    /// Tells the web server the answer is complete: closes standard output, and shuts down the sending side of the
    /// socket that mod_cgid passes as both standard input and output (closing one of the two would not end it).
    static func endStandardOutput() {
        _ = shutdown(1, Int32(SHUT_WR))
        close(1)
    }

    /// Apache's mod_cgi and mod_cgid pass a chunked POST body unmeasured: without `CONTENT_LENGTH`, decoded, on
    /// standard input up to its end.
    static func isUnmeasuredBody(_ parameters: GatewayParameters) -> Bool {
        hasUnmeasuredBody(parameters) && parameters["REQUEST_METHOD"] == "POST"
    }

    /// The most of a request body read only to be dropped: reading has to end somewhere.
    static let discardLimit = 64 << 20
    /// How long an unmeasured body may pause before it is taken as ended short: a web server that never closes
    /// standard input must not keep the process forever. A webhook's body comes at once.
    static let idleMilliseconds: Int32 = 5000

    /// Reads and drops up to `count` bytes of standard input (at most `discardLimit`). Called after the answer is
    /// written: under mod_cgid standard input and output are one unix socket, and a process that exits with
    /// request bytes still unread resets it, so Apache loses the answer ("Connection reset by peer", a truncated
    /// response).
    static func discardStandardInput(count: Int) {
        _ = consumeStandardInput(upTo: min(count, discardLimit), keeping: 0, idleMilliseconds: -1)
    }

    /// Reads standard input to its end, keeping its first `keeping` bytes; returns them, the length read, and
    /// whether that was the end. It stops short at `keeping + discardLimit` bytes, or when nothing arrives for
    /// `idleMilliseconds`.
    static func readStandardInputToEnd(keeping: Int) -> (kept: [UInt8], length: Int, ended: Bool) {
        consumeStandardInput(upTo: keeping + discardLimit, keeping: keeping, idleMilliseconds: idleMilliseconds)
    }

    /// Reads standard input until its end or `limit` bytes, keeping the first `keeping` of them (the buffer grows as
    /// they come), and gives up when nothing arrives for `idle` milliseconds (-1: waits as long as it takes).
    private static func consumeStandardInput(
        upTo limit: Int,
        keeping: Int,
        idleMilliseconds idle: Int32
    ) -> (kept: [UInt8], length: Int, ended: Bool) {
        var kept: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 65_536)
        var length = 0
        var input = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        while length < limit {
            if idle >= 0 {
                var ready: Int32
                repeat { ready = poll(&input, 1, idle) } while ready < 0 && errno == EINTR
                guard ready > 0 else { return (kept, length, false) }
            }
            let n = scratch.withUnsafeMutableBytes { read(0, $0.baseAddress!, min($0.count, limit - length)) }
            if n > 0 {
                if kept.count < keeping { kept += scratch[0..<min(n, keeping - kept.count)] }
                length += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return (kept, length, n == 0)
            }
        }
        return (kept, length, false)
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
        let parameters = environmentParameters()
        if let declared = parameters["CONTENT_LENGTH"].flatMap({ Int($0) }) {
            discardStandardInput(count: declared)
        } else if hasUnmeasuredBody(parameters) {
            endStandardOutput()
            _ = readStandardInputToEnd(keeping: 0)
        }
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
