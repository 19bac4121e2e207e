import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Appends on a dedicated thread and reports each entry's result through its completion, so no request thread
/// sleeps while a batch is written and synced: a FastCGI worker goes back to accepting, and the web server is
/// answered by this thread once the line is on disk.
///
/// Entries are queued in a `CommitArea`, which the worker processes of one `verdict serve` share. One writer at a
/// time (any process's) takes the directory lock, then every entry queued by then by any process, appends them with
/// one `write` and one `fdatasync`, and publishes each entry's result; each process's thread then calls its own
/// entries' completions (never before their line is synced). Entries queued meanwhile form the next batch, which
/// the next free writer takes at once. Compared with request threads that append themselves and wait for their
/// batch, this saves a sleep and a wake-up per request; compared with a writer per process, each sync covers every
/// process's entries and no entry waits for another process's sync before its own. With fsync off there is no sync
/// to share, and the hand-off costs more than it saves: FastCGI workers then use `DirectLog`.
public final class CommitQueue: @unchecked Sendable {
    private let log: LogDirectory
    private let area: CommitArea
    /// This queue's number in the area.
    private let owner: UInt64
    // Guarded by the area's mutex:
    /// This process's entries in the area, oldest first, waiting for their result.
    private var waiting: [(sequence: UInt64, completion: Completion)] = []
    /// Entries too large for the area (or queued while it was full): appended only by this queue's thread.
    private var local: [Pending] = []
    /// Work that needs the log to itself (health checks); runs between batches, so it is never starved.
    private var tasks: [() -> Void] = []
    /// Set by `stop`: this queue takes no more batches.
    private var stopping = false

    public typealias Completion = @Sendable (AppendResult) -> Void

    private struct Pending {
        var entry: LogEntry
        var retainFrom: String
        var completion: Completion
    }

    /// Starts the writing thread of a queue that shares its batches with no other process.
    public convenience init(log: LogDirectory) throws(DecisionLogError) {
        try self.init(log: log, area: CommitArea(processes: 1))
    }

    /// Starts the writing thread, which runs for the life of the process, on `area` (shared with the other
    /// processes or queues that write the same directory through it).
    public init(log: LogDirectory, area: CommitArea) throws(DecisionLogError) {
        self.log = log
        self.area = area
        area.lock()
        owner = area.nextOwner
        area.nextOwner += 1
        area.unlock()
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(
            &thread,
            nil,
            { context in
                Unmanaged<CommitQueue>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            },
            context
        )
        guard result == 0 else {
            Unmanaged<CommitQueue>.fromOpaque(context).release()
            throw DecisionLogError("start the log writer for", log.settings.directory, Errno(rawValue: result))
        }
        pthread_detach(thread)
    }

    /// Queues `entry`; `completion` is called on the writing thread once the entry is on disk, found to be a
    /// redelivery, or has failed.
    ///
    /// - Parameter retainFrom: as for `LogDirectory.append`.
    public func append(_ entry: LogEntry, retainFrom: String, completion: @escaping Completion) {
        area.lock()
        if let sequence = area.enqueue(entry, retainFrom: retainFrom) {
            waiting.append((sequence, completion))
            // A writer busy with a batch looks again when it is done; only an idle one needs waking.
            if area.writerOwner == 0 { area.notify(all: false) }
        } else {
            local.append(Pending(entry: entry, retainFrom: retainFrom, completion: completion))
            if area.writerOwner == 0 { area.notify(all: true) }
        }
        area.unlock()
    }

    /// Runs `body` with the log on the writer thread, between batches, and returns its result (health checks).
    public func withLog<R>(_ body: @escaping (LogDirectory) throws(DecisionLogError) -> R) throws(DecisionLogError) -> R
    {
        let outcome = TaskOutcome<R>()
        area.lock()
        tasks.append { [log] in
            do throws(DecisionLogError) {
                outcome.value = .success(try body(log))
            } catch {
                outcome.value = .failure(error)
            }
            sem_post(outcome.done)
        }
        area.notify(all: true)
        area.unlock()
        while sem_wait(outcome.done) != 0 && errno == EINTR {}
        guard let value = outcome.value else { throw DecisionLogError("check", log.settings.directory, .ioError) }
        return try value.get()
    }

    /// Takes no more batches, and returns once this queue's thread is not appending one (before the process exits,
    /// so that other processes' entries it took are not left without a result).
    public func stop() {
        area.lock()
        stopping = true
        while area.writerOwner == owner { area.wait(milliseconds: 100) }
        area.unlock()
    }

    private func run() {
        area.lock()
        while true {
            if let first = waiting.first, first.sequence < area.publishedEnd {
                var due: [(Completion, AppendResult)] = []
                while let next = waiting.first, next.sequence < area.publishedEnd {
                    due.append((next.completion, area.result(for: next.sequence, directory: log.settings.directory)))
                    waiting.removeFirst()
                }
                area.unlock()
                for (completion, result) in due { completion(result) }
                area.lock()
            } else if !tasks.isEmpty {
                let task = tasks.removeFirst()
                area.unlock()
                task()
                area.lock()
            } else if area.writerOwner == 0 && !stopping && (area.head < area.tail || !local.isEmpty) {
                area.writerOwner = owner
                area.writerProcess = getpid()
                area.unlock()
                appendBatch()
                area.lock()
            } else {
                // Timed, so that a writer whose process died mid-batch is noticed (see `CommitArea.wait`).
                area.wait(milliseconds: area.writerOwner == 0 ? 1000 : 100)
            }
        }
    }

    /// Appends everything queued, as the one writer; returns with the role given up and the results published.
    private func appendBatch() {
        var sequences: [UInt64] = []
        var mine: [Pending] = []
        // The batch is taken only once the directory lock is held: whatever was queued while another process (or
        // a CGI request) held it shares this write and sync.
        let outcomes = log.append { () -> (entries: [LogEntry], retainFrom: String) in
            area.lock()
            let taken = area.takeAll()
            area.takenEnd = area.nextSequence
            swap(&mine, &local)
            area.unlock()
            sequences = taken.sequences
            return (taken.entries + mine.map(\.entry), taken.retainFrom ?? mine.first?.retainFrom ?? "")
        }
        area.lock()
        for (sequence, outcome) in zip(sequences, outcomes) { area.setResult(outcome, for: sequence) }
        area.publishedEnd = max(area.publishedEnd, area.takenEnd)
        area.writerOwner = 0
        area.writerProcess = 0
        area.notify(all: true)
        area.unlock()
        for (pending, outcome) in zip(mine, outcomes.dropFirst(sequences.count)) { pending.completion(outcome) }
    }
}

/// What a task run on the writer thread returned, and the semaphore its caller waits on.
private final class TaskOutcome<R>: @unchecked Sendable {
    var value: Result<R, DecisionLogError>?
    let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() {
        sem_init(done, 0, 0)
    }

    deinit {
        sem_destroy(done)
        done.deallocate()
    }
}
