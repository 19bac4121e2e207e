import Testing
import VerdictCore

@Suite("Configuration")
struct ConfigurationTests {
    static let file = "/etc/verdict/verdict.toml"

    /// Loads `text` as the file `file`; secret files are looked up in `secretFiles` by resolved path.
    static func load(
        _ text: String,
        file: String = file,
        secretFiles: [String: String] = [:]
    ) throws(ConfigurationError) -> Configuration {
        let document = try ConfigDocument(text: text, file: file)
        return try Configuration(document) { (path: String) throws(ConfigurationError) -> String in
            guard let contents = secretFiles[path] else {
                throw ConfigurationError(file: path, problem: "cannot be read")
            }
            return contents
        }
    }

    /// The error `text` gives, or nil when it loads.
    static func failure(
        _ text: String,
        file: String = file,
        secretFiles: [String: String] = [:]
    ) -> ConfigurationError? {
        do {
            _ = try load(text, file: file, secretFiles: secretFiles)
            return nil
        } catch {
            return error
        }
    }

    static let minimalEndpoint = """
        [[endpoint]]
        name = "veriff"
        provider = "veriff"
        secrets = ["\(Keys.veriff)"]
        """

    // MARK: Good files

    @Test("The contract's example file parses with its values")
    func contractExample() throws {
        let text = """
            log_dir = "/var/lib/verdict/log"   # required; created (mode 0750) when missing
            max_body_bytes = 1048576           # default 1 MiB; larger bodies -> 413
            fsync = true                       # default true: line fsynced before the 200
            dedup_retention_days = 10          # default 10, min 8 (Veriff retries 7 days)
            threads = 8                        # requests in flight per FastCGI process

            [[endpoint]]
            name = "veriff"                    # routed by the request path's LAST segment: /webhooks/veriff -> "veriff"
            provider = "veriff"
            secrets = ["abcdef12-abcd-abcd-abcd-abcdef012345"]   # inline, and/or:
            secret_files = ["secrets/veriff.secret"]             # one secret per line; several = rotation
            auth_client = "my-api-key"         # optional: X-AUTH-CLIENT must equal this
            legacy_signature = false           # accept legacy X-SIGNATURE = hex sha256(body || secret)

            [[endpoint]]
            name = "stripe"
            provider = "stripe"
            secrets = ["whsec_..."]
            tolerance_seconds = 300
            """
        let configuration = try Self.load(
            text,
            secretFiles: ["/etc/verdict/secrets/veriff.secret": "new-secret\n"]
        )
        #expect(configuration.file == Self.file)
        #expect(configuration.logDirectory == "/var/lib/verdict/log")
        #expect(configuration.maxBodyBytes == 1_048_576)
        #expect(configuration.fsync)
        #expect(configuration.dedupRetentionDays == 10)
        #expect(configuration.threads == 8)
        #expect(configuration.endpoints.map(\.name) == ["veriff", "stripe"])
        #expect(configuration.endpoints.map(\.provider.name) == ["veriff", "stripe"])
        #expect(configuration.hasInlineSecrets)
        #expect(configuration.secretFiles == ["/etc/verdict/secrets/veriff.secret"])
        #expect(configuration.endpoint(named: "stripe")?.name == "stripe")
        #expect(configuration.endpoint(named: "healthz") == nil)
    }

    @Test("Defaults apply to omitted keys")
    func defaults() throws {
        let configuration = try Self.load("log_dir = \"/var/log/verdict\"\n" + Self.minimalEndpoint)
        #expect(configuration.maxBodyBytes == Configuration.defaultMaxBodyBytes)
        #expect(configuration.maxBodyBytes == 1_048_576)
        #expect(configuration.fsync)
        #expect(configuration.dedupRetentionDays == 10)
        #expect(configuration.threads == 4)
        #expect(configuration.secretFiles.isEmpty)
        #expect(configuration.hasInlineSecrets)
    }

    @Test("The threads default is 4 with fsync and 2 without, and an explicit value wins")
    func threadsDefaultFollowsFsync() throws {
        let off = try Self.load("log_dir = \"/l\"\nfsync = false\n" + Self.minimalEndpoint)
        #expect(off.threads == 2)
        let on = try Self.load("log_dir = \"/l\"\nfsync = true\n" + Self.minimalEndpoint)
        #expect(on.threads == 4)
        let explicit = try Self.load("log_dir = \"/l\"\nfsync = false\nthreads = 8\n" + Self.minimalEndpoint)
        #expect(explicit.threads == 8)
    }

    @Test("Non-default values are read")
    func values() throws {
        let configuration = try Self.load(
            """
            log_dir = '/srv/log'
            max_body_bytes = 65_536
            fsync = false
            dedup_retention_days = 8
            threads = 1
            \(Self.minimalEndpoint)
            """
        )
        #expect(configuration.logDirectory == "/srv/log")
        #expect(configuration.maxBodyBytes == 65_536)
        #expect(!configuration.fsync)
        #expect(configuration.dedupRetentionDays == 8)
        #expect(configuration.threads == 1)
    }

    @Test("Relative paths resolve against the configuration file's folder; absolute ones are kept")
    func relativePaths() throws {
        var requested: [String] = []
        let text = """
            log_dir = "log"
            [[endpoint]]
            name = "veriff"
            provider = "veriff"
            secret_files = ["secrets/a.secret", "/run/secrets/b.secret", "../c.secret"]
            """
        let document = try ConfigDocument(text: text, file: "/srv/verdict/conf/verdict.toml")
        let configuration = try Configuration(document) { (path: String) throws(ConfigurationError) -> String in
            requested.append(path)
            return "secret-for-\(path.count)\n"
        }
        #expect(configuration.logDirectory == "/srv/verdict/conf/log")
        let expected = ["/srv/verdict/conf/secrets/a.secret", "/run/secrets/b.secret", "/srv/verdict/conf/../c.secret"]
        #expect(requested == expected)
        #expect(configuration.secretFiles == expected)
        #expect(!configuration.hasInlineSecrets)
    }

    @Test("A configuration file named without a folder leaves relative paths relative to the working directory")
    func relativeFile() throws {
        let configuration = try Self.load("log_dir = \"log\"\n" + Self.minimalEndpoint, file: "verdict.toml")
        #expect(configuration.logDirectory == "log")
    }

    @Test("Secret files: one secret per line, blank lines, comments and CRLF ignored, each secret verifies")
    func secretFiles() throws {
        let configuration = try Self.load(
            """
            log_dir = "/l"
            [[endpoint]]
            name = "veriff"
            provider = "veriff"
            secret_files = ["veriff.secret"]
            """,
            secretFiles: ["/etc/verdict/veriff.secret": "# rotated 2026-01\r\nold-secret\r\n\r\n  \(Keys.veriff)  \r\n"]
        )
        let provider = try #require(configuration.endpoint(named: "veriff")).provider
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        for secret in ["old-secret", Keys.veriff] {
            let request = Requests.make(
                path: "/veriff",
                body: body,
                headers: ["X-HMAC-SIGNATURE": Sign.veriff(body, secret: secret)]
            )
            #expect(throws: Never.self) { try provider.authenticate(request, now: Timestamp(secondsSinceEpoch: 0)) }
        }
        let comment = Requests.make(
            path: "/veriff",
            body: body,
            headers: ["X-HMAC-SIGNATURE": Sign.veriff(body, secret: "# rotated 2026-01")]
        )
        #expect(throws: Rejection.signatureMismatch(header: "X-HMAC-SIGNATURE")) {
            try provider.authenticate(comment, now: Timestamp(secondsSinceEpoch: 0))
        }
    }

    @Test("Multi-line arrays with comments and trailing commas work, and later line numbers stay right")
    func multiLineArrays() throws {
        let text = """
            log_dir = "/l"
            [[endpoint]]
            name = "stripe"
            provider = "stripe"
            secrets = [
                "\(Keys.stripe)",        # current
                # "whsec_retired",
                "\(Keys.stripeRolled)",  # rolled [24 h]
            ]
            tolerance_seconds = 300
            bogus = 1
            """
        let error = try #require(Self.failure(text))
        #expect(error.line == 11)
        #expect(error.key == "bogus")

        let configuration = try Self.load(text.replacing("bogus = 1", with: ""))
        let provider = try #require(configuration.endpoint(named: "stripe")).provider
        let body = try Fixture.bytes("stripe-s2-verified.json")
        let now = Timestamp(secondsSinceEpoch: 1_700_000_001)
        for secret in [Keys.stripe, Keys.stripeRolled] {
            let request = Requests.make(
                path: "/stripe",
                body: body,
                headers: ["Stripe-Signature": Sign.stripe(body, timestamp: 1_700_000_000, secret: secret)]
            )
            #expect(throws: Never.self) { try provider.authenticate(request, now: now) }
        }
        let retired = Requests.make(
            path: "/stripe",
            body: body,
            headers: ["Stripe-Signature": Sign.stripe(body, timestamp: 1_700_000_000, secret: "whsec_retired")]
        )
        #expect(throws: Rejection.signatureMismatch(header: "Stripe-Signature")) {
            try provider.authenticate(retired, now: now)
        }
    }

    @Test("A file with CRLF line endings reads like one with LF")
    func crlf() throws {
        let text =
            "log_dir = \"/l\"  # c\r\nthreads = 2\r\n\r\n" + Self.minimalEndpoint.replacing("\n", with: "\r\n")
            + "\r\n"
        let configuration = try Self.load(text)
        #expect(configuration.logDirectory == "/l")
        #expect(configuration.threads == 2)
        #expect(configuration.endpoints.map(\.name) == ["veriff"])
    }

    @Test("Strings: escapes in basic strings, none in literal strings")
    func strings() throws {
        let configuration = try Self.load(
            #"""
            log_dir = "/a\\b \"c\" \u00e9\tx"
            [[endpoint]]
            name = 'veriff'
            provider = "veriff"
            secrets = ['C:\no\escape']
            """#
        )
        #expect(configuration.logDirectory == "/a\\b \"c\" é\tx")
    }

    @Test("The tolerance_seconds setting is applied")
    func tolerance() throws {
        let configuration = try Self.load(
            """
            log_dir = "/l"
            [[endpoint]]
            name = "stripe"
            provider = "stripe"
            secrets = ["\(Keys.stripe)"]
            tolerance_seconds = 60
            """
        )
        let provider = try #require(configuration.endpoint(named: "stripe")).provider
        let body = try Fixture.bytes("stripe-s1-python-payload.json")
        let request = Requests.make(
            path: "/stripe",
            body: body,
            headers: ["Stripe-Signature": Sign.stripe(body, timestamp: 12_345)]
        )
        #expect(throws: Never.self) { try provider.authenticate(request, now: Timestamp(secondsSinceEpoch: 12_405)) }
        #expect(throws: Rejection.timestampOutsideTolerance(ageSeconds: 61, toleranceSeconds: 60)) {
            try provider.authenticate(request, now: Timestamp(secondsSinceEpoch: 12_406))
        }
    }

    @Test("auth_client and legacy_signature are applied")
    func veriffSettings() throws {
        let configuration = try Self.load(
            Self.minimalEndpoint.replacing("[[endpoint]]", with: "log_dir = \"/l\"\n[[endpoint]]")
                + "\nauth_client = \"key-1\"\nlegacy_signature = true\n"
        )
        let provider = try #require(configuration.endpoint(named: "veriff")).provider
        let body = try Fixture.bytes("veriff-v1-hmac.json")
        let legacy = "19f1c8446beea200e4b184739f1e1dd81c335c513f685b87dea2133681f769ec"
        let good = Requests.make(
            path: "/veriff",
            body: body,
            headers: ["X-SIGNATURE": legacy, "X-AUTH-CLIENT": "key-1"]
        )
        #expect(throws: Never.self) { try provider.authenticate(good, now: Timestamp(secondsSinceEpoch: 0)) }
        let wrongClient = Requests.make(
            path: "/veriff",
            body: body,
            headers: ["X-SIGNATURE": legacy, "X-AUTH-CLIENT": "key-2"]
        )
        #expect(throws: Rejection.authClientMismatch) {
            try provider.authenticate(wrongClient, now: Timestamp(secondsSinceEpoch: 0))
        }
    }

    // MARK: Bad files

    /// A bad file, where its error must point, and a phrase the message must contain.
    struct Bad: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var line: Int?
        var key: String?
        var phrase: String
        var testDescription: String { name }
    }

    static let endpoint = minimalEndpoint

    static let badFiles: [Bad] = [
        Bad(
            name: "unknown top-level key",
            text: "log_dir = \"/l\"\nlog_directory = \"/x\"\n" + endpoint,
            line: 2,
            key: "log_directory",
            phrase: "unknown key"
        ),
        Bad(
            name: "unknown endpoint key",
            text: "log_dir = \"/l\"\n" + endpoint + "\nsecret = \"x\"",
            line: 6,
            key: "secret",
            phrase: "unknown key"
        ),
        Bad(
            name: "a Stripe key on a Veriff endpoint",
            text: "log_dir = \"/l\"\n" + endpoint + "\ntolerance_seconds = 300",
            line: 6,
            key: "tolerance_seconds",
            phrase: "unknown key"
        ),
        Bad(
            name: "a Veriff key on a Stripe endpoint",
            text:
                "log_dir = \"/l\"\n[[endpoint]]\nname = \"s\"\nprovider = \"stripe\"\nsecrets = [\"w\"]\nauth_client = \"k\"",
            line: 6,
            key: "auth_client",
            phrase: "unknown key"
        ),
        Bad(
            name: "fsync is a string",
            text: "log_dir = \"/l\"\nfsync = \"yes\"\n" + endpoint,
            line: 2,
            key: "fsync",
            phrase: "true or false"
        ),
        Bad(
            name: "max_body_bytes is a string",
            text: "log_dir = \"/l\"\nmax_body_bytes = \"1\"\n" + endpoint,
            line: 2,
            key: "max_body_bytes",
            phrase: "integer"
        ),
        Bad(
            name: "log_dir is an integer",
            text: "log_dir = 5\n" + endpoint,
            line: 1,
            key: "log_dir",
            phrase: "quoted string"
        ),
        Bad(
            name: "secrets holds an integer",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\"a\", 5]",
            line: 5,
            key: "secrets",
            phrase: "quoted strings"
        ),
        Bad(
            name: "legacy_signature is an integer",
            text: "log_dir = \"/l\"\n" + endpoint + "\nlegacy_signature = 1",
            line: 6,
            key: "legacy_signature",
            phrase: "true or false"
        ),
        Bad(
            name: "name is an integer",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = 5\nprovider = \"veriff\"\nsecrets = [\"a\"]",
            line: 3,
            key: "name",
            phrase: "quoted string"
        ),
        Bad(
            name: "missing log_dir",
            text: "fsync = true\n" + endpoint,
            line: nil,
            key: "log_dir",
            phrase: "required"
        ),
        Bad(name: "no endpoints", text: "log_dir = \"/l\"\n", line: nil, key: nil, phrase: "no [[endpoint]]"),
        Bad(
            name: "duplicate endpoint name",
            text: "log_dir = \"/l\"\n" + endpoint + "\n" + endpoint,
            line: 7,
            key: "name",
            phrase: "already named \"veriff\""
        ),
        Bad(
            name: "reserved name healthz",
            text: "log_dir = \"/l\"\n" + endpoint.replacing("name = \"veriff\"", with: "name = \"healthz\""),
            line: 3,
            key: "name",
            phrase: "reserved"
        ),
        Bad(
            name: "name with a slash",
            text: "log_dir = \"/l\"\n" + endpoint.replacing("name = \"veriff\"", with: "name = \"a/b\""),
            line: 3,
            key: "name",
            phrase: "letters, digits"
        ),
        Bad(
            name: "empty name",
            text: "log_dir = \"/l\"\n" + endpoint.replacing("name = \"veriff\"", with: "name = \"\""),
            line: 3,
            key: "name",
            phrase: "letters, digits"
        ),
        Bad(
            name: "missing name",
            text: "log_dir = \"/l\"\n\n" + endpoint.replacing("name = \"veriff\"\n", with: ""),
            line: 3,
            key: "name",
            phrase: "required"
        ),
        Bad(
            name: "missing provider",
            text: "log_dir = \"/l\"\n" + endpoint.replacing("provider = \"veriff\"\n", with: ""),
            line: 2,
            key: "provider",
            phrase: "required"
        ),
        Bad(
            name: "unknown provider",
            text: "log_dir = \"/l\"\n" + endpoint.replacing("provider = \"veriff\"", with: "provider = \"onfido\""),
            line: 4,
            key: "provider",
            phrase: "unknown provider \"onfido\"; expected one of \"veriff\", \"stripe\""
        ),
        Bad(
            name: "no secrets",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\n",
            line: 2,
            key: "secrets",
            phrase: "at least one secret"
        ),
        Bad(
            name: "empty secrets array",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = []",
            line: 5,
            key: "secrets",
            phrase: "at least one secret"
        ),
        Bad(
            name: "an empty secret",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\"a\", \"\"]",
            line: 5,
            key: "secrets",
            phrase: "secret number 2 is empty"
        ),
        Bad(
            name: "a blank secret",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\"a\", \"  \"]",
            line: 5,
            key: "secrets",
            phrase: "secret number 2 is empty"
        ),
        Bad(
            name: "a secret pasted with a space",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\"abc \"]",
            line: 5,
            key: "secrets",
            phrase: "secret number 1 starts or ends with a space or tab"
        ),
        Bad(name: "an empty log_dir", text: "log_dir = \"\"\n" + endpoint, line: 1, key: "log_dir", phrase: "is empty"),
        Bad(
            name: "an endpoint named ..",
            text: "log_dir = \"/l\"\n" + endpoint.replacing("name = \"veriff\"", with: "name = \"..\""),
            line: 3,
            key: "name",
            phrase: "must be letters"
        ),
        Bad(
            name: "a doubled underscore",
            text: "threads = 1__0\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "not an integer"
        ),
        Bad(
            name: "a trailing underscore",
            text: "threads = 10_\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "not an integer"
        ),
        Bad(name: "a leading zero", text: "threads = 010\n" + endpoint, line: 1, key: nil, phrase: "not an integer"),
        Bad(
            name: "a \\u escape with a sign",
            text: "log_dir = \"\\u+067\"\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "bad \\u escape"
        ),
        Bad(
            name: "a secret file with no secret",
            text:
                "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecret_files = [\"empty.secret\"]",
            line: 5,
            key: "secret_files",
            phrase: "/etc/verdict/empty.secret holds no secret"
        ),
        Bad(
            name: "tolerance_seconds 0",
            text:
                "log_dir = \"/l\"\n[[endpoint]]\nname = \"s\"\nprovider = \"stripe\"\nsecrets = [\"w\"]\ntolerance_seconds = 0",
            line: 6,
            key: "tolerance_seconds",
            phrase: "between 1 and 86400"
        ),
        Bad(
            name: "tolerance_seconds above a day",
            text:
                "log_dir = \"/l\"\n[[endpoint]]\nname = \"s\"\nprovider = \"stripe\"\nsecrets = [\"w\"]\ntolerance_seconds = 86401",
            line: 6,
            key: "tolerance_seconds",
            phrase: "between 1 and 86400"
        ),
        Bad(
            name: "dedup_retention_days below Veriff's 7-day retries",
            text: "log_dir = \"/l\"\ndedup_retention_days = 7\n" + endpoint,
            line: 2,
            key: "dedup_retention_days",
            phrase: "between 8 and"
        ),
        Bad(
            name: "threads 0",
            text: "log_dir = \"/l\"\nthreads = 0\n" + endpoint,
            line: 2,
            key: "threads",
            phrase: "between 1 and 256"
        ),
        Bad(
            name: "max_body_bytes 0",
            text: "log_dir = \"/l\"\nmax_body_bytes = 0\n" + endpoint,
            line: 2,
            key: "max_body_bytes",
            phrase: "between 1 and"
        ),
        Bad(
            name: "unterminated string",
            text: "log_dir = \"/var/lib\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "does not end"
        ),
        Bad(
            name: "unterminated literal string",
            text: "log_dir = '/var/lib\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "does not end"
        ),
        Bad(
            name: "unterminated array",
            text: "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecrets = [\"a\",\n",
            line: 5,
            key: nil,
            phrase: "expected"
        ),
        Bad(
            name: "key set twice",
            text: "log_dir = \"/l\"\nthreads = 2\nthreads = 3\n" + endpoint,
            line: 3,
            key: "threads",
            phrase: "already set on line 2"
        ),
        Bad(
            name: "a table other than [[endpoint]]",
            text: "log_dir = \"/l\"\n[server]\n" + endpoint,
            line: 2,
            key: nil,
            phrase: "only [[endpoint]] tables"
        ),
        Bad(
            name: "missing =",
            text: "log_dir \"/l\"\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "expected '='"
        ),
        Bad(
            name: "text after the value",
            text: "log_dir = \"/l\" \"/m\"\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "unexpected text after the value of log_dir"
        ),
        Bad(name: "a bare word", text: "log_dir = /l\n" + endpoint, line: 1, key: nil, phrase: "expected a value"),
        Bad(name: "not a boolean", text: "fsync = tru\n" + endpoint, line: 1, key: nil, phrase: "true or false"),
        Bad(name: "not an integer", text: "threads = 8x\n" + endpoint, line: 1, key: nil, phrase: "not an integer"),
        Bad(
            name: "unknown escape",
            text: "log_dir = \"a\\qb\"\n" + endpoint,
            line: 1,
            key: nil,
            phrase: "unknown escape"
        ),
    ]

    @Test("Each bad file gives an error naming the file, the line and the key", arguments: badFiles)
    func badFile(_ bad: Bad) throws {
        let error = try #require(
            Self.failure(bad.text, secretFiles: ["/etc/verdict/empty.secret": "\n# nothing here\n\n"])
        )
        #expect(error.file == Self.file)
        #expect(error.line == bad.line)
        #expect(error.key == bad.key)
        #expect(error.problem.contains(bad.phrase), "\(error.problem)")
        let description = error.description
        #expect(description.hasPrefix(Self.file + (bad.line.map { ":\($0)" } ?? "") + ": "))
        if let key = bad.key {
            #expect(description.contains(": \(key): "))
        }
    }

    @Test("A line starting with '[' that is no [[endpoint]] header is not echoed in the error; a plain header is")
    func bracketLineNotEchoed() throws {
        for line in [#"["whsec_abc123secret"]"#, #"[[endpoint]] secrets = ["whsec_abc123secret"]"#] {
            let error = try #require(Self.failure("log_dir = \"/l\"\n\(line)\n"))
            #expect(error.line == 2)
            #expect(!error.description.contains("whsec_abc123secret"), "\(error.description)")
        }
        let named = try #require(Self.failure("log_dir = \"/l\"\n[endpoint]\n"))
        #expect(named.problem.contains("found [endpoint]"), "\(named.problem)")
    }

    @Test("ConfigurationError's description is file:line: key: problem")
    func descriptionFormat() {
        #expect(
            ConfigurationError(file: "/c.toml", line: 3, key: "threads", problem: "must be an integer").description
                == "/c.toml:3: threads: must be an integer"
        )
        #expect(
            ConfigurationError(file: "/c.toml", problem: "no [[endpoint]] is configured").description
                == "/c.toml: no [[endpoint]] is configured"
        )
    }

    @Test("An unreadable secret file's error is passed through")
    func unreadableSecretFile() throws {
        let error = try #require(
            Self.failure(
                "log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\nsecret_files = [\"gone\"]"
            )
        )
        #expect(error.file == "/etc/verdict/gone")
        #expect(error.problem == "cannot be read")
    }

    @Test(
        "A secret unquoted in `secrets` or pasted on a line of its own is not echoed in the error",
        arguments: [
            TestSecret(label: "starts with a digit", text: "12df6045-3846-3e45-946a-14fa6136d78b"),
            TestSecret(label: "starts with f", text: "f04bdb47-d3be-4b28-b028-a652feb060b5"),
            TestSecret(label: "starts with t", text: "t1e4a3c2-0000-4000-8000-000000000000"),
            TestSecret(label: "Stripe signing secret", text: "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
        ],
        [false, true]
    )
    func secretNotEchoed(_ argument: TestSecret, alone: Bool) throws {
        let secret = argument.text
        let line = alone ? secret : "secrets = [\(secret)]"
        let error = try #require(
            Self.failure("log_dir = \"/l\"\n[[endpoint]]\nname = \"v\"\nprovider = \"veriff\"\n\(line)\n")
        )
        #expect(error.line == 5)
        if alone { #expect(error.problem.contains("expected '='"), "\(error.problem)") }
        let leaked = error.description.contains(secret) || error.description.contains(secret.prefix(12))
        #expect(!leaked)
    }
}
