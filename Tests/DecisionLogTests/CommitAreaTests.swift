import Foundation
import Testing

@testable import DecisionLog

@Suite("CommitArea")
struct CommitAreaTests {
    @Test("entries come out of the ring as they went in, across its end, and one too large for it is refused")
    func ringKeepsEntriesWhole() throws {
        let area = try CommitArea(processes: 1, ringCapacity: 4096)
        area.lock()
        defer { area.unlock() }
        var expected: [UInt64: LogEntry] = [:]
        for round in 0..<20 {
            // 3 entries of about 600 bytes a round: the ring (4 KiB) wraps every other round.
            for index in 0..<3 {
                let item = entry(round * 3 + index, day: "2026-11-2\(index)", text: String(repeating: "q", count: 550))
                let sequence = try #require(area.enqueue(item, retainFrom: "2026-11-01"))
                expected[sequence] = item
            }
            let taken = area.takeAll()
            #expect(taken.retainFrom == "2026-11-01")
            #expect(taken.sequences.count == 3)
            for (sequence, item) in zip(taken.sequences, taken.entries) {
                let want = try #require(expected[sequence])
                #expect(item.line == want.line && item.day == want.day && item.key == want.key)
            }
            #expect(area.head == area.tail)
        }
        let large = entry(1, text: String(repeating: "q", count: area.largestEntry))
        #expect(area.enqueue(large, retainFrom: "2026-11-01") == nil)
    }

    @Test("a full ring refuses entries until they are taken")
    func fullRingRefuses() throws {
        let area = try CommitArea(processes: 1, ringCapacity: 4096)
        area.lock()
        defer { area.unlock() }
        // Ids 0-9 make lines of one length: each entry takes its 64-byte header and the line, padded to 8 bytes.
        let text = String(repeating: "q", count: 400)
        let entrySize = (64 + entry(0, text: text).line.count + 7) & ~7
        var accepted = 0
        while area.enqueue(entry(accepted, text: text), retainFrom: "") != nil {
            accepted += 1
        }
        #expect(accepted == area.ringCapacity / entrySize)
        #expect(area.takeAll().entries.count == accepted)
        #expect(area.enqueue(entry(0), retainFrom: "") != nil)
    }

    @Test("a writer whose process died mid-batch loses the role: its batch fails, and another queue writes")
    func deadWriterIsReplaced() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let area = try CommitArea(processes: 2)
        let queue = try Self.queue(on: area, directory)
        area.lock()
        let orphan = try #require(area.enqueue(entry(1), retainFrom: "2026-11-13"))
        _ = area.takeAll()
        area.takenEnd = area.nextSequence
        area.unlock()
        try Self.giveTheRoleToADeadProcess(area)

        #expect(Self.append(entry(2), to: queue)() == .appended)
        area.lock()
        let orphanResult = area.result(for: orphan, directory: directory.logPath)
        area.unlock()
        guard case .failed = orphanResult else {
            Issue.record("the dead writer's entry was reported \(orphanResult)")
            return
        }
        let lines = try directory.lines(day: "2026-11-23")
        #expect(lines.count == 1 && lines[0].contains("\"evt_2\""))
    }

    @Test("a writer that died inside takeAll, before recording what it took, has what it took answered: failed")
    func writerDeadInsideTake() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let area = try CommitArea(processes: 2)
        let queue = try Self.queue(on: area, directory)
        try Self.giveTheRoleToADeadProcess(area)
        let result = Self.append(entry(2), to: queue)
        // The dead writer took it, and died before `takenEnd = nextSequence`.
        area.lock()
        #expect(area.takeAll().entries.count == 1)
        area.unlock()
        let outcome = result()
        guard case .failed = outcome else {
            Issue.record("the entry the dead writer took was reported \(String(describing: outcome))")
            return
        }
    }

    @Test("health checks every 40 ms do not keep a dead writer's role from being released")
    func healthChecksDoNotHideADeadWriter() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let area = try CommitArea(processes: 2)
        let queue = try Self.queue(on: area, directory)
        let other = try Self.queue(on: area, directory)  // the other worker's
        try Self.giveTheRoleToADeadProcess(area)
        let polling = Outcome()
        let poller = Thread {
            while polling.value == nil {
                _ = try? other.withLog { (log: LogDirectory) throws(DecisionLogError) in
                    try log.checkWritable(day: "2026-11-23")
                }
                usleep(40_000)
            }
        }
        poller.start()
        defer { polling.value = .appended }
        #expect(Self.append(entry(7), to: queue)() == .appended)
    }

    /// Queues `item` and returns what waits up to 10 s for its result (nil when none came).
    static func append(_ item: LogEntry, to queue: CommitQueue) -> () -> AppendResult? {
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        queue.append(item, retainFrom: "2026-11-13") { result in
            outcome.value = result
            done.signal()
        }
        return { done.wait(timeout: .now() + 10) == .success ? outcome.value : nil }
    }

    /// A queue on `area` writing a durable log in `directory`, as each worker process has one.
    static func queue(on area: CommitArea, _ directory: TestDirectory) throws -> CommitQueue {
        try CommitQueue(log: LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true)), area: area)
    }

    /// Makes the writer's role held by a process that has exited and been reaped: its pid names nobody.
    static func giveTheRoleToADeadProcess(_ area: CommitArea) throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        area.lock()
        area.writerOwner = 999
        area.writerProcess = child.processIdentifier
        area.unlock()
    }

    final class Outcome: @unchecked Sendable {
        var value: AppendResult?
    }
}
