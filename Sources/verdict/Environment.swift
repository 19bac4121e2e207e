import SystemPackage
import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Process-level facts: environment variables, the clock, paths, standard error.
enum Environment {
    static func value(_ name: String) -> String? {
        guard let pointer = getenv(name) else { return nil }
        return String(cString: pointer)
    }

    /// The current time. The only clock read in Verdict.
    static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(millisecondsSinceEpoch: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    /// Writes one line to standard error in a single write (the web server's error log under CGI and FastCGI).
    static func report(_ message: String) {
        _ = try? FileDescriptor.standardError.writeAll(Array(("verdict: " + oneLine(message) + "\n").utf8))
    }

    /// `message` with its control characters escaped (`\n`, `\u{1b}`): a request's path or method is part of some
    /// messages, and a newline in it would write a line of the sender's choosing into the error log.
    static func oneLine(_ message: String) -> String {
        guard message.unicodeScalars.contains(where: isControl) else { return message }
        var escaped = ""
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where isControl(scalar): escaped += "\\u{\(String(scalar.value, radix: 16))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `path` made absolute against the current directory, without a leading `./` (as in `./verdict` run from its
    /// folder), so that messages name the file as the user would.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2).drop { $0 == "/" } }
        return currentDirectory() + (relative.isEmpty || relative == "." ? "" : "/" + relative)
    }

    /// The resolved path of the running executable.
    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The group named `name`, or numbered so; nil when there is none.
    ///
    /// Names are looked up in `/etc/group` itself: `getgrnam` loads NSS modules at run time, which the
    /// self-contained build cannot do safely (it crashed there on a name not found).
    static func groupID(_ name: String) -> UInt32? {
        if let number = UInt32(name), number != UInt32.max { return number }
        guard let bytes = try? ConfigurationLoader.readBytes("/etc/group") else { return nil }
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard fields.count >= 3, fields[0].elementsEqual(name.utf8) else { continue }
            return UInt32(String(decoding: fields[2], as: UTF8.self))
        }
        return nil
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
