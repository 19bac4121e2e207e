import DecisionLog
import FastCGI
import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The two request-serving modes a web server starts Verdict in.
enum Worker {
    /// Exit status for a configuration problem (sysexits' EX_CONFIG).
    static let configurationExitCode: Int32 = 78

    /// FastCGI on the listening socket passed as standard input. Accepts `--config PATH` only.
    static func runFastCGIOnStandardInput(arguments: [String]) -> Never {
        var explicit: String? = nil
        if arguments.count == 2, arguments[0] == "--config" {
            explicit = arguments[1]
        } else if arguments.count == 1, arguments[0].hasPrefix("--config=") {
            explicit = String(arguments[0].dropFirst("--config=".count))
        } else if !arguments.isEmpty {
            Environment.report(
                "as a FastCGI worker Verdict takes only --config PATH; got \(arguments.joined(separator: " "))"
            )
            exit(64)
        }
        serveFastCGI(listenSocket: 0, configuration: loadOrExit(explicit), area: nil)
    }

    /// Said when an endpoint accepts a secret everyone can read in the repository.
    static func demoSecretWarning(endpoint: String) -> String {
        "endpoint \(endpoint) accepts the demo secret published in Config/verdict.example.toml: anyone can sign "
            + "what it accepts; configure the provider's own secret"
    }

    /// Serves FastCGI requests until SIGTERM or SIGINT.
    ///
    /// - Parameter area: with fsync on, the memory the processes of one `verdict serve` share their batches in
    ///   (mapped before they were forked); nil for a process on its own.
    static func serveFastCGI(listenSocket: Int32, configuration: Configuration, area: CommitArea?) -> Never {
        for name in configuration.endpointsWithDemoSecrets {
            Environment.report("warning: " + demoSecretWarning(endpoint: name))
        }
        // With fsync, a writer thread appends and answers, so concurrent requests share a sync and the accepting
        // threads never sleep on it (see CommitQueue). Without, an append is a short `write` under the lock, and
        // handing it to another thread would cost more (a wake-up per batch) than it saves.
        let receiver: Receiver
        if configuration.fsync {
            do throws(DecisionLogError) {
                let shared: CommitArea
                if let area { shared = area } else { shared = try CommitArea(processes: 1) }
                receiver = try Receiver.queued(configuration, area: shared)
            } catch {
                Environment.report(error.description)
                exit(1)
            }
        } else {
            receiver = Receiver(configuration: configuration)
        }
        do {
            try FastCGIServer.serve(
                listenSocket: listenSocket,
                threads: configuration.threads,
                application: receiver.application
            )
        } catch {
            Environment.report(error.description)
            exit(1)
        }
        receiver.stop()
        exit(0)
    }

    /// One CGI request. A configuration problem is answered with 500 and explained on standard error, which the
    /// web server puts in its error log; the sender learns nothing about the setup.
    static func runCGI() -> Never {
        let configuration: Configuration
        do {
            configuration = try ConfigurationLoader.load(explicit: nil)
        } catch {
            Environment.report("configuration error: \(error)")
            let body = Array(
                "{\"error\":\"configuration_error\",\"message\":\"Verdict is not configured correctly; see the server's error log.\"}\n"
                    .utf8
            )
            let response = GatewayResponse(
                status: 500,
                reason: "Internal Server Error",
                headers: [(name: "Content-Type", value: "application/json")],
                body: body
            )
            CGIGateway.write(response)
            exit(0)
        }
        CGIGateway.serveOne(Receiver(configuration: configuration).application)
        exit(0)
    }

    static func loadOrExit(_ explicit: String?) -> Configuration {
        do {
            return try ConfigurationLoader.load(explicit: explicit)
        } catch {
            Environment.report("configuration error: \(error)")
            exit(configurationExitCode)
        }
    }
}
