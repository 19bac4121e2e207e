import DecisionLog
import FastCGI
import VerdictCore

/// Wires the pure handler to the log: the one place where a decision meets the disk.
struct Receiver: Sendable {
    let handler: WebhookHandler
    let commit: GroupCommit
    let retentionDays: Int

    init(configuration: Configuration) {
        handler = WebhookHandler(configuration: configuration)
        commit = GroupCommit(
            log: LogDirectory(settings: LogSettings(directory: configuration.logDirectory, fsync: configuration.fsync))
        )
        retentionDays = configuration.dedupRetentionDays
    }

    var application: GatewayApplication {
        GatewayApplication(
            bodyBytesToRead: { [handler] parameters in
                handler.bodyBytesToRead(declaredLength: WebhookRequest(parameters: parameters, body: []).declaredLength)
            },
            respond: { [self] request in respond(request) }
        )
    }

    func respond(_ gatewayRequest: GatewayRequest) -> GatewayResponse {
        let now = Environment.now()
        let request = WebhookRequest(parameters: gatewayRequest.parameters, body: gatewayRequest.body)
        let response: HTTPResponse
        switch handler.handle(request, now: now) {
        case .respond(let answer):
            response = answer
            // Why a request was refused, for the operator (the web server's error log); never a secret.
            let path = request.routingPath.prefix(200)
            let client = request.parameters["REMOTE_ADDR"] ?? "-"
            let summary = String(decoding: answer.body.prefix(300), as: UTF8.self).trimmingNewline
            Environment.report(
                "refused \(request.method.prefix(16)) \(path) from \(client): \(answer.status) \(summary)"
            )
        case .checkHealth:
            do {
                try commit.withLog { (log: LogDirectory) throws(DecisionLogError) in
                    try log.checkWritable(day: now.utcDay)
                }
                response = .healthy
            } catch {
                Environment.report("health check failed: \(error)")
                response = HTTPResponse(rejection: .logUnavailable)
            }
        case .record(let accepted):
            let entry = LogEntry(
                day: accepted.record.receivedAt.utcDay,
                line: accepted.line,
                key: RedeliveryKey(Digest.sha256(Array(accepted.redeliveryKey.utf8)))
            )
            let oldestDay = Timestamp(
                millisecondsSinceEpoch: now.millisecondsSinceEpoch - Int64(retentionDays) * 86_400_000
            ).utcDay
            switch commit.append(entry, retainFrom: oldestDay) {
            case .appended: response = accepted.response(duplicate: false)
            case .duplicate: response = accepted.response(duplicate: true)
            case .failed:
                // DecisionLog has already reported the cause on standard error.
                response = HTTPResponse(rejection: .logUnavailable)
            }
        }
        return GatewayResponse(
            status: response.status,
            reason: response.reasonPhrase,
            headers: [(name: "Content-Type", value: "application/json")] + response.headers,
            body: request.method == "HEAD" ? [] : response.body
        )
    }
}

extension String {
    fileprivate var trimmingNewline: String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}
