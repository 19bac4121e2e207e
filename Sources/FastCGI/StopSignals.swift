#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// SIGTERM, SIGINT and SIGHUP while a process starts.
///
/// A FastCGI server takes them with `sigwait` (`FastCGIServer.serve`), so they must be blocked before libfcgi is
/// initialised (`FastCGIServer.isStartedAsFastCGI` does that): its initialisation installs a SIGTERM handler that
/// only sets a flag nobody reads, so a SIGTERM arriving before the block would be lost and the process would never
/// stop. Blocked, it stays pending until the `sigwait` takes it. Threads and forked processes inherit the mask.
public struct StopSignals: Sendable {
    private let previousMask: sigset_t
    private let previousTermination: sigaction

    /// What stops a server: SIGTERM, SIGINT, and SIGHUP (a closed terminal; its default action would kill a
    /// supervisor and leave its workers running, or a worker mid-request).
    public static let stopping = [SIGTERM, SIGINT, SIGHUP]

    /// The stop signals as a set, for blocking and `sigwait`.
    static func set() -> sigset_t {
        var stop = sigset_t()
        sigemptyset(&stop)
        for signal in stopping { sigaddset(&stop, signal) }
        return stop
    }

    /// Blocks the stop signals, remembering the mask and SIGTERM's action as they were.
    public static func block() -> StopSignals {
        var stop = set()
        var mask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &stop, &mask)
        var termination = sigaction()
        sigaction(SIGTERM, nil, &termination)
        return StopSignals(previousMask: mask, previousTermination: termination)
    }

    /// For a process that serves no FastCGI after all (CGI, the command line): SIGTERM's action from before libfcgi
    /// replaced it, then the mask from before, so that either signal acts as usual (one that arrived meanwhile too).
    public func restore() {
        var termination = previousTermination
        sigaction(SIGTERM, &termination, nil)
        var mask = previousMask
        pthread_sigmask(SIG_SETMASK, &mask, nil)
    }
}
