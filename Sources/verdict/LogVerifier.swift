import SystemPackage
import VerdictCore

/// `verdict verify-log`: reads every `decisions-*.jsonl` file and reports torn, invalid and repeated lines, and lines
/// in another day's file.
enum LogVerifier {
    static let filePrefix = "decisions-"
    static let fileSuffix = ".jsonl"

    struct Report {
        var files = 0
        var lines = 0
        var problems: [String] = []
    }

    static func verify(directory: String) -> Report {
        var report = Report()
        let names: [String]
        do {
            names = try listDirectory(directory).filter { $0.hasPrefix(filePrefix) && $0.hasSuffix(fileSuffix) }
                .sorted()
        } catch {
            report.problems.append("\(directory): cannot list: \(error)")
            return report
        }
        var seen: [String: String] = [:]
        for name in names {
            let path = directory + "/" + name
            report.files += 1
            // A line goes to the file of its `received_at` UTC day; a reader of one day's file relies on that.
            let fileDay = String(name.dropFirst(filePrefix.count).dropLast(fileSuffix.count))
            let bytes: [UInt8]
            do {
                bytes = try readAll(path)
            } catch {
                report.problems.append("\(path): cannot read: \(error)")
                continue
            }
            var lineNumber = 0
            var start = 0
            while start < bytes.count {
                lineNumber += 1
                guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                    report.problems.append(
                        "\(path):\(lineNumber): torn line (\(bytes.count - start) bytes, no newline)"
                    )
                    break
                }
                report.lines += 1
                switch RecordValidator.validate(Array(bytes[start..<end])) {
                case .failure(let problem):
                    report.problems.append("\(path):\(lineNumber): \(problem)")
                case .success(let identity):
                    let key = identity.endpoint + " " + identity.eventID
                    let place = "\(path):\(lineNumber)"
                    if identity.day != fileDay {
                        report.problems.append(
                            "\(place): received_at is on \(identity.day), not \(fileDay) (the file's day)"
                        )
                    }
                    if let first = seen[key] {
                        report.problems.append(
                            "\(place): event \(identity.eventID) (\(identity.endpoint)) already at \(first)"
                        )
                    } else {
                        seen[key] = place
                    }
                }
                start = end + 1
            }
        }
        return report
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        let descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        defer { try? descriptor.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try descriptor.read(into: $0) }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

private func listDirectory(_ path: String) throws -> [String] {
    guard let dir = opendir(path) else { throw Errno(rawValue: errno) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
