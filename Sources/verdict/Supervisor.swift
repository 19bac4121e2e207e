import FastCGI
import VerdictCore

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs worker processes on an already open socket and keeps them running.
///
/// This process only supervises: it forks the workers (before any thread exists, so fork is safe), restarts one
/// that dies, and on SIGTERM or SIGINT passes the signal on, waits for every worker to finish its requests,
/// removes the socket (if it is still its own) and exits 0.
///
/// SIGTERM and SIGINT are blocked from the start of `main` (see StopSignals): one that arrives before the `sigwait`
/// here, or before a worker's own, waits for it.
enum Supervisor {
    static func run(processes: Int, socket: ListeningSocket, worker: () -> Never) -> Never {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGCHLD] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        // Only SIGCHLD is the supervisor's alone; a worker keeps SIGTERM and SIGINT blocked for its own `sigwait`.
        var childSignals = sigset_t()
        sigemptyset(&childSignals)
        sigaddset(&childSignals, SIGCHLD)

        var children: Set<pid_t> = []
        func spawn() {
            let pid = fork()
            if pid == 0 {
                pthread_sigmask(SIG_UNBLOCK, &childSignals, nil)
                worker()
            }
            if pid > 0 {
                children.insert(pid)
            } else {
                Environment.report("cannot start a worker process: \(String(cString: strerror(errno)))")
            }
        }
        for _ in 0..<processes { spawn() }

        // A stop asked for while workers are being reaped and restarted comes first: with workers dying faster than
        // they are restarted, the reaping would otherwise never end and never get back to its `sigwait`.
        func stopRequested() -> Bool {
            var pending = sigset_t()
            sigpending(&pending)
            return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1
        }

        var stopping = false
        var lastRestart: Int64 = 0
        while !children.isEmpty {
            var received: Int32 = 0
            sigwait(&signals, &received)
            if received == SIGTERM || received == SIGINT {
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
                // A worker that dies at once again and again must not make this loop spin.
                let now = Environment.now().millisecondsSinceEpoch
                if now - lastRestart < 1000 { sleep(1) }
                lastRestart = now
                if stopRequested() { break }
                spawn()
            }
        }
        socket.remove()
        exit(0)
    }
}
