import DecisionLog
import Foundation
import Testing

@Suite("CommitQueue")
struct CommitQueueTests {
    /// How the two queues of a test meet: in one area (the processes of one `serve`; a small ring also sends
    /// large entries, and entries queued while it is full, through each queue's own list), or each in its own
    /// (processes that do not share, such as spawn-fcgi's), where only the directory lock orders them.
    enum Sharing: String, CaseIterable, CustomTestStringConvertible {
        case oneArea, oneSmallArea, separateAreas
        var testDescription: String { rawValue }
    }

    @Test(
        "many threads over two queues get exactly one completion per entry and one whole line per distinct event",
        arguments: Sharing.allCases
    )
    func concurrentAppendsStayWhole(sharing: Sharing) throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: true)
        // Two queues stand for two worker processes; flock on separate opens excludes them like processes.
        let shared = try CommitArea(processes: 2, ringCapacity: sharing == .oneSmallArea ? 16_384 : 512 << 10)
        let queues = try (0..<2).map { _ in
            try CommitQueue(
                log: LogDirectory(settings: settings),
                area: sharing == .separateAreas ? CommitArea(processes: 1) : shared
            )
        }
        let threads = 16
        let perThread = 60
        let results = AppendTally()
        let done = DispatchGroup()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                // Every event is sent twice, by different threads, to exercise redelivery under contention.
                let id = (thread / 2) * perThread + index
                let text = String(repeating: "z", count: 100 + (id % 7) * 900)
                done.enter()
                queues[thread % 2].append(entry(id, text: text), retainFrom: "2026-11-13") { result in
                    results.add(id: id, result: result)
                    done.leave()
                }
            }
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        try expectOneLinePerEvent(in: directory, distinct: threads / 2 * perThread, results: results)
    }

    @Test("an entry's completion runs only once its line is in the file")
    func completionFollowsTheWrite() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let queue = try CommitQueue(log: LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true)))
        let found = Counter()
        let done = DispatchGroup()
        for id in 0..<50 {
            done.enter()
            queue.append(entry(id), retainFrom: "2026-11-13") { result in
                let lines = (try? directory.lines(day: "2026-11-23")) ?? []
                let present = result == .appended && lines.contains { $0.contains("\"evt_\(id)\"") }
                if present { found.increment() }
                done.leave()
            }
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(found.value == 50)
    }

    @Test("a task given the log runs on the writer thread and returns its value or its error to the caller")
    func withLogReturnsValueOrError() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let queue = try CommitQueue(log: LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true)))
        try queue.withLog { (log: LogDirectory) throws(DecisionLogError) in try log.checkWritable(day: "2026-11-23") }
        let directoryName = try queue.withLog { (log: LogDirectory) throws(DecisionLogError) in log.settings.directory }
        #expect(directoryName == directory.logPath)
        let caller = pthread_self()
        let runner = try queue.withLog { (_: LogDirectory) throws(DecisionLogError) in pthread_self() }
        #expect(pthread_equal(runner, caller) == 0, "the task ran on the calling thread")
        // A log directory that cannot exist: the check's error comes back to the caller.
        let broken = try CommitQueue(log: LogDirectory(settings: LogSettings(directory: "/dev/null/log", fsync: true)))
        do {
            try broken.withLog { (log: LogDirectory) throws(DecisionLogError) in
                try log.checkWritable(day: "2026-11-23")
            }
            Issue.record("a log under /dev/null was reported writable")
        } catch {
            #expect(error.path.hasPrefix("/dev/null"))
        }
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0

        var value: Int {
            lock.lock()
            defer { lock.unlock() }
            return count
        }

        func increment() {
            lock.lock()
            defer { lock.unlock() }
            count += 1
        }
    }
}
