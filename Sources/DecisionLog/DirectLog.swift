import SystemPackage

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Appends on the caller's thread and returns once the entry is on disk: for a process that serves one request and
/// exits (CGI), and for FastCGI workers with fsync off, where an append is a short `write` and handing it to a
/// writer thread would only add a wake-up. Callers are serialised, so it is safe to share, but concurrent callers
/// wait for each other, which is why a FastCGI worker with fsync on uses `CommitQueue`.
public final class DirectLog: @unchecked Sendable {
    // `log` is used only while `mutex` is held.
    private let log: LogDirectory
    private var mutex = pthread_mutex_t()

    public init(log: LogDirectory) {
        self.log = log
        pthread_mutex_init(&mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
    }

    /// Appends `entry` (unless it is a redelivery) and returns once it is on disk or has failed.
    public func append(_ entry: LogEntry, retainFrom: String) -> AppendResult {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return log.append([entry], retainFrom: retainFrom).first
            ?? .failed(DecisionLogError("append to", log.settings.directory, .ioError))
    }

    /// Runs `body` with the log (health checks).
    public func withLog<R>(_ body: (LogDirectory) throws(DecisionLogError) -> R) throws(DecisionLogError) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(log)
    }
}
