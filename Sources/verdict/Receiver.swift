import DecisionLog
import FastCGI
import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Wires the pure handler to the log: the one place where a decision meets the disk.
struct Receiver: Sendable {
    let handler: WebhookHandler
    let writer: Writer
    let retentionDays: Int

    /// How a request reaches the log.
    enum Writer: Sendable {
        /// The request's thread appends and waits (CGI, and FastCGI with fsync off).
        case direct(DirectLog)
        /// A writer thread appends batches; each answer goes out from it once the line is on disk (FastCGI, fsync on).
        case queued(CommitQueue)
    }

    /// Appends on the request's thread (CGI, and FastCGI with fsync off).
    init(configuration: Configuration) {
        self.init(configuration: configuration, writer: .direct(DirectLog(log: Self.log(configuration))))
    }

    /// Appends and answers on a writer thread that this starts (FastCGI with fsync on), sharing batches with the
    /// other processes queuing in `area`.
    static func queued(_ configuration: Configuration, area: CommitArea) throws(DecisionLogError) -> Receiver {
        Receiver(configuration: configuration, writer: .queued(try CommitQueue(log: log(configuration), area: area)))
    }

    /// Before the process exits: lets a batch being appended for other processes finish.
    func stop() {
        if case .queued(let queue) = writer { queue.stop() }
    }

    private init(configuration: Configuration, writer: Writer) {
        handler = WebhookHandler(configuration: configuration)
        self.writer = writer
        retentionDays = configuration.dedupRetentionDays
    }

    private static func log(_ configuration: Configuration) -> LogDirectory {
        LogDirectory(settings: LogSettings(directory: configuration.logDirectory, fsync: configuration.fsync))
    }

    var application: GatewayApplication {
        var application = GatewayApplication(
            bodyBytesToRead: { [handler] parameters in
                handler.bodyBytesToRead(
                    declaredLength: WebhookRequest(parameters: Parameters(parameters), body: []).declaredLength
                )
            },
            respond: { [self] request in respond(request) }
        )
        if case .queued = writer {
            application.respondLater = { [self] (request: GatewayRequest, reply: GatewayReply) in
                respond(request, send: { (response: GatewayResponse) in reply.send(response) })
            }
        }
        return application
    }

    /// Answers `gatewayRequest` and returns once the answer is known.
    func respond(_ gatewayRequest: GatewayRequest) -> GatewayResponse {
        final class Answer: @unchecked Sendable {
            var response: GatewayResponse?
            let ready = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

            init() {
                sem_init(ready, 0, 0)
            }

            deinit {
                sem_destroy(ready)
                ready.deallocate()
            }
        }
        let answer = Answer()
        respond(gatewayRequest) { response in
            answer.response = response
            sem_post(answer.ready)
        }
        while sem_wait(answer.ready) != 0 && errno == EINTR {}
        return answer.response ?? Self.gatewayResponse(HTTPResponse(rejection: .logUnavailable), method: "POST")
    }

    /// Answers `gatewayRequest` through `send`, called exactly once: on this thread, or on the writer thread once
    /// the decision is on disk.
    func respond(_ gatewayRequest: GatewayRequest, send: @escaping @Sendable (GatewayResponse) -> Void) {
        let now = Environment.now()
        let request = WebhookRequest(parameters: Parameters(gatewayRequest.parameters), body: gatewayRequest.body)
        let method = request.method
        switch handler.handle(request, now: now) {
        case .respond(let answer):
            // Why a request was refused, for the operator (the web server's error log); never a secret.
            let path = request.routingPath.prefix(200)
            let client = request.parameters["REMOTE_ADDR"] ?? "-"
            let summary = String(decoding: answer.body.prefix(300), as: UTF8.self).trimmingNewline
            Environment.report(
                "refused \(method.prefix(16)) \(path) from \(client): \(answer.status) \(summary)"
            )
            send(Self.gatewayResponse(answer, method: method))
        case .checkHealth:
            let response: HTTPResponse
            do {
                let check = { (log: LogDirectory) throws(DecisionLogError) in try log.checkWritable(day: now.utcDay) }
                switch writer {
                case .direct(let log): try log.withLog(check)
                case .queued(let queue): try queue.withLog(check)
                }
                response = .healthy
            } catch {
                Environment.report("health check failed: \(error)")
                response = HTTPResponse(rejection: .logUnavailable)
            }
            send(Self.gatewayResponse(response, method: method))
        case .record(let accepted):
            let entry = LogEntry(
                day: accepted.record.receivedAt.utcDay,
                line: accepted.line,
                key: RedeliveryKey(Digest.sha256(Array(accepted.redeliveryKey.utf8)))
            )
            let oldestDay = Timestamp(
                millisecondsSinceEpoch: now.millisecondsSinceEpoch - Int64(retentionDays) * 86_400_000
            ).utcDay
            let answer = { @Sendable (result: AppendResult) in
                let response: HTTPResponse
                switch result {
                case .appended: response = accepted.response(duplicate: false)
                case .duplicate: response = accepted.response(duplicate: true)
                case .failed:
                    // DecisionLog has already reported the cause on standard error.
                    response = HTTPResponse(rejection: .logUnavailable)
                }
                send(Self.gatewayResponse(response, method: method))
            }
            switch writer {
            case .direct(let log): answer(log.append(entry, retainFrom: oldestDay))
            case .queued(let queue): queue.append(entry, retainFrom: oldestDay, completion: answer)
            }
        }
    }

    static func gatewayResponse(_ response: HTTPResponse, method: String) -> GatewayResponse {
        GatewayResponse(
            status: response.status,
            reason: response.reasonPhrase,
            headers: [(name: "Content-Type", value: "application/json")] + response.headers,
            body: method == "HEAD" ? [] : response.body
        )
    }
}

/// The transport's parameters as the core looks them up.
private struct Parameters: RequestParameters {
    let base: GatewayParameters

    init(_ base: GatewayParameters) {
        self.base = base
    }

    subscript(name: String) -> String? { base[name] }
}

extension String {
    fileprivate var trimmingNewline: String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}
