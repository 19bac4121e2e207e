/// Verdict's settings, validated. Built from the configuration file; secret files are read through a closure so
/// the core itself does no I/O.
public struct Configuration: Sendable {
    public static let defaultMaxBodyBytes = 1_048_576
    public static let defaultRetentionDays = 10
    /// Threads serving requests per FastCGI process. With fsync, a request waiting for its sync holds none of them
    /// (the writer thread answers it), so a few per core are enough; without, each thread appends its own line (a
    /// short `write`), and more threads would only wait for each other.
    public static func defaultThreads(fsync: Bool) -> Int { fsync ? 4 : 2 }
    /// The path segment answered by the health check; no endpoint may use it.
    public static let healthName = "healthz"

    /// An endpoint's name: one or more ASCII letters, digits, '-', '_' or '.' (the URL's last path segment).
    static func isEndpointName(_ name: String) -> Bool {
        // "." and "..": a web server resolves them away, so no request path could end in them.
        !name.isEmpty && name != "." && name != ".."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }

    public var file: String
    public var logDirectory: String
    public var maxBodyBytes: Int
    public var fsync: Bool
    public var dedupRetentionDays: Int
    public var threads: Int
    public var endpoints: [Endpoint]
    /// True when a secret is written in the file itself, so the file must be private.
    public var hasInlineSecrets: Bool
    /// The secret files named, resolved, for permission checks.
    public var secretFiles: [String]
    /// The endpoints that accept a secret published in `Config/verdict.example.toml` (fine for a demo; in production
    /// anyone could sign an approval).
    public var endpointsWithDemoSecrets: [String]

    /// The example configuration's secrets, which are public.
    static let demoSecrets: Set<[UInt8]> = [
        Array("00000000-demo-demo-demo-veriffsecret".utf8),
        Array("whsec_demo_0000000000000000000000000000000000000000".utf8),
    ]

    /// One configured webhook URL.
    public struct Endpoint: Sendable {
        public var name: String
        public var provider: any WebhookProvider
    }

    /// Reads the top-level keys and every `[[endpoint]]`.
    ///
    /// - Parameters:
    ///   - document: the parsed file.
    ///   - readSecretFile: returns a secret file's contents (already resolved against the config's folder).
    public init(
        _ document: ConfigDocument,
        readSecretFile: (String) throws(ConfigurationError) -> String
    ) throws(ConfigurationError) {
        let file = document.file
        self.file = file
        let top = SettingsReader(table: document.topLevel, file: file)
        try top.rejectUnknown(allowed: ["log_dir", "max_body_bytes", "fsync", "dedup_retention_days", "threads"])
        let logDirectory = try top.requiredString("log_dir")
        // Resolved, an empty path would be the configuration's own folder, secrets and all.
        guard !logDirectory.trimmingSpaces.isEmpty else { throw top.error("log_dir", "is empty") }
        self.logDirectory = Self.resolve(logDirectory, against: file)
        maxBodyBytes = try top.integer("max_body_bytes", default: Self.defaultMaxBodyBytes, range: 1...(64 << 20))
        fsync = try top.bool("fsync", default: true)
        // Veriff retries for 7 days: a shorter memory would let a late retry through as new.
        dedupRetentionDays = try top.integer(
            "dedup_retention_days",
            default: Self.defaultRetentionDays,
            range: 8...3650
        )
        threads = try top.integer("threads", default: Self.defaultThreads(fsync: fsync), range: 1...256)

        guard !document.endpoints.isEmpty else {
            throw ConfigurationError(file: file, problem: "no [[endpoint]] is configured")
        }
        var endpoints: [Endpoint] = []
        var inline = false
        var secretFiles: [String] = []
        var withDemoSecrets: [String] = []
        for table in document.endpoints {
            let reader = SettingsReader(table: table, file: file)
            let name = try reader.requiredString("name")
            guard Self.isEndpointName(name) else {
                throw reader.error("name", "must be letters, digits, '-', '_' or '.' (it is the URL's last segment)")
            }
            guard name != Self.healthName else {
                throw reader.error("name", "\"\(Self.healthName)\" is reserved for the health check")
            }
            if endpoints.contains(where: { $0.name == name }) {
                throw reader.error("name", "another endpoint is already named \"\(name)\"")
            }
            let providerName = try reader.requiredString("provider")
            guard let factory = ProviderRegistry.factory(named: providerName) else {
                let known = ProviderRegistry.factories.map { "\"\($0.name)\"" }.joined(separator: ", ")
                throw reader.error("provider", "unknown provider \"\(providerName)\"; expected one of \(known)")
            }
            try reader.rejectUnknown(
                allowed: Set(["name", "provider", "secrets", "secret_files"]).union(factory.settingKeys)
            )
            var secrets = try reader.strings("secrets").map(Secret.init)
            if !secrets.isEmpty { inline = true }
            for path in try reader.strings("secret_files") {
                let resolved = Self.resolve(path, against: file)
                secretFiles.append(resolved)
                let contents = try readSecretFile(resolved)
                // One secret per non-empty line, so a rotation can list old and new in one file.
                let lines = contents.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
                    .map { String($0).trimmingSpaces }
                    .filter { !$0.isEmpty && !$0.hasPrefix("#") }
                guard !lines.isEmpty else {
                    throw reader.error("secret_files", "\(resolved) holds no secret")
                }
                secrets += lines.map(Secret.init)
            }
            guard !secrets.isEmpty else {
                throw reader.error(
                    "secrets",
                    "endpoint \"\(name)\" needs at least one secret (secrets or secret_files)"
                )
            }
            if let empty = secrets.firstIndex(where: {
                String(decoding: $0.bytes, as: UTF8.self).trimmingSpaces.isEmpty
            }) {
                throw reader.error("secrets", "secret number \(empty + 1) is empty")
            }
            // Providers' secrets hold no spaces at either end; such a one was pasted with them, and would make every
            // signature fail. (Lines of secret files are trimmed.)
            if let padded = secrets.firstIndex(where: {
                let text = String(decoding: $0.bytes, as: UTF8.self)
                return text.trimmingSpaces != text
            }) {
                throw reader.error("secrets", "secret number \(padded + 1) starts or ends with a space or tab")
            }
            if secrets.contains(where: { Self.demoSecrets.contains($0.bytes) }) { withDemoSecrets.append(name) }
            let settings = EndpointSettings(name: name, secrets: secrets, reader: reader)
            endpoints.append(Endpoint(name: name, provider: try factory.make(settings)))
        }
        self.endpoints = endpoints
        self.hasInlineSecrets = inline
        self.secretFiles = secretFiles
        self.endpointsWithDemoSecrets = withDemoSecrets
    }

    /// The endpoint whose name is `name`.
    public func endpoint(named name: String) -> Endpoint? {
        endpoints.first { $0.name == name }
    }

    /// Resolves a relative path against the configuration file's folder, so a CGI drop-in can say `logs`.
    static func resolve(_ path: String, against file: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        guard let slash = file.lastIndex(of: "/") else { return path }
        return String(file[...slash]) + path
    }
}

/// What a provider factory gets: the endpoint's name, its secrets and typed access to its other keys.
public struct EndpointSettings: Sendable {
    public var name: String
    public var secrets: [Secret]
    let reader: SettingsReader

    public func string(_ key: String) throws(ConfigurationError) -> String? { try reader.string(key) }
    public func bool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        try reader.bool(key, default: value)
    }
    public func integer(_ key: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        try reader.integer(key, default: value, range: range)
    }
    public func error(_ key: String, _ problem: String) -> ConfigurationError { reader.error(key, problem) }
}

/// Typed, line-aware access to one table.
struct SettingsReader: Sendable {
    let table: ConfigTable
    let file: String

    func error(_ key: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(file: file, line: table.lines[key] ?? table.headerLine, key: key, problem: problem)
    }

    func rejectUnknown(allowed: Set<String>) throws(ConfigurationError) {
        for key in table.values.keys.sorted() where !allowed.contains(key) {
            throw error(key, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
    }

    func string(_ key: String) throws(ConfigurationError) -> String? {
        switch table.values[key] {
        case nil: return nil
        case .string(let text)?: return text
        case let other?: throw error(key, "must be a quoted string, not \(other.typeName)")
        }
    }

    func requiredString(_ key: String) throws(ConfigurationError) -> String {
        guard let text = try string(key) else {
            throw ConfigurationError(
                file: file,
                line: table.headerLine == 0 ? nil : table.headerLine,
                key: key,
                problem: "is required"
            )
        }
        return text
    }

    func strings(_ key: String) throws(ConfigurationError) -> [String] {
        switch table.values[key] {
        case nil: return []
        case .string(let text)?: return [text]
        case .array(let elements)?:
            var out: [String] = []
            for element in elements {
                guard case .string(let text) = element else { throw error(key, "must be an array of quoted strings") }
                out.append(text)
            }
            return out
        case let other?: throw error(key, "must be an array of quoted strings, not \(other.typeName)")
        }
    }

    func bool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        switch table.values[key] {
        case nil: return value
        case .bool(let flag)?: return flag
        case let other?: throw error(key, "must be true or false, not \(other.typeName)")
        }
    }

    func integer(_ key: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        switch table.values[key] {
        case nil: return value
        case .integer(let number)?:
            guard range.contains(number) else {
                throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
            }
            return number
        case let other?: throw error(key, "must be an integer, not \(other.typeName)")
        }
    }
}
