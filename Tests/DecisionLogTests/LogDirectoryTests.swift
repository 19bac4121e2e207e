import Foundation
import SystemPackage
import Testing

@testable import DecisionLog

@Suite("LogDirectory")
struct LogDirectoryTests {
    let day = "2026-11-23"

    @Test("appends one whole line per entry and creates private files and folders")
    func appendsLinesWithPrivateModes() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true))
        let results = log.append([entry(1), entry(2)], retainFrom: "2026-11-13")
        #expect(results == [.appended, .appended])
        #expect(
            try directory.lines(day: day) == [
                "{\"event_id\":\"evt_1\",\"text\":\"x\"}", "{\"event_id\":\"evt_2\",\"text\":\"x\"}",
            ]
        )
        #expect(try directory.mode("") == 0o750)
        #expect(try directory.mode("/.verdict") == 0o700)
        #expect(try directory.mode("/" + LogDirectory.fileName(day: day)) & 0o137 == 0)
    }

    @Test("a redelivered key is reported as duplicate and not appended, within a batch and across processes")
    func redeliveriesAreNotAppended() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: false)
        let first = LogDirectory(settings: settings)
        #expect(first.append([entry(1), entry(1)], retainFrom: "2026-11-13") == [.appended, .duplicate])
        // A second instance stands for another worker or CGI process: it learns the key from the index.
        let second = LogDirectory(settings: settings)
        #expect(second.append([entry(1), entry(2)], retainFrom: "2026-11-13") == [.duplicate, .appended])
        #expect(first.append([entry(2)], retainFrom: "2026-11-13") == [.duplicate])
        #expect(try directory.lines(day: day).count == 2)
    }

    @Test(
        "a line whose key cannot be recorded fails (a retry elsewhere would be logged again), and its process knows it"
    )
    func unrecordedKeysAreRemembered() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        // A directory where the day's index file belongs: opening it fails, as without descriptors or permission.
        try FileManager.default.createDirectory(
            atPath: directory.logPath + "/.verdict/seen-" + day,
            withIntermediateDirectories: true
        )
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: false))
        func failed(_ results: [AppendResult]) -> Bool {
            results.allSatisfy {
                guard case .failed(let error) = $0 else { return false }
                return error.path.hasSuffix("/.verdict/seen-" + day)
            }
        }
        #expect(failed(log.append([entry(1)], retainFrom: "2026-11-13")))
        // The line is on disk: the retry is recognised by the process that kept its key.
        let again = log.append([entry(1), entry(2)], retainFrom: "2026-11-13")
        #expect(again.first == .duplicate && failed(Array(again.dropFirst())))
        #expect(log.append([entry(2)], retainFrom: day) == [.duplicate])
        #expect(failed(log.append([entry(1)], retainFrom: "2026-11-24")))
        #expect(try directory.lines(day: day).count == 3)
    }

    @Test("a second copy of an event in a batch fails with the first when the first cannot be written")
    func repeatInBatchSharesTheFirstCopysFailure() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        try directory.makeDayFileFull(day: day)
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: false))
        let results = log.append(
            [entry(1), entry(1), entry(2, day: "2026-11-24"), entry(2, day: "2026-11-24")],
            retainFrom: "2026-11-13"
        )
        #expect(results.count == 4)
        for result in results.prefix(2) {
            guard case .failed(let error) = result else {
                Issue.record("expected a failure, got \(result)")
                continue
            }
            #expect(error.description.hasSuffix("(errno \(EFBIG))"))
        }
        // The other day's file is writable: its copy is a duplicate of a line that is on disk.
        #expect(Array(results.suffix(2)) == [.appended, .duplicate])
        #expect(try directory.lines(day: "2026-11-24") == ["{\"event_id\":\"evt_2\",\"text\":\"x\"}"])
    }

    @Test("another process's keys are learnt in full when they take more than one read of the index")
    func manyKeysFromAnotherProcessAreAllLearnt() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: false)
        let first = LogDirectory(settings: settings)
        let second = LogDirectory(settings: settings)
        // The second instance opens the index now, so what follows is learnt by reading on from where it stopped.
        #expect(second.append([entry(0)], retainFrom: "2026-11-13") == [.appended])
        // 16-byte records: 700 of them are 11,200 bytes, more than two of the 4 KiB reads.
        let keys = Array(1...700)
        let appended = first.append(keys.map { entry($0) }, retainFrom: "2026-11-13")
        #expect(appended.filter { $0 == .appended }.count == 700)
        let redelivered = second.append(keys.map { entry($0) }, retainFrom: "2026-11-13")
        #expect(redelivered.filter { $0 == .duplicate }.count == 700)
        // And a process that starts now reads the whole index from its start.
        let third = LogDirectory(settings: settings)
        let restarted = third.append(([0] + keys).map { entry($0) }, retainFrom: "2026-11-13")
        #expect(restarted.filter { $0 == .duplicate }.count == 701)
        #expect(try directory.lines(day: day).count == 701)
    }

    @Test("keys of an index file deleted by hand are kept by the process that knew them, and written back for others")
    func deletedIndexFileKeysAreKept() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: false)
        let worker = LogDirectory(settings: settings)
        #expect(worker.append([entry(1), entry(2)], retainFrom: "2026-11-13") == [.appended, .appended])
        unlink(directory.logPath + "/.verdict/seen-" + day)
        // Another process logs a new event: it creates the day's index file again.
        #expect(LogDirectory(settings: settings).append([entry(3)], retainFrom: "2026-11-13") == [.appended])
        #expect(worker.append([entry(1), entry(2)], retainFrom: "2026-11-13") == [.duplicate, .duplicate])
        // What the worker knew is in the new file now: a process started after all this knows every event.
        let started = LogDirectory(settings: settings)
        #expect(
            started.append([entry(1), entry(2), entry(3)], retainFrom: "2026-11-13")
                == Array(repeating: .duplicate, count: 3)
        )
        #expect(try directory.lines(day: day).count == 3)
        // Deleted again, then past midnight: the retention window moves on, so the worker lists the directory,
        // finds no file for the day before, and still knows its keys.
        unlink(directory.logPath + "/.verdict/seen-" + day)
        #expect(worker.append([entry(4, day: "2026-11-24")], retainFrom: "2026-11-14") == [.appended])
        #expect(worker.append([entry(2, day: "2026-11-24")], retainFrom: "2026-11-14") == [.duplicate])
    }

    @Test("redelivery detection survives a restart")
    func redeliveryStateSurvivesRestart() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: true)
        do {
            let log = LogDirectory(settings: settings)
            #expect(log.append([entry(7)], retainFrom: "2026-11-13") == [.appended])
        }
        let restarted = LogDirectory(settings: settings)
        #expect(restarted.append([entry(7)], retainFrom: "2026-11-13") == [.duplicate])
    }

    @Test("a partial last line left by a crashed writer is ended, never cut, before the next append")
    func tornTailIsEnded() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true))
        #expect(log.append([entry(1)], retainFrom: "2026-11-13") == [.appended])
        let path = directory.logPath + "/" + LogDirectory.fileName(day: day)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event_id\":\"evt_torn\",\"te".utf8))
        handle.closeFile()
        let before = try directory.contents(day: day)
        #expect(log.append([entry(2)], retainFrom: "2026-11-13") == [.appended])
        // A tailer may have read the partial line: the file only grows, and the partial line stays a line of its own.
        #expect(try directory.contents(day: day).starts(with: before))
        #expect(
            try directory.lines(day: day) == [
                "{\"event_id\":\"evt_1\",\"text\":\"x\"}", "{\"event_id\":\"evt_torn\",\"te (cut short)",
                "{\"event_id\":\"evt_2\",\"text\":\"x\"}",
            ]
        )
    }

    @Test("a line cut short anywhere, even just before its newline, reads as no JSON and is told apart")
    func cutShortLines() throws {
        // A record as Verdict writes them, with escapes and characters of two to four bytes.
        let record = Array(
            #"{"schema_version":1,"event_id":"evt_1","note":"é€😀 \u2028 \"q\"","n":[1,-2.5e3,true,false,null],"o":{}}"#
                .utf8
        )
        #expect((try? JSONSerialization.jsonObject(with: Data(record))) != nil)
        #expect(!LogDirectory.isCutShort(record))
        for length in 1...record.count {
            let line = Array(record.prefix(length)) + LogDirectory.cutShortMark
            #expect((try? JSONSerialization.jsonObject(with: Data(line))) == nil, "JSON when cut at \(length)")
            #expect(LogDirectory.isCutShort(line), "not told cut short when cut at \(length)")
        }
        #expect(!LogDirectory.isCutShort(LogDirectory.cutShortMark))
        #expect(!LogDirectory.isCutShort(Array("not a record".utf8) + LogDirectory.cutShortMark))
    }

    @Test("a partial last line left in the previous day's file is ended by the first append of the next day")
    func tornTailOfThePreviousDayIsEnded() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: true)
        #expect(LogDirectory(settings: settings).append([entry(1)], retainFrom: "2026-11-13") == [.appended])
        let path = directory.logPath + "/" + LogDirectory.fileName(day: day)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event_id\":\"evt_torn\",\"te".utf8))
        handle.closeFile()
        // Another process, after midnight: it never appends to the day before, yet finds its partial line.
        let next = LogDirectory(settings: settings)
        #expect(next.append([entry(2, day: "2026-11-24")], retainFrom: "2026-11-14") == [.appended])
        #expect(
            try directory.lines(day: day) == [
                "{\"event_id\":\"evt_1\",\"text\":\"x\"}", "{\"event_id\":\"evt_torn\",\"te (cut short)",
            ]
        )
        #expect(try directory.contents(day: day).last == UInt8(ascii: "\n"))
        #expect(try directory.lines(day: "2026-11-24") == ["{\"event_id\":\"evt_2\",\"text\":\"x\"}"])
    }

    @Test("a partial first line of a day's file is ended by the next append, even when that goes to a later day")
    func tornFirstAppendOfADayIsEndedFromALaterDay() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: true)
        #expect(LogDirectory(settings: settings).append([entry(1)], retainFrom: "2026-11-13") == [.appended])
        // The first append to 2026-11-24's file fails (the file can grow no more), as one whose process is killed
        // mid-line would: the shared state must name that day, with its end unknown.
        let torn = directory.logPath + "/" + LogDirectory.fileName(day: "2026-11-24")
        try directory.makeDayFileFull(day: "2026-11-24")
        let failed = LogDirectory(settings: settings).append([entry(2, day: "2026-11-24")], retainFrom: "2026-11-14")
        guard case .failed = failed.first else {
            Issue.record("an append to a file at its largest was reported \(failed)")
            return
        }
        let lock = try FileDescriptor.open(FilePath(directory.logPath + "/.verdict/lock"), .readOnly)
        defer { try? lock.close() }
        let state = SharedState.read(from: lock)
        #expect(state.logDay == "2026-11-24" && state.logEnd == SharedState.unknownEnd)
        // What such a writer leaves: part of its line. The next append, by another process, is on the day after.
        try FileManager.default.removeItem(atPath: torn)
        try Data("{\"event_id\":\"evt_2\",\"te".utf8).write(to: URL(fileURLWithPath: torn))
        let next = LogDirectory(settings: settings)
        #expect(next.append([entry(3, day: "2026-11-25")], retainFrom: "2026-11-15") == [.appended])
        #expect(try directory.lines(day: "2026-11-24") == ["{\"event_id\":\"evt_2\",\"te (cut short)"])
        #expect(try directory.lines(day: "2026-11-25") == ["{\"event_id\":\"evt_3\",\"text\":\"x\"}"])
    }

    @Test(
        "a day's file that is a symbolic link or not a regular file is never written through",
        arguments: ["link to a readable file", "FIFO"]
    )
    func plantedDayFileIsRefused(_ planted: String) throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.logPath, withIntermediateDirectories: true)
        let path = directory.logPath + "/" + LogDirectory.fileName(day: day)
        let target = directory.path + "/elsewhere"
        if planted == "FIFO" {
            try #require(mkfifo(path, 0o666) == 0)
        } else {
            try Data().write(to: URL(fileURLWithPath: target))
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        }
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: false))
        let results = log.append([entry(1)], retainFrom: "2026-11-13")
        guard case .failed(let error) = results.first else {
            Issue.record("an append through a planted \(planted) was reported \(results)")
            return
        }
        let reason = planted == "FIFO" ? "not a regular file" : "a symbolic link"
        #expect(error.description.hasPrefix("cannot open \(path): \(reason)"))
        if planted != "FIFO" { #expect(try Data(contentsOf: URL(fileURLWithPath: target)).isEmpty) }
        // Not recorded as seen: once the file is put right, the retry is appended.
        try FileManager.default.removeItem(atPath: path)
        #expect(log.append([entry(1)], retainFrom: "2026-11-13") == [.appended])
    }

    @Test("a .verdict planted as a symbolic link is not used for the lock and the redelivery index")
    func plantedStateDirectoryIsRefused() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let elsewhere = directory.path + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.logPath, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: directory.logPath + "/.verdict",
            withDestinationPath: elsewhere
        )
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: false))
        let results = log.append([entry(1)], retainFrom: "2026-11-13")
        guard case .failed(let error) = results.first else {
            Issue.record("an append with a planted .verdict was reported \(results)")
            return
        }
        #expect(error.description.hasPrefix("cannot use \(directory.logPath)/.verdict: not a folder of this user's"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        #expect(LogDirectory.access(directory.logPath, day: day) == .notWritable(directory.logPath + "/.verdict"))
    }

    @Test("a file holding only a partial line keeps it, ended, before the next append")
    func tornOnlyLineIsEnded() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.logPath, withIntermediateDirectories: true)
        let path = directory.logPath + "/" + LogDirectory.fileName(day: day)
        try Data(String(repeating: "y", count: 200_000).utf8).write(to: URL(fileURLWithPath: path))
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: false))
        #expect(log.append([entry(3)], retainFrom: "2026-11-13") == [.appended])
        #expect(
            try directory.lines(day: day) == [
                String(repeating: "y", count: 200_000) + " (cut short)", "{\"event_id\":\"evt_3\",\"text\":\"x\"}",
            ]
        )
    }

    @Test("entries land in the file of their own UTC day across midnight, none lost or doubled")
    func dayRollover() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true))
        let batch = [entry(1, day: "2026-11-23"), entry(2, day: "2026-11-24"), entry(3, day: "2026-11-23")]
        #expect(log.append(batch, retainFrom: "2026-11-14") == [.appended, .appended, .appended])
        #expect(log.append([entry(4, day: "2026-11-24")], retainFrom: "2026-11-14") == [.appended])
        // The same event again after midnight is still a redelivery.
        #expect(log.append([entry(1, day: "2026-11-24")], retainFrom: "2026-11-14") == [.duplicate])
        #expect(try directory.lines(day: "2026-11-23").count == 2)
        #expect(try directory.lines(day: "2026-11-24").count == 2)
    }

    @Test("keys older than the retention window are pruned, keeping the state bounded")
    func retentionPrunesIndex() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: false))
        #expect(log.append([entry(1, day: "2026-11-01")], retainFrom: "2026-10-22") == [.appended])
        #expect(FileManager.default.fileExists(atPath: directory.logPath + "/.verdict/seen-2026-11-01"))
        #expect(log.append([entry(2, day: "2026-11-20")], retainFrom: "2026-11-10") == [.appended])
        #expect(!FileManager.default.fileExists(atPath: directory.logPath + "/.verdict/seen-2026-11-01"))
        #expect(log.append([entry(1, day: "2026-11-20")], retainFrom: "2026-11-10") == [.appended])
        // The first day of the window still counts; the day before it does not.
        #expect(log.append([entry(3, day: "2026-11-21")], retainFrom: "2026-11-11") == [.appended])
        #expect(log.append([entry(3, day: "2026-12-01")], retainFrom: "2026-11-21") == [.duplicate])
        #expect(log.append([entry(3, day: "2026-12-02")], retainFrom: "2026-11-22") == [.appended])
    }

    @Test("a key cut short in an index file (a writer killed mid-record) does not shift the keys after it")
    func partialIndexRecordIsCut() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let settings = LogSettings(directory: directory.logPath, fsync: false)
        #expect(LogDirectory(settings: settings).append([entry(1)], retainFrom: "2026-11-13") == [.appended])
        let index = try #require(FileHandle(forWritingAtPath: directory.logPath + "/.verdict/seen-" + day))
        index.seekToEndOfFile()
        index.write(Data([1, 2, 3, 4, 5]))
        index.closeFile()
        #expect(LogDirectory(settings: settings).append([entry(2)], retainFrom: "2026-11-13") == [.appended])
        // A process that reads the index afresh finds both keys.
        let fresh = LogDirectory(settings: settings)
        #expect(fresh.append([entry(2), entry(1)], retainFrom: "2026-11-13") == [.duplicate, .duplicate])
        #expect(try directory.lines(day: day).count == 2)
    }

    @Test("a log directory removed while running is recreated and the next append succeeds")
    func removedDirectoryIsRecreated() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true))
        #expect(log.append([entry(1)], retainFrom: "2026-11-13") == [.appended])
        try FileManager.default.removeItem(atPath: directory.logPath)
        #expect(log.append([entry(2)], retainFrom: "2026-11-13") == [.appended])
        #expect(try directory.lines(day: day) == ["{\"event_id\":\"evt_2\",\"text\":\"x\"}"])
    }

    @Test(
        "once synced, a day's file keeps at most its last two MiB in the page cache, and its end stays cached",
        .enabled(if: TestDirectory.pageCacheIsDroppable, "the temporary folder keeps files in memory (tmpfs)")
    )
    func olderLinesLeaveThePageCache() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true))
        // About 4.1 MB of 4 KB lines. Pages more than a MiB behind the end are dropped once per MiB appended, so
        // whatever lies more than two MiB behind the end must be out of the cache.
        let text = String(repeating: "x", count: 4000)
        for id in 0..<1024 {
            #expect(log.append([entry(id, text: text)], retainFrom: "2026-11-13") == [.appended])
        }
        let resident = try directory.residentPages(day: day)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = try directory.contents(day: day).count
        let dropped = (size - (2 << 20)) / pageSize
        #expect(dropped > 256)
        #expect(resident.prefix(dropped).allSatisfy { !$0 })
        #expect(resident.last == true)
        #expect(try directory.lines(day: day).count == 1024)
    }

    @Test("an unusable log directory fails every entry with a message naming the path")
    func unusableDirectoryFails() throws {
        let directory = TestDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        // A regular file where the log directory should be: no user, root included, can write below it.
        #expect(FileManager.default.createFile(atPath: directory.logPath, contents: Data("x".utf8)))
        let log = LogDirectory(settings: LogSettings(directory: directory.logPath, fsync: true))
        let results = log.append([entry(1), entry(2)], retainFrom: "2026-11-13")
        #expect(results.count == 2)
        for result in results {
            guard case .failed(let error) = result else {
                Issue.record("expected a failure, got \(result)")
                continue
            }
            #expect(error.description.contains(directory.logPath))
        }
        #expect(throws: DecisionLogError.self) { try log.checkWritable(day: day) }
    }
}
