import DecisionLog
import Foundation
import Testing

@Suite("GroupCommit")
struct GroupCommitTests {
    @Test("many threads over several log instances write exactly one whole line per distinct event")
    func concurrentAppendsStayWhole() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: true)
        // Two commits stand for two worker processes; flock on separate opens excludes them like processes.
        let commits = [
            GroupCommit(log: LogDirectory(settings: settings)), GroupCommit(log: LogDirectory(settings: settings)),
        ]
        let threads = 16
        let perThread = 60
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                // Every event is sent twice, by different threads, to exercise redelivery under contention.
                let id = (thread / 2) * perThread + index
                let text = String(repeating: "z", count: 100 + (id % 7) * 900)
                let result = commits[thread % 2].append(entry(id, text: text), retainFrom: "2026-11-13")
                results.add(id: id, result: result)
            }
        }
        let lines = try directory.lines(day: "2026-11-23")
        let distinct = threads / 2 * perThread
        #expect(lines.count == distinct)
        var seen = Set<String>()
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            let id = try #require(object["event_id"])
            #expect(seen.insert(id).inserted, "event \(id) appears twice")
        }
        #expect(results.appended == distinct)
        #expect(results.duplicates == distinct)
        #expect(results.failures == 0)
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var appended = 0
        private(set) var duplicates = 0
        private(set) var failures = 0

        func add(id: Int, result: AppendResult) {
            lock.lock()
            defer { lock.unlock() }
            switch result {
            case .appended: appended += 1
            case .duplicate: duplicates += 1
            case .failed: failures += 1
            }
        }
    }
}
