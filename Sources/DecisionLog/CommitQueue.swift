import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Appends on one dedicated thread and reports each entry's result through its completion, so no request thread
/// sleeps while a batch is written and synced: a FastCGI worker goes back to accepting, and the web server is
/// answered by this thread once the line is on disk.
///
/// The thread takes the directory lock, then every entry queued by then, appends them with one `write` and one
/// `fdatasync`, and calls each completion with that entry's result (never before its line is synced). Entries
/// queued meanwhile form the next batch. Compared with request threads that append themselves and wait for their
/// batch (the previous design), this saves a sleep and a wake-up per request. With fsync off there is no sync to
/// share, and the hand-off costs more than it saves: FastCGI workers then use `DirectLog`.
public final class CommitQueue: @unchecked Sendable {
    // All mutable state below is guarded by `mutex`.
    private let log: LogDirectory
    private var mutex = pthread_mutex_t()
    /// Signalled when work is queued.
    private var workQueued = pthread_cond_t()
    private var entries: [Pending] = []
    /// Work that needs the log to itself (health checks); runs before the next batch, so it is never starved.
    private var tasks: [() -> Void] = []

    private struct Pending {
        var entry: LogEntry
        var retainFrom: String
        var completion: @Sendable (AppendResult) -> Void
    }

    /// Starts the writing thread, which runs for the life of the process.
    public init(log: LogDirectory) throws(DecisionLogError) {
        self.log = log
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&workQueued, nil)
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
    public func append(
        _ entry: LogEntry,
        retainFrom: String,
        completion: @escaping @Sendable (AppendResult) -> Void
    ) {
        pthread_mutex_lock(&mutex)
        entries.append(Pending(entry: entry, retainFrom: retainFrom, completion: completion))
        pthread_cond_signal(&workQueued)
        pthread_mutex_unlock(&mutex)
    }

    /// Runs `body` with the log on the writing thread, between batches, and returns its result (health checks).
    public func withLog<R>(_ body: @escaping (LogDirectory) throws(DecisionLogError) -> R) throws(DecisionLogError) -> R
    {
        let outcome = TaskOutcome<R>()
        pthread_mutex_lock(&mutex)
        tasks.append { [log] in
            do throws(DecisionLogError) {
                outcome.value = .success(try body(log))
            } catch {
                outcome.value = .failure(error)
            }
            sem_post(outcome.done)
        }
        pthread_cond_signal(&workQueued)
        pthread_mutex_unlock(&mutex)
        while sem_wait(outcome.done) != 0 && errno == EINTR {}
        guard let value = outcome.value else { throw DecisionLogError("check", log.settings.directory, .ioError) }
        return try value.get()
    }

    private func run() {
        while true {
            pthread_mutex_lock(&mutex)
            while entries.isEmpty && tasks.isEmpty { pthread_cond_wait(&workQueued, &mutex) }
            let task = tasks.isEmpty ? nil : tasks.removeFirst()
            let retainFrom = entries.first?.retainFrom ?? ""
            pthread_mutex_unlock(&mutex)
            if let task {
                task()
                continue
            }
            // The batch is taken only once the directory lock is held: whatever queued while another process held
            // it (writing and syncing its own batch) shares this write and sync.
            var batch: [Pending] = []
            let outcomes = log.append(retainFrom: retainFrom) {
                pthread_mutex_lock(&mutex)
                swap(&batch, &entries)
                pthread_mutex_unlock(&mutex)
                return batch.map(\.entry)
            }
            for (pending, outcome) in zip(batch, outcomes) { pending.completion(outcome) }
        }
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
