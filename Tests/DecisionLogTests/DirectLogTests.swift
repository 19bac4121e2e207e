import DecisionLog
import Foundation
import Testing

@Suite("DirectLog")
struct DirectLogTests {
    @Test("many threads over two direct logs write exactly one whole line per distinct event")
    func concurrentAppendsStayWhole() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: true)
        // Two logs stand for two CGI processes; flock on separate opens excludes them like processes.
        let logs = [DirectLog(log: LogDirectory(settings: settings)), DirectLog(log: LogDirectory(settings: settings))]
        let threads = 16
        let perThread = 60
        let results = AppendTally()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                // Every event is sent twice, by different threads, to exercise redelivery under contention.
                let id = (thread / 2) * perThread + index
                let text = String(repeating: "z", count: 100 + (id % 7) * 900)
                let result = logs[thread % 2].append(entry(id, text: text), retainFrom: "2026-11-13")
                results.add(id: id, result: result)
            }
        }
        try expectOneLinePerEvent(in: directory, distinct: threads / 2 * perThread, results: results)
    }
}
