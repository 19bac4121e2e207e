import SystemPackage
import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Finds, reads and checks the configuration file and the secret files it names.
enum ConfigurationLoader {
    static let fileName = "verdict.toml"

    /// Where to look, in order: `--config`, `VERDICT_CONFIG`, next to the program as invoked, next to the resolved
    /// executable (so a symlink in `cgi-bin/` finds the config beside the real file outside the web root).
    static func candidates(explicit: String?) -> [String] {
        if let explicit { return [explicit] }
        if let fromEnvironment = Environment.value("VERDICT_CONFIG"), !fromEnvironment.isEmpty {
            return [fromEnvironment]
        }
        var paths: [String] = []
        let invoked = CommandLine.arguments.first ?? ""
        if invoked.contains("/") { paths.append(Environment.directory(of: invoked) + "/" + fileName) }
        if let executable = Environment.executablePath() {
            let beside = Environment.directory(of: executable) + "/" + fileName
            if !paths.contains(beside) { paths.append(beside) }
        }
        return paths
    }

    /// Loads and validates the configuration, refusing secrets that other users can read.
    static func load(explicit: String?) throws(ConfigurationError) -> Configuration {
        let tried = candidates(explicit: explicit)
        guard let path = tried.first(where: { access($0, F_OK) == 0 }) ?? (explicit == nil ? nil : explicit) else {
            throw ConfigurationError(
                file: tried.first ?? fileName,
                problem: "no configuration file found (looked for \(tried.joined(separator: ", "))); "
                    + "pass --config PATH or set VERDICT_CONFIG"
            )
        }
        let file = Environment.absolute(path)
        let text = try readText(file)
        let document = try ConfigDocument(text: text, file: file)
        let configuration = try Configuration(document) { (secretFile: String) throws(ConfigurationError) -> String in
            try requirePrivate(secretFile, what: "secret file")
            return try readText(secretFile)
        }
        if configuration.hasInlineSecrets {
            try requirePrivate(file, what: "configuration file, which holds secrets,")
        } else {
            try requireUnwritableByOthers(file)
        }
        return configuration
    }

    /// The file as UTF-8 text, without the byte order mark some Windows editors put first (in a secret file it
    /// would become part of the secret, and every signature would fail).
    static func readText(_ path: String) throws(ConfigurationError) -> String {
        guard var text = String(validating: try readBytes(path), as: UTF8.self) else {
            throw ConfigurationError(file: path, problem: "is not valid UTF-8 text")
        }
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        return text
    }

    /// The file's bytes as they are, up to 4 MiB.
    static func readBytes(_ path: String) throws(ConfigurationError) -> [UInt8] {
        do {
            let descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
            defer { try? descriptor.close() }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16_384)
            while true {
                let count = try chunk.withUnsafeMutableBytes { try descriptor.read(into: $0) }
                if count == 0 { break }
                bytes += chunk[0..<count]
                if bytes.count > 4 << 20 { throw Errno.fileTooLarge }
            }
            return bytes
        } catch {
            throw ConfigurationError(
                file: path,
                problem: "cannot be read: \((error as? Errno)?.description ?? "\(error)")"
            )
        }
    }

    /// Secrets must not be readable (or writable) by group or others, as ssh requires of private keys.
    static func requirePrivate(_ path: String, what: String) throws(ConfigurationError) {
        try refuse(path, withAny: 0o077, "this \(what) is accessible to other users", fix: "chmod 600")
    }

    /// A configuration without secrets may be readable by all, but not writable: whoever can edit it can point
    /// `log_dir` (identity data) or `secret_files` anywhere.
    static func requireUnwritableByOthers(_ path: String) throws(ConfigurationError) {
        try refuse(path, withAny: 0o022, "this configuration file is writable by other users", fix: "chmod go-w")
    }

    /// Refuses the file at `path` when its mode has any of `bits`, naming the mode and the `chmod` that mends it.
    private static func refuse(
        _ path: String,
        withAny bits: CModeT,
        _ problem: String,
        fix: String
    ) throws(ConfigurationError) {
        guard let stat = try? FilePath(path).stat() else { return }
        let permissions = stat.mode.permissions.rawValue
        guard permissions & bits != 0 else { return }
        throw ConfigurationError(file: path, problem: "\(problem) (mode \(octal(permissions))); run: \(fix) \(path)")
    }

    static func octal(_ value: CModeT) -> String {
        let digits = String(value, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
