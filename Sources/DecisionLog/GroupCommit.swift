#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Shares one write and one sync among the requests that arrive while another batch is being written.
///
/// The first thread to find no batch in flight becomes the leader: it takes every entry queued so far, appends
/// them with one `write` and one `fdatasync`, and wakes the others. Threads that arrive meanwhile queue up and
/// form the next batch. No thread returns before its own entry's result is known, so an answer of 200 still
/// means "on disk"; with one thread (CGI) this is exactly one direct append.
public final class GroupCommit: @unchecked Sendable {
    // All mutable state below is guarded by `mutex`.
    private let log: LogDirectory
    private var mutex = pthread_mutex_t()
    private var batchFinished = pthread_cond_t()
    private var queue: [Pending] = []
    private var leaderActive = false
    private var generation: UInt64 = 0
    private var results: [UInt64: AppendResult] = [:]
    private var nextTicket: UInt64 = 0

    private struct Pending {
        var ticket: UInt64
        var entry: LogEntry
    }

    public init(log: LogDirectory) {
        self.log = log
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&batchFinished, nil)
    }

    deinit {
        pthread_cond_destroy(&batchFinished)
        pthread_mutex_destroy(&mutex)
    }

    /// Appends `entry` (unless it is a redelivery) and returns once it is on disk or has failed.
    public func append(_ entry: LogEntry, retainFrom: String) -> AppendResult {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let ticket = nextTicket
        nextTicket += 1
        queue.append(Pending(ticket: ticket, entry: entry))
        while true {
            if let result = results.removeValue(forKey: ticket) { return result }
            if !leaderActive {
                leaderActive = true
                let batch = queue
                queue = []
                pthread_mutex_unlock(&mutex)
                let outcomes = log.append(batch.map(\.entry), retainFrom: retainFrom)
                pthread_mutex_lock(&mutex)
                for (pending, outcome) in zip(batch, outcomes) { results[pending.ticket] = outcome }
                leaderActive = false
                generation &+= 1
                pthread_cond_broadcast(&batchFinished)
                continue
            }
            pthread_cond_wait(&batchFinished, &mutex)
        }
    }

    /// Runs `body` with the log while no batch is being written (health checks).
    public func withLog<R>(_ body: (LogDirectory) throws(DecisionLogError) -> R) throws(DecisionLogError) -> R {
        pthread_mutex_lock(&mutex)
        while leaderActive { pthread_cond_wait(&batchFinished, &mutex) }
        leaderActive = true
        pthread_mutex_unlock(&mutex)
        defer {
            pthread_mutex_lock(&mutex)
            leaderActive = false
            pthread_cond_broadcast(&batchFinished)
            pthread_mutex_unlock(&mutex)
        }
        return try body(log)
    }
}
