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
            var lineNumber = 0
            let end: DayFiles.End
            do throws(DecisionLogError) {
                end = try DayFiles.lines(of: path, directory: directory) { line in
                    lineNumber += 1
                    report.lines += 1
                    check(line, at: "\(path):\(lineNumber)", fileDay: fileDay, seen: &seen, into: &report)
                }
            } catch {
                report.problems.append(error.description)
                continue
            }
            guard !end.torn.isEmpty else { continue }
            let busy =
                end.lockWasBusy
                ? "; the directory lock stayed taken for \(DayFiles.lockWait), so an append may be under way"
                : end.lockWasUnreadable
                    ? "; the directory lock could not be opened (run verify-log as Verdict's user or root), so "
                        + "an append may be under way"
                    : ""
            report.problems.append("\(path):\(lineNumber + 1): torn line (\(end.torn.count) bytes, no newline\(busy))")
        }
        return report
    }

    /// Checks one whole line (without its `\n`) of the file of `fileDay`, found at `place`.
    private static func check(
        _ line: [UInt8],
        at place: String,
        fileDay: String,
        seen: inout [String: String],
        into report: inout Report
    ) {
        switch RecordValidator.validate(line) {
        case .failure where LogDirectory.isCutShort(line):
            report.cutShort.append(
                "\(place): cut short (\(line.count - LogDirectory.cutShortMark.count) bytes): a writer stopped "
                    + "mid-line; never answered 200, so its sender sent the event again"
            )
        case .failure(let problem):
            report.problems.append("\(place): \(problem)")
        case .success(let identity):
            let key = identity.endpoint + " " + identity.eventID
            if identity.day != fileDay {
                report.problems.append("\(place): received_at is on \(identity.day), not \(fileDay) (the file's day)")
            }
            if let first = seen[key] {
                report.problems.append("\(place): event \(identity.eventID) (\(identity.endpoint)) already at \(first)")
            } else {
                seen[key] = place
            }
        }
    }
}
