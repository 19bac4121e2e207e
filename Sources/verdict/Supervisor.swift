import CLinux
import FastCGI
import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs worker processes on an already open socket and keeps them running.
///
/// This process only supervises: it forks the workers (before any thread exists, so fork is safe), restarts one
/// that dies (and retries, once a second, one it could not fork), and on a stop signal (SIGTERM, SIGINT, SIGHUP)
/// passes SIGTERM on, waits for every worker to finish its requests, removes the socket (if it is still its own)
/// and exits 0. A worker whose supervisor ends without that (SIGKILL, the OOM killer) is sent SIGTERM by the kernel,
/// and stops as it would on one from here.
///
/// The stop signals are blocked from the start of `main` (see StopSignals): one that arrives before the `sigwait`
/// here, or before a worker's own, waits for it.
enum Supervisor {
    static func run(processes: Int, socket: ListeningSocket, worker: () -> Never) -> Never {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in StopSignals.stopping + [SIGCHLD] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        // Only SIGCHLD is the supervisor's alone; a worker keeps the stop signals blocked for its own `sigwait`.
        var childSignals = sigset_t()
        sigemptyset(&childSignals)
        sigaddset(&childSignals, SIGCHLD)
        let supervisor = getpid()

        var children: Set<pid_t> = []
        func spawn() -> Bool {
            let pid = fork()
            if pid == 0 {
                // Should the supervisor end before this line, the signal would never come: stop at once instead.
                if verdict_set_parent_death_signal(SIGTERM) != 0 || getppid() != supervisor { kill(getpid(), SIGTERM) }
                pthread_sigmask(SIG_UNBLOCK, &childSignals, nil)
                worker()
            }
            guard pid > 0 else {
                Environment.report("cannot start a worker process: \(String(cString: strerror(errno))); trying again")
                return false
            }
            children.insert(pid)
            return true
        }
        // Workers that could not be forked (no memory, a process limit), started again once a second.
        var missing = 0
        for _ in 0..<processes where !spawn() { missing += 1 }

        // A stop asked for while workers are being reaped and restarted comes first: with workers dying faster than
        // they are restarted, the reaping would otherwise never end and never get back to its `sigwait`.
        func stopRequested() -> Bool {
            var pending = sigset_t()
            sigpending(&pending)
            return StopSignals.stopping.contains { sigismember(&pending, $0) == 1 }
        }

        var stopping = false
        var lastStart = Environment.now().millisecondsSinceEpoch
        // Restarts at most once a second: a worker that dies at once again and again must not make this loop spin.
        func pace() {
            let now = Environment.now().millisecondsSinceEpoch
            if now - lastStart < 1000 { sleep(1) }
            lastStart = Environment.now().millisecondsSinceEpoch
        }
        while !children.isEmpty || (!stopping && missing > 0) {
            var received: Int32 = 0
            if missing > 0 && !stopping {
                var second = timespec(tv_sec: 1, tv_nsec: 0)
                received = sigtimedwait(&signals, nil, &second)
            } else {
                sigwait(&signals, &received)
            }
            if StopSignals.stopping.contains(received) {
                stopping = true
                for child in children { kill(child, SIGTERM) }
                // On to reaping: workers that died before the stop may be left unreaped (see `stopRequested`), and
                // their SIGCHLD is already taken.
            }
            var status: Int32 = 0
            while true {
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { break }
                children.remove(pid)
                guard !stopping else { continue }
                if stopRequested() { break }
                Environment.report("worker \(pid) ended unexpectedly (status \(status)); starting another")
                pace()
                if stopRequested() { break }
                if !spawn() { missing += 1 }
            }
            if !stopping && missing > 0 && !stopRequested() {
                pace()
                while missing > 0 && spawn() { missing -= 1 }
            }
        }
        socket.remove()
        exit(0)
    }
}
