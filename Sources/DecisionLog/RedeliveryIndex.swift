import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The keys of logged events, by UTC day of receipt, in `.verdict/seen-YYYY-MM-DD` files of 16-byte records.
///
/// Each process keeps the keys in memory and, under the directory lock, reads only what other processes appended
/// since its last look, so a FastCGI worker pays for each key once and a CGI process reads the window once.
/// Files older than the retention window are deleted, which keeps the state bounded.
///
/// The counters in `SharedState` say when there is something to read. While both are what this process last saw,
/// nobody else recorded anything and catching up costs nothing; when only `records` moved, the files this process
/// already has open are read from where it stopped; only when `files` moved (a new day, a pruned day), the
/// retention window moved, or on first use is the directory listed again.
struct RedeliveryIndex {
    static let recordSize = 16
    static let prefix = "seen-"

    let directory: String
    private var days: [String: TrackedDay] = [:]
    /// Keys this process knows that no index file holds: their day's file could not be opened to record them (no
    /// descriptors left, a permission changed), or vanished (deleted by hand). This process still recognises their
    /// redeliveries, and writes them back into the day's file once it has one open again, for the others.
    private var unrecorded: [String: KeySet] = [:]
    /// `SharedState`'s counters as of this process's last look; nil until the first complete listing.
    private var seen: (records: UInt64, files: UInt64)? = nil
    private var listedRetainFrom = ""

    /// An open index file and how much of it is in memory. A class, so updating it never copies the keys.
    private final class TrackedDay {
        let file: OpenFile
        var consumed: Int64 = 0
        let keys = KeySet()
        /// Where new records are read into. Kept, because a temporary buffer this large is a heap allocation each
        /// time, and a worker reads new records almost every batch while another process appends too.
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)

        init(file: OpenFile) {
            self.file = file
        }

        deinit {
            readBuffer.deallocate()
        }
    }

    init(directory: String) {
        self.directory = directory
    }

    mutating func reset() {
        for day in days.values { day.file.close() }
        days = [:]
        unrecorded = [:]
        forgetCounters()
    }

    /// Makes the next `catchUp` list the directory and read every file (after the shared state could not be saved).
    mutating func forgetCounters() {
        seen = nil
        listedRetainFrom = ""
    }

    func contains(_ key: RedeliveryKey) -> Bool {
        days.values.contains { $0.keys.contains(key) } || unrecorded.values.contains { $0.contains(key) }
    }

    /// Reads what other processes recorded since the last call and removes days before `retainFrom`.
    /// Problems are reported and skipped: a missed key can cause a duplicate line, never a lost one.
    ///
    /// - Parameter state: read from the lock file, which the caller holds locked and rewrites when it changed.
    mutating func catchUp(retainFrom: String, state: inout SharedState) {
        if let seen, seen.files == state.files, listedRetainFrom == retainFrom {
            if seen.records != state.records {
                for tracked in days.values { readNew(tracked) }
                self.seen = (state.records, state.files)
            }
            return
        }
        let names: [String]
        do {
            names = try system_listDirectory(directory)
        } catch {
            system_reportToStandardError("cannot list \(directory): \(error) (redeliveries may be logged twice)")
            forgetCounters()
            return
        }
        var listed = Set<String>()
        for name in names where name.hasPrefix(Self.prefix) {
            let day = String(name.dropFirst(Self.prefix.count))
            if day < retainFrom {
                if (try? system_unlink(directory + "/" + name)) != nil { state.files &+= 1 }
                continue
            }
            listed.insert(day)
            open(day: day, state: &state)
        }
        for day in Array(days.keys) where day < retainFrom || !listed.contains(day) {
            if let vanished = days[day], day >= retainFrom { keepInMemory(vanished.keys, day: day) }
            days[day]?.file.close()
            days[day] = nil
        }
        for day in Array(unrecorded.keys) where day < retainFrom { unrecorded[day] = nil }
        seen = (state.records, state.files)
        listedRetainFrom = retainFrom
    }

    /// Opens `day`'s file when it is not open (or no longer the file at its path) and reads what is new in it.
    private mutating func open(day: String, state: inout SharedState) {
        let path = directory + "/" + Self.prefix + day
        if let tracked = days[day], !tracked.file.isStillAt(path) {
            keepInMemory(tracked.keys, day: day)
            tracked.file.close()
            days[day] = nil
        }
        if let tracked = days[day] {
            readNew(tracked)
            return
        }
        guard let file = try? OpenFile.open(path, [.readWrite, .append], mode: 0o600, operation: "open") else {
            return
        }
        let tracked = TrackedDay(file: file)
        days[day] = tracked
        readNew(tracked)
        writeBack(day: day, into: tracked, state: &state)
    }

    private mutating func keepInMemory(_ keys: KeySet, day: String) {
        let kept = unrecorded[day] ?? KeySet()
        keys.forEach { kept.insert($0) }
        unrecorded[day] = kept
    }

    private mutating func keepInMemory(_ keys: [RedeliveryKey], day: String) {
        let kept = unrecorded[day] ?? KeySet()
        for key in keys { kept.insert(key) }
        unrecorded[day] = kept
    }

    /// Appends the keys of `day` that only this process's memory holds to its file, just opened. On failure they
    /// stay in memory, for the next time.
    private mutating func writeBack(day: String, into tracked: TrackedDay, state: inout SharedState) {
        guard let kept = unrecorded[day] else { return }
        var bytes: [UInt8] = []
        kept.forEach { key in
            if !tracked.keys.contains(key) { key.append(to: &bytes) }
        }
        if !bytes.isEmpty {
            guard (try? tracked.file.descriptor.writeAll(bytes)) != nil else {
                try? tracked.file.descriptor.resize(to: tracked.consumed)
                return
            }
            tracked.consumed += Int64(bytes.count)
            state.records &+= 1
        }
        kept.forEach { tracked.keys.insert($0) }
        unrecorded[day] = nil
    }

    /// Reads the records appended to `tracked` since it was last read, in chunks from where it stopped (no `stat`).
    private func readNew(_ tracked: TrackedDay) {
        let buffer = tracked.readBuffer
        while true {
            guard let read = try? tracked.file.descriptor.read(fromAbsoluteOffset: tracked.consumed, into: buffer)
            else { return }
            var offset = 0
            while offset + Self.recordSize <= read {
                tracked.keys.insert(RedeliveryKey(UnsafeRawBufferPointer(buffer), at: offset))
                offset += Self.recordSize
            }
            tracked.consumed += Int64(offset)
            if read == buffer.count { continue }
            // The end. A crash mid-record leaves a partial one; cut it so later records stay aligned.
            if offset != read { try? tracked.file.descriptor.resize(to: tracked.consumed) }
            return
        }
    }

    /// Records keys whose lines are on disk. Not synced: losing them in a power cut costs at worst a duplicate line.
    ///
    /// - Parameter state: as for `catchUp`, in the same hold of the lock.
    /// - Throws: when the keys cannot be written (a full disk). This process keeps them and writes them when it
    ///   next can, but other processes (a CGI process, after a restart) would not know them: the caller answers
    ///   503, so that a retry is either recognised here or logged again as a retry of an unanswered delivery.
    mutating func record(_ keys: [RedeliveryKey], day: String, state: inout SharedState) throws(DecisionLogError) {
        let path = directory + "/" + Self.prefix + day
        if days[day] == nil {
            do throws(DecisionLogError) {
                let (file, created) = try OpenFile.openOrCreateForAppend(path, mode: 0o600)
                if created { state.files &+= 1 }
                let tracked = TrackedDay(file: file)
                days[day] = tracked
                readNew(tracked)
            } catch {
                keepInMemory(keys, day: day)
                throw error
            }
        }
        guard let tracked = days[day] else { return }
        writeBack(day: day, into: tracked, state: &state)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(keys.count * Self.recordSize)
        for key in keys { key.append(to: &bytes) }
        do {
            _ = try tracked.file.descriptor.writeAll(bytes)
            tracked.consumed += Int64(bytes.count)
        } catch {
            // Part of a key would shift every key after it (files are read a record at a time).
            try? tracked.file.descriptor.resize(to: tracked.consumed)
            keepInMemory(keys, day: day)
            throw DecisionLogError("record event keys in", path, error)
        }
        for key in keys { tracked.keys.insert(key) }
        state.records &+= 1
        if seen != nil { seen = (state.records, state.files) }
    }
}
