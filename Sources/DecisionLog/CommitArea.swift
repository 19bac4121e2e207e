import CLinux
import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Memory that the worker processes of one `verdict serve` share, mapped before they are forked: the entries
/// queued for the log by any of them, and what became of each. It lets one writer at a time append and sync
/// everything queued by every process, where a writer per process syncs only its own process's entries and waits
/// for the others' syncs in between (measured: one process with 4 threads answered 10–14.5k durable requests/s,
/// two processes 9.5–10.8k, behind the same nginx).
///
/// Layout: a header (a robust, process-shared mutex, then counters), a ring of entries, then one result slot per
/// recent entry. Everything in it is read and written only while holding the mutex. Threads wait for a change on a
/// futex rather than a process-shared condition variable: glibc's keeps per-waiter state that a waiter killed
/// mid-wait never clears, after which signalling it blocks every other process.
public final class CommitArea: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    /// Bytes for queued entries. An entry that does not fit (or arrives while the ring is full) waits in its own
    /// process's memory instead, for that process's writer.
    let ringCapacity: Int
    /// Result slots, reused every `resultSlots` entries: more than every process can have waiting at once.
    let resultSlots: Int

    static let ringOffset = 4096

    /// Maps an area for `processes` processes (one is fine: the area then stays private to it).
    public init(processes: Int, ringCapacity: Int = 512 << 10) throws(DecisionLogError) {
        // Entries are 8-byte aligned, so whatever space is left before the ring's end holds a skip marker.
        precondition(ringCapacity > 0 && ringCapacity % 8 == 0, "the ring's capacity must be a multiple of 8 bytes")
        self.ringCapacity = ringCapacity
        resultSlots = max(1024, processes * 1024)
        byteCount = Self.ringOffset + ringCapacity + resultSlots * ResultSlot.size
        guard
            let mapping = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
            mapping != MAP_FAILED
        else {
            throw DecisionLogError("map memory for the log queue", "(anonymous)", Errno(rawValue: errno))
        }
        base = mapping
        var mutexAttributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&mutexAttributes)
        pthread_mutexattr_setpshared(&mutexAttributes, Int32(PTHREAD_PROCESS_SHARED))
        // A process that dies holding the mutex must not stop the others: the next to lock it is told and goes on.
        pthread_mutexattr_setrobust(&mutexAttributes, Int32(PTHREAD_MUTEX_ROBUST))
        pthread_mutex_init(mutex, &mutexAttributes)
        pthread_mutexattr_destroy(&mutexAttributes)
        nextSequence = 1
        publishedEnd = 1
        nextOwner = 1
    }

    deinit {
        munmap(base, byteCount)
    }

    // MARK: - Header

    var mutex: UnsafeMutablePointer<pthread_mutex_t> {
        base.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Bumped (and waiters woken) when entries are queued, results published or the writer's role is free.
    private var generation: UnsafeMutablePointer<UInt32> {
        (base + 64).assumingMemoryBound(to: UInt32.self)
    }

    /// Threads in `wait` (or killed there: that only costs a wake-up call that wakes nobody).
    private var waiters: UnsafeMutablePointer<UInt32> {
        (base + 68).assumingMemoryBound(to: UInt32.self)
    }

    private func field(_ offset: Int) -> UnsafeMutablePointer<UInt64> {
        (base + 128 + offset).assumingMemoryBound(to: UInt64.self)
    }

    /// The queue (`CommitQueue.owner`) whose thread is appending a batch; 0 when none is.
    var writerOwner: UInt64 {
        get { field(0).pointee }
        set { field(0).pointee = newValue }
    }
    /// That queue's process, to tell whether it died mid-batch.
    var writerProcess: pid_t {
        get { pid_t(truncatingIfNeeded: field(8).pointee) }
        set { field(8).pointee = UInt64(UInt32(bitPattern: newValue)) }
    }
    /// Ring positions (counted from the start, never wrapped): entries queued and not yet taken are `head..<tail`.
    var head: UInt64 {
        get { field(16).pointee }
        set { field(16).pointee = newValue }
    }
    var tail: UInt64 {
        get { field(24).pointee }
        set { field(24).pointee = newValue }
    }
    /// The sequence number of the next entry queued.
    var nextSequence: UInt64 {
        get { field(32).pointee }
        set { field(32).pointee = newValue }
    }
    /// Every entry numbered below this has its result published (batches are taken and finished in order).
    var publishedEnd: UInt64 {
        get { field(40).pointee }
        set { field(40).pointee = newValue }
    }
    /// The end of the batch being appended (its entries are `publishedEnd..<takenEnd`).
    var takenEnd: UInt64 {
        get { field(48).pointee }
        set { field(48).pointee = newValue }
    }
    /// The next queue's owner number.
    var nextOwner: UInt64 {
        get { field(56).pointee }
        set { field(56).pointee = newValue }
    }

    // MARK: - Locking

    func lock() {
        if pthread_mutex_lock(mutex) == EOWNERDEAD { recoverAfterDeath() }
    }

    func unlock() {
        pthread_mutex_unlock(mutex)
    }

    /// Waits (holding the mutex, which is released meanwhile) until `notify` is called or `milliseconds` pass.
    func wait(milliseconds: Int32) {
        let seen = generation.pointee
        waiters.pointee += 1
        unlock()
        _ = verdict_futex_wait(generation, seen, milliseconds)
        lock()
        waiters.pointee -= 1
        // Not only after a wait that timed out: frequent wake-ups (every health check wakes every waiter) would
        // then keep a dead writer's role from ever being released. Costs a `kill(pid, 0)` per wake-up while a writer
        // is set: under load, about one per batch.
        releaseRoleOfDeadWriter()
    }

    /// Wakes one waiting thread (`all`: every one), in any process. Called holding the mutex.
    func notify(all: Bool) {
        generation.pointee &+= 1
        if waiters.pointee > 0 { verdict_futex_wake(generation, all ? Int32.max : 1) }
    }

    /// A process died holding the mutex. Every update under it leaves the header consistent at each step that
    /// matters (an entry's bytes are written before `tail` moves past them), so marking it usable is enough; the
    /// process may also have been the writer.
    private func recoverAfterDeath() {
        pthread_mutex_consistent(mutex)
        releaseRoleOfDeadWriter()
    }

    /// If the writer's process is gone, its batch fails (its lines may or may not be in the file: the requests are
    /// answered 503, and a retry is either appended or recognised) and another process may write.
    func releaseRoleOfDeadWriter() {
        guard writerOwner != 0, kill(writerProcess, 0) != 0, errno == ESRCH else { return }
        // What it took: up to `takenEnd`, or, when it died inside `takeAll` (before storing `takenEnd`), up to the
        // oldest entry still queued. Nothing, when it died waiting for the directory lock.
        let batch = publishedEnd..<max(publishedEnd, takenEnd, oldestQueuedSequence)
        system_reportToStandardError(
            "the log writer in process \(writerProcess) ended mid-batch; another process writes now"
                + (batch.isEmpty ? "" : "; its batch of \(batch.count) is answered 503 and the senders retry")
        )
        for sequence in batch {
            setResult(.failed(DecisionLogError("append to", "the log", .ioError)), for: sequence)
        }
        publishedEnd = batch.upperBound
        writerOwner = 0
        writerProcess = 0
        notify(all: true)
    }

    // MARK: - The ring

    /// What an entry in the ring starts with; the line follows, and the entry is padded to 8 bytes.
    private enum EntryLayout {
        static let size = 0  // UInt32: bytes taken by the entry; `skipToStart` for padding before the ring's end
        static let lineLength = 4  // UInt32
        static let sequence = 8  // UInt64
        static let keyHigh = 16
        static let keyLow = 24
        static let day = 32  // 16 bytes, NUL-padded
        static let retainFrom = 48  // 16 bytes, NUL-padded
        static let headerSize = 64
        static let skipToStart = UInt32.max
    }

    /// The largest entry the ring takes; larger ones wait in their own process.
    var largestEntry: Int { ringCapacity / 4 }

    private var ring: UnsafeMutableRawPointer { base + Self.ringOffset }

    /// Queues `entry` and returns its sequence number, or nil when it does not fit now.
    func enqueue(_ entry: LogEntry, retainFrom: String) -> UInt64? {
        let size = (EntryLayout.headerSize + entry.line.count + 7) & ~7
        guard size <= largestEntry else { return nil }
        var position = Int(tail % UInt64(ringCapacity))
        let free = ringCapacity - Int(tail - head)
        let padding = ringCapacity - position < size ? ringCapacity - position : 0
        guard padding + size <= free else { return nil }
        if padding > 0 {
            ring.storeBytes(of: EntryLayout.skipToStart, toByteOffset: position, as: UInt32.self)
            position = 0
        }
        let sequence = nextSequence
        let start = ring + position
        start.storeBytes(of: UInt32(size), toByteOffset: EntryLayout.size, as: UInt32.self)
        start.storeBytes(of: UInt32(entry.line.count), toByteOffset: EntryLayout.lineLength, as: UInt32.self)
        start.storeBytes(of: sequence, toByteOffset: EntryLayout.sequence, as: UInt64.self)
        start.storeBytes(of: entry.key.high, toByteOffset: EntryLayout.keyHigh, as: UInt64.self)
        start.storeBytes(of: entry.key.low, toByteOffset: EntryLayout.keyLow, as: UInt64.self)
        Self.storeShortText(entry.day, at: start + EntryLayout.day)
        Self.storeShortText(retainFrom, at: start + EntryLayout.retainFrom)
        entry.line.withUnsafeBytes { line in
            (start + EntryLayout.headerSize).copyMemory(from: line.baseAddress!, byteCount: line.count)
        }
        // Only now is the entry visible: a process that dies before this line leaves nothing half-written.
        nextSequence = sequence + 1
        tail += UInt64(padding + size)
        return sequence
    }

    /// The sequence number of the oldest entry in the ring, or `nextSequence` when it is empty.
    private var oldestQueuedSequence: UInt64 {
        var position = head
        while position < tail {
            let offset = Int(position % UInt64(ringCapacity))
            let start = ring + offset
            if start.load(fromByteOffset: EntryLayout.size, as: UInt32.self) == EntryLayout.skipToStart {
                position += UInt64(ringCapacity - offset)
                continue
            }
            return start.load(fromByteOffset: EntryLayout.sequence, as: UInt64.self)
        }
        return nextSequence
    }

    /// Takes every queued entry, oldest first, with their sequence numbers, and frees their space.
    func takeAll() -> (entries: [LogEntry], sequences: [UInt64], retainFrom: String?) {
        var entries: [LogEntry] = []
        var sequences: [UInt64] = []
        var retainFrom: String?
        while head < tail {
            let position = Int(head % UInt64(ringCapacity))
            let start = ring + position
            let size = start.load(fromByteOffset: EntryLayout.size, as: UInt32.self)
            if size == EntryLayout.skipToStart {
                head += UInt64(ringCapacity - position)
                continue
            }
            let lineLength = Int(start.load(fromByteOffset: EntryLayout.lineLength, as: UInt32.self))
            let key = RedeliveryKey(
                high: start.load(fromByteOffset: EntryLayout.keyHigh, as: UInt64.self),
                low: start.load(fromByteOffset: EntryLayout.keyLow, as: UInt64.self)
            )
            let line = [UInt8](UnsafeRawBufferPointer(start: start + EntryLayout.headerSize, count: lineLength))
            entries.append(LogEntry(day: Self.loadShortText(at: start + EntryLayout.day), line: line, key: key))
            sequences.append(start.load(fromByteOffset: EntryLayout.sequence, as: UInt64.self))
            if retainFrom == nil { retainFrom = Self.loadShortText(at: start + EntryLayout.retainFrom) }
            head += UInt64(size)
        }
        return (entries, sequences, retainFrom)
    }

    private static func storeShortText(_ text: String, at address: UnsafeMutableRawPointer) {
        address.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        for (offset, byte) in text.utf8.prefix(16).enumerated() {
            address.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
        }
    }

    private static func loadShortText(at address: UnsafeMutableRawPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(start: address, count: 16).prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: - Results

    private enum ResultSlot {
        static let size = 16  // UInt64 sequence, Int32 outcome, Int32 errno
        static let appended: Int32 = 1
        static let duplicate: Int32 = 2
        static let failed: Int32 = 3
    }

    private func slot(_ sequence: UInt64) -> UnsafeMutableRawPointer {
        base + Self.ringOffset + ringCapacity + Int(sequence % UInt64(resultSlots)) * ResultSlot.size
    }

    func setResult(_ result: AppendResult, for sequence: UInt64) {
        let slot = slot(sequence)
        slot.storeBytes(of: sequence, toByteOffset: 0, as: UInt64.self)
        switch result {
        case .appended:
            slot.storeBytes(of: ResultSlot.appended, toByteOffset: 8, as: Int32.self)
        case .duplicate:
            slot.storeBytes(of: ResultSlot.duplicate, toByteOffset: 8, as: Int32.self)
        case .failed(let error):
            slot.storeBytes(of: ResultSlot.failed, toByteOffset: 8, as: Int32.self)
            slot.storeBytes(of: error.errno.rawValue, toByteOffset: 12, as: Int32.self)
        }
    }

    /// The published result of entry `sequence`. The process that published it has reported a failure's cause.
    func result(for sequence: UInt64, directory: String) -> AppendResult {
        let slot = slot(sequence)
        // A slot reused by a later entry (its owner took too long to look) says nothing about this one: failing
        // is safe, since the sender retries and the retry is appended or recognised.
        guard slot.load(fromByteOffset: 0, as: UInt64.self) == sequence else {
            let error = DecisionLogError("append to", directory, .ioError)
            system_reportToStandardError(
                "\(error.description) (the result of a queued line was overwritten before this process read it)"
            )
            return .failed(error)
        }
        switch slot.load(fromByteOffset: 8, as: Int32.self) {
        case ResultSlot.appended: return .appended
        case ResultSlot.duplicate: return .duplicate
        default:
            let code = slot.load(fromByteOffset: 12, as: Int32.self)
            return .failed(DecisionLogError("append to", directory, Errno(rawValue: code == 0 ? EIO : code)))
        }
    }
}
