import DecisionLog
import Foundation
import Testing

/// A fresh directory under the system temporary folder, removed by `remove()`.
struct TestDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "verdict-log-tests-" + UUID().uuidString
    }

    var logPath: String { path + "/log" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Makes `day`'s file as long as the file system allows (sparse: it takes no room), ending in a newline, so that
    /// every append to it fails ("file too large") before writing anything, as on a full disk.
    func makeDayFileFull(day: String) throws {
        try FileManager.default.createDirectory(atPath: logPath, withIntermediateDirectories: true)
        let descriptor = open(logPath + "/" + LogDirectory.fileName(day: day), O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        // The largest size the file system takes.
        var (low, high) = (Int64(1), Int64.max)
        while low < high {
            let middle = low + (high - low + 1) / 2
            if ftruncate(descriptor, off_t(middle)) == 0 { low = middle } else { high = middle - 1 }
        }
        var newline = UInt8(ascii: "\n")
        try #require(ftruncate(descriptor, off_t(low)) == 0 && pwrite(descriptor, &newline, 1, off_t(low - 1)) == 1)
    }

    func lines(day: String) throws -> [String] {
        let text = try String(contentsOfFile: logPath + "/" + LogDirectory.fileName(day: day), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func contents(day: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: logPath + "/" + LogDirectory.fileName(day: day)))
    }

    /// Whether the kernel drops a synced file's pages when asked, under the temporary folder (tmpfs keeps them).
    static let pageCacheIsDroppable: Bool = {
        let path = NSTemporaryDirectory() + "verdict-page-cache-probe-" + UUID().uuidString
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        defer {
            close(descriptor)
            unlink(path)
        }
        let page = [UInt8](repeating: 0x0A, count: 8192)
        guard write(descriptor, page, page.count) == page.count, fsync(descriptor) == 0,
            posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0
        else { return false }
        return (try? residentPages(path: path))?.first == false
    }()

    /// For each 4 KiB page of the day's file, whether it is in the page cache.
    func residentPages(day: String) throws -> [Bool] {
        try Self.residentPages(path: logPath + "/" + LogDirectory.fileName(day: day))
    }

    /// For each page of the file at `path`, whether it is in the page cache (`mincore`).
    static func residentPages(path: String) throws -> [Bool] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        let size = Int(lseek(descriptor, 0, SEEK_END))
        guard size > 0 else { return [] }
        guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), map != MAP_FAILED else {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        defer { munmap(map, size) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: (size + pageSize - 1) / pageSize)
        guard mincore(map, size, &vector) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return vector.map { $0 & 1 == 1 }
    }

    func mode(_ relative: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: logPath + relative)
        return (attributes[.posixPermissions] as? Int ?? -1) & 0o777
    }
}

func entry(_ id: Int, day: String = "2026-11-23", text: String? = nil) -> LogEntry {
    let line = "{\"event_id\":\"evt_\(id)\",\"text\":\"\(text ?? "x")\"}\n"
    var key = [UInt8](repeating: 0, count: 16)
    var value = UInt64(id)
    for index in 0..<8 {
        key[15 - index] = UInt8(truncatingIfNeeded: value)
        value >>= 8
    }
    return LogEntry(day: day, line: Array(line.utf8), key: RedeliveryKey(key))
}

/// Checks the outcome of appending `distinct` events twice each: one whole line per event, each id once, and one
/// `appended` and one `duplicate` result per event.
func expectOneLinePerEvent(in directory: TestDirectory, distinct: Int, results: AppendTally) throws {
    let lines = try directory.lines(day: "2026-11-23")
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

/// Counts append results from many threads.
final class AppendTally: @unchecked Sendable {
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
