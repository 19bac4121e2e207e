import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Shares one write and one sync among the requests that arrive while another batch is being written.
///
/// The first thread to find no batch in flight becomes the leader: it takes the directory lock, then every entry
/// queued by then (its own included), appends them with one `write` and one `fdatasync`, and wakes the others.
/// Threads that arrive meanwhile queue up and form the next batch. No thread returns before its own entry's result
/// is known, so an answer of 200 still means "on disk"; with one thread (CGI) this is exactly one direct append.
///
/// Every waiting thread sleeps on its own semaphore and is woken once, after the mutex is released: when its result
/// is known, or when it is first in the queue and becomes the next leader. (A shared condition variable broadcast
/// woke every waiting thread for every batch, each to queue again on the mutex the leader still held.)
public final class GroupCommit: @unchecked Sendable {
    // All mutable state below is guarded by `mutex`.
    private let log: LogDirectory
    private var mutex = pthread_mutex_t()
    /// Signalled when no one holds the log any more (for `withLog`).
    private var idle = pthread_cond_t()
    private var queue: [Pending] = []
    /// Whether a thread holds the log (a leader, or `withLog`).
    private var leaderActive = false
    /// Threads waiting in `withLog`: the log goes to them before the next batch, so a health check is never starved.
    private var checksWaiting = 0

    private struct Pending {
        var waiter: Waiter
        var entry: LogEntry
    }

    /// One waiting thread. `result` and `leads` are set under `mutex` before `wake()`, and read after `wait()`.
    private final class Waiter {
        private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        var result: AppendResult?
        var leads = false

        init() {
            sem_init(semaphore, 0, 0)
        }

        deinit {
            sem_destroy(semaphore)
            semaphore.deallocate()
        }

        func wait() {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
        }

        func wake() {
            sem_post(semaphore)
        }
    }

    public init(log: LogDirectory) {
        self.log = log
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&idle, nil)
    }

    deinit {
        pthread_cond_destroy(&idle)
        pthread_mutex_destroy(&mutex)
    }

    /// Appends `entry` (unless it is a redelivery) and returns once it is on disk or has failed.
    public func append(_ entry: LogEntry, retainFrom: String) -> AppendResult {
        let me = Waiter()
        pthread_mutex_lock(&mutex)
        queue.append(Pending(waiter: me, entry: entry))
        if leaderActive {
            pthread_mutex_unlock(&mutex)
            me.wait()
            if let result = me.result { return result }
            // Woken to lead: `leaderActive` stayed true for this thread.
        } else {
            leaderActive = true
            pthread_mutex_unlock(&mutex)
        }

        // The batch is taken only once the directory lock is held: whatever queued while another process held it
        // (writing and syncing its own batch) shares this write and sync.
        var batch: [Pending] = []
        let outcomes = log.append(retainFrom: retainFrom) {
            pthread_mutex_lock(&mutex)
            swap(&batch, &queue)
            pthread_mutex_unlock(&mutex)
            return batch.map(\.entry)
        }

        pthread_mutex_lock(&mutex)
        for (pending, outcome) in zip(batch, outcomes) { pending.waiter.result = outcome }
        let next = handOver()
        let result = me.result ?? .failed(DecisionLogError("append to", log.settings.directory, .ioError))
        pthread_mutex_unlock(&mutex)
        for pending in batch where pending.waiter !== me { pending.waiter.wake() }
        next?.wake()
        return result
    }

    /// Runs `body` with the log while no batch is being written (health checks).
    public func withLog<R>(_ body: (LogDirectory) throws(DecisionLogError) -> R) throws(DecisionLogError) -> R {
        pthread_mutex_lock(&mutex)
        checksWaiting += 1
        while leaderActive { pthread_cond_wait(&idle, &mutex) }
        checksWaiting -= 1
        leaderActive = true
        pthread_mutex_unlock(&mutex)
        defer {
            pthread_mutex_lock(&mutex)
            let next = handOver()
            pthread_mutex_unlock(&mutex)
            next?.wake()
        }
        return try body(log)
    }

    /// Called with `mutex` held by the thread that holds the log: picks the first queued thread as the next leader
    /// (the caller wakes it once the mutex is released), or marks the log free. Threads left queued when a check
    /// takes the log are in the next batch of whoever leads next: the check hands over when it is done, or a newly
    /// arriving thread leads.
    private func handOver() -> Waiter? {
        if checksWaiting == 0, let next = queue.first {
            next.waiter.leads = true
            return next.waiter
        }
        leaderActive = false
        pthread_cond_broadcast(&idle)
        return nil
    }
}
