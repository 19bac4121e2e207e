import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The keys of logged events, by UTC day of receipt, in `.verdict/seen-YYYY-MM-DD` files of 16-byte records.
///
/// Each process keeps the keys in memory and, under the directory lock, reads only what other processes appended
/// since its last look, so a FastCGI worker pays for each key once and a CGI process reads the window once.
/// Files older than the retention window are deleted, which keeps the state bounded.
struct RedeliveryIndex {
    static let recordSize = 16
    static let prefix = "seen-"

    let directory: String
    private var days: [String: TrackedDay] = [:]

    private struct TrackedDay {
        var file: OpenFile
        var consumed: Int64
        var keys: Set<RedeliveryKey>
    }

    init(directory: String) {
        self.directory = directory
    }

    mutating func reset() {
        for day in days.values { day.file.close() }
        days = [:]
    }

    func contains(_ key: RedeliveryKey) -> Bool {
        days.values.contains { $0.keys.contains(key) }
    }

    /// Reads what other processes recorded since the last call and removes days before `retainFrom`.
    /// Problems are reported and skipped: a missed key can cause a duplicate line, never a lost one.
    mutating func catchUp(retainFrom: String) {
        let names: [String]
        do {
            names = try system_listDirectory(directory)
        } catch {
            system_reportToStandardError("cannot list \(directory): \(error) (redeliveries may be logged twice)")
            return
        }
        for name in names where name.hasPrefix(Self.prefix) {
            let day = String(name.dropFirst(Self.prefix.count))
            if day < retainFrom {
                try? system_unlink(directory + "/" + name)
                days[day]?.file.close()
                days[day] = nil
                continue
            }
            readNew(day: day)
        }
        for day in days.keys where day < retainFrom {
            days[day]?.file.close()
            days[day] = nil
        }
    }

    private mutating func readNew(day: String) {
        let path = directory + "/" + Self.prefix + day
        if let tracked = days[day], !tracked.file.isStillAt(path) {
            tracked.file.close()
            days[day] = nil
        }
        if days[day] == nil {
            guard let file = try? OpenFile.open(path, [.readWrite, .append], mode: 0o600, operation: "open") else {
                return
            }
            days[day] = TrackedDay(file: file, consumed: 0, keys: [])
        }
        guard var tracked = days[day], let size = try? tracked.file.descriptor.stat().size else { return }
        // A crash mid-record leaves a partial one; cut it so later records stay aligned.
        let whole = size - size % Int64(Self.recordSize)
        if whole != size { try? tracked.file.descriptor.resize(to: whole) }
        guard whole > tracked.consumed else { return }
        var buffer = [UInt8](repeating: 0, count: Int(whole - tracked.consumed))
        let read =
            (try? buffer.withUnsafeMutableBytes {
                try tracked.file.descriptor.read(fromAbsoluteOffset: tracked.consumed, into: $0)
            }) ?? 0
        var offset = 0
        while offset + Self.recordSize <= read {
            tracked.keys.insert(RedeliveryKey(buffer[offset..<offset + Self.recordSize]))
            offset += Self.recordSize
        }
        tracked.consumed += Int64(offset)
        days[day] = tracked
    }

    /// Records keys whose lines are on disk. Not synced: losing them in a power cut costs at worst a duplicate line.
    mutating func record(_ keys: [RedeliveryKey], day: String) {
        let path = directory + "/" + Self.prefix + day
        if days[day] == nil {
            do throws(DecisionLogError) {
                let file = try OpenFile.open(path, [.readWrite, .append, .create], mode: 0o600, operation: "create")
                days[day] = TrackedDay(file: file, consumed: 0, keys: [])
                readNew(day: day)
            } catch {
                system_reportToStandardError(error.description + " (redeliveries may be logged twice)")
                return
            }
        }
        guard var tracked = days[day] else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(keys.count * Self.recordSize)
        for key in keys { bytes += key.bytes }
        do {
            _ = try tracked.file.descriptor.writeAll(bytes)
            tracked.consumed += Int64(bytes.count)
        } catch {
            system_reportToStandardError(
                "cannot record event keys in \(path): \(error) (redeliveries may be logged twice)"
            )
        }
        for key in keys { tracked.keys.insert(key) }
        days[day] = tracked
    }
}
