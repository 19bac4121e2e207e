import ArgumentParser
import DecisionLog
import FastCGI
import SystemPackage
import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The command line, for people: serving on a socket, checking the configuration, signing test requests.
struct VerdictCommand: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "verdict",
        abstract: "Receive, verify, classify and durably log identity-verification decision webhooks.",
        discussion: """
            Started by a web server, Verdict picks its mode itself: FastCGI when standard input is a listening \
            socket (spawn-fcgi, systemd, mod_fcgid), plain CGI when GATEWAY_INTERFACE is set. The configuration \
            is read from --config, $VERDICT_CONFIG, or verdict.toml next to the executable.
            """,
        subcommands: [Serve.self, CheckConfig.self, Sign.self, VerifyLog.self, Version.self]
    )
}

extension VerdictCommand {
    /// `main()`, except that SIGTERM and SIGINT stay blocked only for `serve`, which takes them with `sigwait`;
    /// every other command stops on them as usual.
    static func main(stopSignals: StopSignals) {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        if !(command is Serve) { stopSignals.restore() }
        do {
            try command.run()
        } catch let failure as ValidationError {
            // Found while running: ArgumentParser would print the top-level usage with it, not this command's.
            let name = type(of: command)._commandName
            Environment.report("\(failure.message) (see 'verdict \(name) --help')")
            Glibc.exit(ExitCode.validationFailure.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The configuration file (default: $VERDICT_CONFIG, else verdict.toml beside verdict).")
    var config: String?

    func load() throws -> Configuration {
        do {
            return try ConfigurationLoader.load(explicit: config)
        } catch {
            throw ValidationFailure(message: "configuration error: \(error)", code: Worker.configurationExitCode)
        }
    }
}

/// An error that prints its message and exits with `code`.
struct ValidationFailure: Error, CustomStringConvertible {
    var message: String
    var code: Int32
    var description: String { message }
}

extension ParsableCommand {
    static func exitWith(_ failure: ValidationFailure) -> Never {
        Environment.report(failure.message)
        Glibc.exit(failure.code)
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Listen for FastCGI requests on a unix socket that Verdict creates."
    )

    @OptionGroup var options: ConfigOption

    @Option(
        name: .long,
        help: "Path of the unix socket to create (a stale socket is replaced; anything else there is refused)."
    )
    var socket: String

    @Option(name: .long, help: "Permissions of the socket, in octal; the web server's user must be able to connect.")
    var socketMode: String = "0660"

    @Option(
        name: .long,
        help: """
            Group of the socket, a name in /etc/group or a number (default: serve's own). Give the web server's \
            group, of which serve's user is a member, so that it can connect while the log stays closed to it.
            """
    )
    var socketGroup: String?

    @Option(name: .long, help: "Worker processes; a worker that dies is restarted.")
    var processes: Int = 1

    func run() throws {
        guard let mode = UInt32(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("--socket-mode must be octal permissions such as 0660")
        }
        guard (1...64).contains(processes) else { throw ValidationError("--processes must be between 1 and 64") }
        let configuration: Configuration
        do {
            configuration = try options.load()
        } catch let failure as ValidationFailure {
            Self.exitWith(failure)
        }
        var group: UInt32? = nil
        if let socketGroup {
            guard let found = Environment.groupID(socketGroup) else {
                throw ValidationError("--socket-group: no group \(socketGroup)")
            }
            group = found
        }
        let path = Environment.absolute(socket)
        let listenSocket: ListeningSocket
        do {
            listenSocket = try FastCGIServer.openSocket(path: path, mode: mode, group: group)
        } catch {
            Self.exitWith(ValidationFailure(message: error.description, code: 1))
        }
        // Mapped here, before the workers are forked, so that they all share it.
        var area: CommitArea? = nil
        if configuration.fsync {
            do throws(DecisionLogError) {
                area = try CommitArea(processes: processes)
            } catch {
                Self.exitWith(ValidationFailure(message: error.description, code: 1))
            }
        }
        Supervisor.run(processes: processes, socket: listenSocket) {
            Worker.serveFastCGI(listenSocket: listenSocket.descriptor, configuration: configuration, area: area)
        }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print what Verdict would do with it."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let configuration: Configuration
        do {
            configuration = try options.load()
        } catch let failure as ValidationFailure {
            Self.exitWith(failure)
        }
        print("configuration OK: \(configuration.file)")
        let logAccess = LogDirectory.access(configuration.logDirectory, day: Environment.now().utcDay)
        let state =
            switch logAccess {
            case .writable: "writable"
            case .creatable: "will be created"
            case .notWritable(configuration.logDirectory): "NOT WRITABLE by this user"
            case .notWritable(let inside): "NOT WRITABLE by this user: \(inside)"
            case .notCreatable(let reason): "CANNOT BE CREATED: \(reason)"
            }
        print("  log_dir: \(configuration.logDirectory) (\(state))")
        if let exposure = LogDirectory.exposure(configuration.logDirectory) {
            print("  WARNING: log_dir is \(exposure)")
        }
        print(
            "  fsync: \(configuration.fsync), max_body_bytes: \(configuration.maxBodyBytes), "
                + "dedup_retention_days: \(configuration.dedupRetentionDays), threads: \(configuration.threads)"
        )
        for endpoint in configuration.endpoints {
            print("  endpoint \(endpoint.name): provider \(endpoint.provider.name), path .../\(endpoint.name)")
        }
        for name in configuration.endpointsWithDemoSecrets {
            print("  WARNING: \(Worker.demoSecretWarning(endpoint: name))")
        }
        // Run as Verdict's user, this is what every webhook would meet: 503 log_unavailable.
        let blocked: String? =
            switch logAccess {
            case .writable, .creatable: nil
            case .notWritable(let path): "write \(path)"
            case .notCreatable: "create the log directory \(configuration.logDirectory)"
            }
        if let blocked {
            Self.exitWith(
                ValidationFailure(
                    message: "this user cannot \(blocked): webhooks would be answered 503 "
                        + "(run check-config as the user Verdict runs as)",
                    code: 73
                )
            )
        }
    }
}

struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign a body as the endpoint's provider would, to test the whole path with curl.",
        discussion: """
            Prints one "Name: value" line per header. With --url, prints a complete curl command instead.
            Example: verdict sign --config run/verdict.toml --endpoint veriff \\
                       --url https://127.0.0.1:8443/webhooks/veriff body.json | sh
            """
    )

    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: "The configured endpoint whose first secret signs the body.")
    var endpoint: String

    @Option(name: .long, help: "Unix time for Stripe's t= (default: now).")
    var timestamp: Int64?

    @Option(name: .long, help: "Print a curl command that posts the signed body to this URL.")
    var url: String?

    @Argument(help: "The body file (default: standard input).")
    var bodyFile: String?

    func run() throws {
        let configuration: Configuration
        do {
            configuration = try options.load()
        } catch let failure as ValidationFailure {
            Self.exitWith(failure)
        }
        guard let target = configuration.endpoint(named: endpoint) else {
            let names = configuration.endpoints.map(\.name).joined(separator: ", ")
            throw ValidationError("no endpoint named \"\(endpoint)\" in \(configuration.file) (configured: \(names))")
        }
        // Signed as the bytes they are: a body that is not UTF-8 is how `invalid_utf8` is tested.
        let body: [UInt8]
        do {
            body = try ConfigurationLoader.readBytes(bodyFile ?? "/dev/stdin")
        } catch {
            throw ValidationError("cannot read the body: \(error)")
        }
        if url != nil, bodyFile == nil, String(validating: body, as: UTF8.self) == nil {
            throw ValidationError(
                "the body on standard input is not UTF-8, so it cannot be written into a curl command: "
                    + "give it as a file (verdict sign --url URL body-file)"
            )
        }
        if let timestamp, !(0...253_402_300_799).contains(timestamp) {
            throw ValidationError("--timestamp must be a Unix time from 0 to 253402300799 (the end of year 9999)")
        }
        let now = timestamp.map { Timestamp(secondsSinceEpoch: $0) } ?? Environment.now()
        let headers = target.provider.signatureHeaders(for: body, now: now)
        guard let url else {
            for header in headers { print("\(header.name): \(header.value)") }
            return
        }
        // Certificates are checked as the provider checks them, except on this machine's own loopback, where a
        // self-signed one (the quick start's) is the usual case. (Plain http has none to check.)
        let insecure = url.lowercased().hasPrefix("https://") && Self.isLoopback(url)
        var command = "curl -sS" + (insecure ? " -k" : "") + " -X POST -H 'Content-Type: application/json'"
        for header in headers { command += " -H " + shellQuoted("\(header.name): \(header.value)") }
        if let bodyFile {
            command += " --data-binary @" + shellQuoted(bodyFile)
        } else {
            command += " --data-binary " + shellQuoted(String(decoding: body, as: UTF8.self))  // UTF-8: checked above
        }
        print(command + " " + shellQuoted(url))
    }

    /// Whether `url`'s host is this machine's loopback: `localhost`, `127.x.x.x` or `[::1]`.
    static func isLoopback(_ url: String) -> Bool {
        let afterScheme = url.firstRange(of: "://").map { url[$0.upperBound...] } ?? Substring(url)
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostAndPort = authority.split(separator: "@").last ?? authority
        let host: Substring
        if hostAndPort.hasPrefix("[") {
            host = hostAndPort.prefix { $0 != "]" }.dropFirst()
        } else {
            host = hostAndPort.prefix { $0 != ":" }
        }
        var ipv4 = in_addr()
        if inet_pton(AF_INET, String(host), &ipv4) == 1 { return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127 }
        return host.lowercased() == "localhost" || host == "::1"
    }

    func shellQuoted(_ text: String) -> String {
        "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() {
        print("verdict \(VerdictCommand.version)")
    }
}

struct VerifyLog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-log",
        abstract:
            "Check every line of every decision file: whole, a record the schema allows, in its own day's file, "
            + "no event logged twice."
    )

    @Argument(help: "The log directory.")
    var directory: String

    func run() throws {
        let report = LogVerifier.verify(directory: directory)
        for line in report.cutShort + report.problems { print(line) }
        let cutShort = report.cutShort.isEmpty ? "" : ", \(counted(report.cutShort.count, "line")) cut short"
        print(
            "\(counted(report.files, "file")), \(counted(report.lines, "line")), "
                + counted(report.problems.count, "problem") + cutShort
        )
        if !report.problems.isEmpty { throw ExitCode(1) }
    }
}

/// "1 file", "2 files": the nouns `verify-log` counts all take an "s".
private func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
