import DecisionLog
import SystemPackage
import VerdictCore

/// `verdict verify-log`: reads every `decisions-*.jsonl` file and reports torn, invalid and repeated lines, and lines
/// in another day's file; records cut short by a crash are listed apart.
enum LogVerifier {
    struct Report {
        var files = 0
        var lines = 0
        var problems: [String] = []
        /// Records cut short by a writer that stopped mid-line, later ended with `\n`: expected after a crash or a
        /// full disk, so reported but not problems.
        var cutShort: [String] = []
    }

    static func verify(directory: String) -> Report {
        var report = Report()
        let files: [(day: String, path: String)]
        do throws(DecisionLogError) {
            files = try DayFiles.list(directory)
        } catch {
            report.problems.append(error.description)
            return report
        }
        // An empty log is a fresh one, with its `.verdict/`; without either, the path is likely a mistake, which
        // would otherwise pass every day.
        if files.isEmpty && (try? FilePath(directory + "/.verdict").stat()) == nil {
            report.problems.append(
                "\(directory): no decision files and no .verdict/: not a log directory Verdict has used"
            )
            return report
        }
        var seen: [String: String] = [:]
        // A line goes to the file of its `received_at` UTC day; a reader of one day's file relies on that.
        for (fileDay, path) in files {
            report.files += 1
            let contents: DayFiles.Contents
            do throws(DecisionLogError) {
                contents = try DayFiles.contents(of: path, directory: directory)
            } catch {
                report.problems.append(error.description)
                continue
            }
            let bytes = contents.bytes
            var lineNumber = 0
            var start = 0
            while start < bytes.count {
                lineNumber += 1
                guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                    let busy =
                        contents.lockWasBusy
                        ? "; the directory lock stayed taken for \(DayFiles.lockWait), so an append may be under way"
                        : contents.lockWasUnreadable
                            ? "; the directory lock could not be opened (run verify-log as Verdict's user or root), so "
                                + "an append may be under way"
                            : ""
                    report.problems.append(
                        "\(path):\(lineNumber): torn line (\(bytes.count - start) bytes, no newline\(busy))"
                    )
                    break
                }
                report.lines += 1
                switch RecordValidator.validate(Array(bytes[start..<end])) {
                case .failure where RecordValidator.isCutShort(Array(bytes[start..<end])):
                    report.cutShort.append(
                        "\(path):\(lineNumber): cut short (\(end - start) bytes): a writer stopped mid-line; never "
                            + "answered 200, so its sender sent the event again"
                    )
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
}
