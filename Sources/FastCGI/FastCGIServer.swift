internal import CFastCGI

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A FastCGI responder over libfcgi's re-entrant API: `threads` threads each accept and read one request at a
/// time. The application answers at once (`respond`), or takes a `GatewayReply` to send later from any thread
/// (`respondLater`), in which case the accepting thread goes on to the next request meanwhile.
///
/// A connection the web server asks to keep (nginx's `fastcgi_keep_conn on`) is, once answered, handed to another
/// `threads` threads that wait on all of them at once (epoll) and read the next request on whichever the web server
/// uses. A thread that kept reading its own connection, as libfcgi does, would wait there while the web server left
/// it idle, and once every thread waited so, new connections were never accepted.
///
/// SIGTERM, SIGINT or SIGHUP stops accepting, lets every request in flight finish (replies owed included), and returns.
public final class FastCGIServer: @unchecked Sendable {
    private let listenSocket: Int32
    private let application: GatewayApplication
    /// Whether connections arrive over a unix socket, where closing needs no lingering (see `closeConnection`).
    private let isUnixSocket: Bool
    /// Who may connect over TCP.
    private let webServers: WebServerAddresses
    // Guarded by `stateMutex`.
    private var stateMutex = pthread_mutex_t()
    /// The threads blocked waiting for a connection (in `accept`) or for a kept connection's next request (in
    /// `epoll_wait`), to wake at shutdown. All accepting threads wait in `accept` at once: Linux hands each
    /// connection to one of them, so libfcgi's example's accept mutex would only add a futex hand-off per request.
    private var waitingThreads = Set<pthread_t>()
    private var stopping = false
    private var runningWorkers = 0
    /// Requests accepted whose `GatewayReply` has not been sent yet (with `respondLater`).
    private var pendingReplies = 0
    /// Signalled whenever a reply owed goes out.
    private var replySent = pthread_cond_t()
    /// Replies owed at once per process, each holding an open connection (and a descriptor).
    static let maximumPendingReplies = 256
    /// Idle kept connections, waiting for the web server's next request on them, by their request.
    private var keptConnections = Set<UnsafeMutablePointer<FCGX_Request>>()
    /// The epoll instance watching `keptConnections` (close-on-exec); -1 when it could not be made, and then no
    /// connection is kept.
    private let keptConnectionsReady: Int32
    /// Idle kept connections at once per process; past that, an answered connection is closed (the web server
    /// opens another). nginx keeps at most its `keepalive` count per worker process.
    static let maximumKeptConnections: Int = {
        // Each costs a descriptor and a small libfcgi request (its buffers are freed between requests). Past the
        // limit an answered connection is closed, which nginx may be reusing at that moment (a 502): so as many as
        // the descriptor limit allows, less a margin for the log, the listening socket and connections in flight.
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 128 }
        return max(128, min(65_536, Int(clamping: limit.rlim_cur) - 64))
    }()
    /// Kept connections on which the web server sent its next request after the server began to stop, answered by
    /// `run` once the threads have left.
    private var sentAtStop: [UnsafeMutablePointer<FCGX_Request>] = []

    /// Whether standard input is a listening socket, i.e. a FastCGI spawner (spawn-fcgi, systemd, mod_fcgid)
    /// started this process. The corresponding C function is `FCGX_IsCGI`.
    public static var isStartedAsFastCGI: Bool {
        FCGX_IsCGI() == 0
    }

    private init(listenSocket: Int32, application: GatewayApplication) throws(FastCGIError) {
        self.listenSocket = listenSocket
        self.application = application
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenSocket, $0, &length) }
        }
        isUnixSocket = named == 0 && Int32(address.ss_family) == AF_UNIX
        let allowed = isUnixSocket ? nil : getenv("FCGI_WEB_SERVER_ADDRS").map { String(cString: $0) }
        webServers = try WebServerAddresses(list: allowed)
        keptConnectionsReady = epoll_create1(Int32(EPOLL_CLOEXEC))
        pthread_mutex_init(&stateMutex, nil)
        pthread_cond_init(&replySent, nil)
    }

    /// Opens a unix socket at `path` with permissions `mode`, and of `group` when given (else the process's). A
    /// socket already there that nobody accepts on (left by a server that ended without removing it) is replaced;
    /// anything else there is refused and left alone. The corresponding C function is `FCGX_OpenSocket`.
    public static func openSocket(
        path: String,
        mode: UInt32,
        group: UInt32? = nil,
        backlog: Int32 = 1024
    ) throws(FastCGIError) -> ListeningSocket {
        try initialise()
        // libfcgi would exit the process on a path that does not fit.
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw .socketPathTooLong(path: path)
        }
        // Checking, removing a stale socket and binding must be one step for two servers started at once on the
        // same path, or the second removes the first's new socket and binds its own: a lock on the directory
        // (released when its descriptor closes). Unlocked if the directory cannot be opened; the bind still fails
        // cleanly then.
        let directory = open(parentDirectory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if directory >= 0 { close(directory) } }
        if directory >= 0 { _ = flock(directory, LOCK_EX) }
        try removeStaleSocket(path)
        let fd = try listen(path, mode: mode, group: group, backlog: backlog)
        var status = stat()
        guard lstat(path, &status) == 0 else { throw .cannotOpenSocket(path: path, errno: errno) }
        return ListeningSocket(descriptor: fd, path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// The directory holding `path` ("." for a bare name).
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Clears the way for a new socket at `path`: removes a socket there only when a connection to it is refused.
    private static func removeStaleSocket(_ path: String) throws(FastCGIError) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            guard errno == ENOENT else { throw .cannotOpenSocket(path: path, errno: errno) }
            return
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
        switch connectionError(path) {
        case ECONNREFUSED:
            guard unlink(path) == 0 || errno == ENOENT else { throw .cannotOpenSocket(path: path, errno: errno) }
        case 0, EAGAIN:  // accepted, or a full backlog: someone serves there
            throw .socketInUse(path: path)
        case let error:
            throw .cannotOpenSocket(path: path, errno: error)
        }
    }

    /// A unix socket bound at `path` with permissions `mode` (and `group`), and listening. Done here rather than
    /// by `FCGX_OpenSocket`, which on a failed bind prints "bind/listen" and exits the process, and reads a path
    /// with ":digits" in it as a TCP port. Group and mode are set before `listen`: until then nobody can connect, so
    /// no one they exclude gets in meanwhile.
    private static func listen(
        _ path: String,
        mode: UInt32,
        group: UInt32?,
        backlog: Int32
    ) throws(FastCGIError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .cannotOpenSocket(path: path, errno: errno) }
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let error = errno
            close(fd)
            throw .cannotOpenSocket(path: path, errno: error)
        }
        // A group the process is only a supplementary member of (the web server's), so that the log directory
        // and its files, which take the process's own group, stay closed to the web server.
        if let group, chown(path, uid_t(bitPattern: -1), gid_t(group)) != 0 {
            let error = errno
            close(fd)
            unlink(path)
            throw .cannotSetSocketGroup(path: path, group: group, errno: error)
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            let error = errno
            close(fd)
            unlink(path)
            throw .cannotSetSocketMode(path: path, errno: error)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let error = errno
            close(fd)
            unlink(path)
            throw .cannotOpenSocket(path: path, errno: error)
        }
        return fd
    }

    /// 0 when a connection to the unix socket at `path` succeeds at once, else the errno of the attempt.
    static func connectionError(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return connected == 0 ? 0 : errno
    }

    private static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            sunPath.copyBytes(from: path.utf8)  // shorter than sun_path (checked), and zero-filled
        }
        return address
    }

    /// Serves on `listenSocket` (0: the socket the spawner passed on standard input) until a stop signal.
    public static func serve(
        listenSocket: Int32 = 0,
        threads: Int,
        application: GatewayApplication
    ) throws(FastCGIError) {
        try initialise()
        let server = try FastCGIServer(listenSocket: listenSocket, application: application)
        try server.run(threads: max(1, threads))
    }

    private static func initialise() throws(FastCGIError) {
        let code = FCGX_Init()
        guard code == 0 else { throw .libraryInitFailed(code: code) }
    }

    private func run(threads count: Int) throws(FastCGIError) {
        signal(SIGPIPE, SIG_IGN)
        // Workers wake from accept() through SIGUSR1 sent by the main thread; the handler does nothing and is
        // installed without SA_RESTART so accept returns EINTR.
        var wake = sigaction()
        wake.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&wake.sa_mask)
        wake.sa_flags = 0
        sigaction(SIGUSR1, &wake, nil)

        // Only the main thread takes the stop signals (through sigwait); workers inherit this mask. Blocking them
        // only here is too late for one sent during start-up: see StopSignals, which Verdict's `main` calls first.
        var stopSignals = StopSignals.set()
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        var workers: [pthread_t] = []
        // The accepting threads, and as many for the kept connections.
        var bodies = Array(repeating: workerLoop, count: count)
        if keptConnectionsReady >= 0 { bodies += Array(repeating: keptConnectionLoop, count: count) }
        pthread_mutex_lock(&stateMutex)
        runningWorkers = bodies.count
        pthread_mutex_unlock(&stateMutex)
        for body in bodies {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
            let result = pthread_create(
                &thread,
                nil,
                { context in
                    Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
                    return nil
                },
                context
            )
            guard result == 0 else {
                Unmanaged<ThreadBody>.fromOpaque(context).release()
                throw .cannotStartThread(errno: result)
            }
            workers.append(thread)
        }

        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        pthread_mutex_lock(&stateMutex)
        stopping = true
        pthread_mutex_unlock(&stateMutex)
        // Not FCGX_ShutdownPending(): a thread in libfcgi's wait for a new connection's first bytes would then spin
        // on the descriptor it closed and never return. The wake-up below ends `accept`, and a request being read
        // is finished normally.
        // Wake the threads that sit in accept() or epoll_wait() until all have left; requests in flight run to
        // completion.
        while true {
            pthread_mutex_lock(&stateMutex)
            let running = runningWorkers
            for waiting in waitingThreads { pthread_kill(waiting, SIGUSR1) }
            pthread_cond_broadcast(&replySent)
            pthread_mutex_unlock(&stateMutex)
            if running == 0 { break }
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
        for thread in workers { pthread_join(thread, nil) }
        // Idle kept connections are closed now, not once the replies still owed are sent (a sync away, or more):
        // the web server would go on sending requests on them meanwhile, and closing one that holds a request loses
        // it. One that already holds a request is served first.
        pthread_mutex_lock(&stateMutex)
        let idle = keptConnections
        keptConnections = []
        pthread_mutex_unlock(&stateMutex)
        var asked: [UnsafeMutablePointer<FCGX_Request>] = []
        for request in idle {
            if Self.hasInput(request.pointee.ipcFd) { asked.append(request) } else { closeKept(request) }
        }
        // Replies still owed go out before the process exits (the application sends them from its own threads), and
        // requests sent on kept connections meanwhile are answered here, each possibly owing a reply in turn.
        pthread_mutex_lock(&stateMutex)
        sentAtStop += asked
        while true {
            while pendingReplies > 0 && sentAtStop.isEmpty { pthread_cond_wait(&replySent, &stateMutex) }
            guard let request = sentAtStop.popLast() else { break }
            pthread_mutex_unlock(&stateMutex)
            serveNextRequest(request, thenClose: true)
            pthread_mutex_lock(&stateMutex)
        }
        pthread_mutex_unlock(&stateMutex)
    }

    private var isStopping: Bool {
        pthread_mutex_lock(&stateMutex)
        defer { pthread_mutex_unlock(&stateMutex) }
        return stopping
    }

    private func workerLoop() {
        // The thread accepts, and libfcgi only reads (see `readRequest`).
        var request = Self.newRequest()
        let me = pthread_self()
        while true {
            if startWaiting(me) { break }
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            // A unix peer has no address worth copying out.
            let connection =
                isUnixSocket
                ? accept(listenSocket, nil, nil)
                : withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listenSocket, $0, &length) }
                }
            let failure = errno
            stopWaiting(me)
            guard connection >= 0 else {
                if isStopping { break }
                if failure != EINTR { Self.pauseAfterFailedAccept() }
                continue
            }
            if !isUnixSocket {
                guard webServers.admit(peer) else {
                    close(connection)
                    continue
                }
                // Answers go out whole, at once: no waiting for acknowledgements (libfcgi sets this too).
                var on: Int32 = 1
                setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            }
            guard readRequest(on: connection, into: request) else { continue }
            if serve(request) { request = Self.newRequest() }
        }
        Self.freeRequest(request)
        threadFinished()
    }

    /// How long a read of a request, once begun, may wait for more bytes. nginx sends a request at once (it
    /// buffers the body first unless told otherwise).
    static let stalledReadSeconds = 10

    /// EINTR: try again at once. Other failures (EMFILE, ENFILE: no descriptor left) would repeat at once while the
    /// connection waits in the backlog: pause instead of spinning.
    private static func pauseAfterFailedAccept() {
        var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
        nanosleep(&pause, nil)
    }

    /// Reads the request on `connection`, just accepted, into `request`, as libfcgi reads a kept connection's next
    /// request; false when the connection brought none (it is then closed).
    ///
    /// libfcgi's own accept waits up to 2 s for a new unix connection's first bytes, as here, but gives up on the
    /// connection when a signal interrupts that wait: at shutdown, the wake-up meant for the threads in `accept`
    /// dropped a connection accepted a moment before, and its request got no answer. Here only `accept` is woken.
    /// (On a TCP connection libfcgi waited for the first bytes without a limit, and a signal dropped it all the
    /// same.)
    private func readRequest(on connection: Int32, into request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        var entry = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&entry, 1, 2000) } while ready < 0 && errno == EINTR
        guard ready > 0 else {
            close(connection)
            return false
        }
        // After the first bytes libfcgi reads without a time limit: a peer that stalls mid-request would hold this
        // thread for good, and keep the process from stopping. A read that waits longer than this fails instead,
        // and the request is refused as cut short.
        var limit = timeval(tv_sec: Self.stalledReadSeconds, tv_usec: 0)
        _ = setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        request.pointee.ipcFd = connection
        // Not closed by the finish of a previous request that FCGX_Accept_r begins with.
        request.pointee.keepConnection = 1
        // On failure libfcgi has closed the connection (see `serveNextRequest`).
        return FCGX_Accept_r(request) >= 0
    }

    /// Reads and serves the next request on a kept connection, then frees `request` unless it was handed on;
    /// `thenClose`: the connection is closed after this answer, whatever the web server asked.
    ///
    /// If the web server closed the connection instead, libfcgi closes it too and would accept a new connection:
    /// with no listening socket (see `keepIfOpen`), that fails at once.
    private func serveNextRequest(_ request: UnsafeMutablePointer<FCGX_Request>, thenClose: Bool) {
        guard FCGX_Accept_r(request) >= 0 else {
            Self.freeRequest(request)
            return
        }
        if thenClose { request.pointee.keepConnection = 0 }
        if !serve(request) { Self.freeRequest(request) }
    }

    /// Before a thread blocks for its next connection: waits while the replies still owed are at their bound (each
    /// holds a connection), then, unless stopping, registers the thread as blocked so that `stop` can wake it.
    /// Returns whether the server is stopping.
    private func startWaiting(_ me: pthread_t) -> Bool {
        pthread_mutex_lock(&stateMutex)
        defer { pthread_mutex_unlock(&stateMutex) }
        while !stopping && pendingReplies >= Self.maximumPendingReplies {
            pthread_cond_wait(&replySent, &stateMutex)
        }
        if !stopping { waitingThreads.insert(me) }
        return stopping
    }

    private func stopWaiting(_ me: pthread_t) {
        pthread_mutex_lock(&stateMutex)
        waitingThreads.remove(me)
        pthread_mutex_unlock(&stateMutex)
    }

    private func threadFinished() {
        pthread_mutex_lock(&stateMutex)
        runningWorkers -= 1
        pthread_mutex_unlock(&stateMutex)
    }

    /// Reads and answers the request just accepted on `request`, or hands it to the application to answer later.
    /// Returns whether `request` was handed on (to a reply owed, or kept with its connection) and so must not be
    /// used again by the caller.
    private func serve(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        let (gatewayRequest, inputRead) = read(request)
        if let respondLater = application.respondLater {
            pthread_mutex_lock(&stateMutex)
            pendingReplies += 1
            pthread_mutex_unlock(&stateMutex)
            respondLater(gatewayRequest, GatewayReply(request: request, inputRead: inputRead, server: self))
            return true
        }
        write(application.respond(gatewayRequest), to: request)
        finish(request, inputRead: inputRead)
        return keepIfOpen(request)
    }

    /// Waits for the web server's next request on any idle kept connection and serves it. When stopping, first
    /// serves every request the web server has already sent on one, since the connections are then closed.
    private func keptConnectionLoop() {
        let me = pthread_self()
        // One at a time, so that the other threads waiting here take the other connections ready.
        var event = epoll_event()
        while true {
            let draining = startWaiting(me)
            let ready = epoll_wait(keptConnectionsReady, &event, 1, draining ? 0 : -1)
            if !draining { stopWaiting(me) }
            if ready == 0 && draining { break }
            guard ready == 1, let pointer = event.data.ptr else { continue }  // EINTR: see `stopping` above
            let request = pointer.assumingMemoryBound(to: FCGX_Request.self)
            pthread_mutex_lock(&stateMutex)
            let taken = keptConnections.remove(request) != nil
            pthread_mutex_unlock(&stateMutex)
            guard taken else { continue }  // closed at shutdown meanwhile
            epoll_ctl(keptConnectionsReady, EPOLL_CTL_DEL, request.pointee.ipcFd, nil)
            serveNextRequest(request, thenClose: false)
        }
        threadFinished()
    }

    /// After an answer: if the connection is still open (the web server asked to keep it), hands `request` to the
    /// kept connections and returns true; else returns false, and `request` is the caller's to reuse or free.
    private func keepIfOpen(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        let descriptor = request.pointee.ipcFd
        guard descriptor >= 0 else { return false }
        pthread_mutex_lock(&stateMutex)
        var kept = false
        let stopped = stopping
        if !stopped && keptConnections.count < Self.maximumKeptConnections {
            keptConnections.insert(request)
            var event = epoll_event()
            // One-shot: reported to one waiting thread only, once, until added again after its next answer.
            event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue
            event.data.ptr = UnsafeMutableRawPointer(request)
            kept = epoll_ctl(keptConnectionsReady, EPOLL_CTL_ADD, descriptor, &event) == 0
            if !kept { keptConnections.remove(request) }
        }
        pthread_mutex_unlock(&stateMutex)
        if kept { return true }
        if stopped && Self.hasInput(descriptor) {
            // The web server may have sent its next request the moment it had the answer. `run` serves it, not
            // this thread: this may be the application's thread that sends replies (the log's writer), and the
            // request (a health check) may need that very thread. `run` takes it: it first joins the threads, and
            // waits while a reply is owed (this one until `complete` returns).
            pthread_mutex_lock(&stateMutex)
            sentAtStop.append(request)
            pthread_mutex_unlock(&stateMutex)
            return true
        }
        closeKept(request)
        return true
    }

    /// Whether something is waiting to be read on `descriptor` (or it was closed by the peer).
    private static func hasInput(_ descriptor: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    /// Closes an idle kept connection and frees its request.
    private func closeKept(_ request: UnsafeMutablePointer<FCGX_Request>) {
        if request.pointee.ipcFd >= 0 {
            epoll_ctl(keptConnectionsReady, EPOLL_CTL_DEL, request.pointee.ipcFd, nil)
            Self.closeConnection(request.pointee.ipcFd)
            request.pointee.ipcFd = -1
        }
        Self.freeRequest(request)
    }

    /// A request to read into. Each one lives on the heap, so that a reply sent later can own it while the
    /// accepting thread goes on with a new one.
    private static func newRequest() -> UnsafeMutablePointer<FCGX_Request> {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        request.initialize(to: FCGX_Request())
        // No listening socket: libfcgi only reads connections accepted here (see `readRequest`). Should it try to
        // accept (after the web server closed a kept connection), that fails at once. FCGI_FAIL_ACCEPT_ON_INTR: a
        // signal makes FCGX_Accept_r return instead of retrying, so shutdown is prompt.
        FCGX_InitRequest(request, -1, Int32(FCGI_FAIL_ACCEPT_ON_INTR))
        return request
    }

    private static func freeRequest(_ request: UnsafeMutablePointer<FCGX_Request>) {
        FCGX_Free(request, 0)
        request.deinitialize(count: 1)
        request.deallocate()
    }

    /// Sends a reply that was owed (from any thread) and releases its request.
    fileprivate func complete(
        _ request: UnsafeMutablePointer<FCGX_Request>,
        inputRead: Bool,
        with response: GatewayResponse
    ) {
        write(response, to: request)
        finish(request, inputRead: inputRead)
        if !keepIfOpen(request) { Self.freeRequest(request) }
        pthread_mutex_lock(&stateMutex)
        pendingReplies -= 1
        pthread_cond_broadcast(&replySent)
        pthread_mutex_unlock(&stateMutex)
    }

    /// Ends the request and, unless the web server keeps the connection for the next one, closes it.
    ///
    /// libfcgi closes by shutting down its side and then waiting in `poll` until the web server closes too, which
    /// costs every request a sleep and a wake-up (about a seventh of a worker's time under load), and over TCP,
    /// with fsync, held the log's writer thread (which sends the replies) until the peer closed, up to 2 s. Once the
    /// end of the input has been read, that wait protects nothing: the web server sends nothing after it, so
    /// reading what is queued and closing is enough (nothing is left unread, so TCP closes with a FIN, not a reset).
    /// Only when the body was not read to its end (refused before reading, e.g. too large: the web server may
    /// still be sending it) does libfcgi's lingering close stay.
    private func finish(_ request: UnsafeMutablePointer<FCGX_Request>, inputRead: Bool) {
        // Unread input would be taken for the start of the next request: such a connection is not kept.
        if !inputRead { request.pointee.keepConnection = 0 }
        let closeHere = inputRead && request.pointee.keepConnection == 0
        if closeHere { request.pointee.keepConnection = 1 }
        FCGX_Finish_r(request)
        guard closeHere else { return }
        request.pointee.keepConnection = 0
        // An error while finishing has already closed the connection the lingering way.
        guard request.pointee.ipcFd >= 0 else { return }
        Self.closeConnection(request.pointee.ipcFd)
        request.pointee.ipcFd = -1
    }

    /// Reads whatever the web server sent that is still unread (closing a unix socket with unread data makes the
    /// peer's next read fail with ECONNRESET instead of seeing the end), then closes. A peer that keeps sending is
    /// read for at most 1 MiB: it gets its reset. Usually nothing is left; the buffer is small enough to be on the
    /// stack (Swift puts a temporary allocation over 1 KiB on the heap, which cost a `malloc` and a `free` per request).
    private static func closeConnection(_ fd: Int32) {
        withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 8) { buffer in
            for _ in 0..<1024 {
                if recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) <= 0 { break }
            }
        }
        close(fd)
    }

    /// Copies the request out of libfcgi's memory (freed when the request is finished), and tells whether the web
    /// server has sent all of its input (the body's end was read, so nothing more is on its way).
    private func read(_ request: UnsafeMutablePointer<FCGX_Request>) -> (GatewayRequest, inputRead: Bool) {
        let parameters = Self.parameters(request.pointee.envp)
        let wanted = max(0, application.bodyBytesToRead(parameters))
        var body = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            let n = body.withUnsafeMutableBytes { buffer in
                FCGX_GetStr(
                    buffer.baseAddress!.assumingMemoryBound(to: CChar.self) + filled,
                    Int32(min(wanted - filled, Int(Int32.max))),
                    request.pointee.in
                )
            }
            if n <= 0 { break }
            filled += Int(n)
        }
        body.removeLast(wanted - filled)
        // The end of the input is an empty record right after the body: reading it costs no wait. A body longer
        // than was read shows up here as one more byte.
        let inputRead = FCGX_GetChar(request.pointee.in) == -1
        return (GatewayRequest(parameters: parameters, body: body), inputRead)
    }

    private func write(_ response: GatewayResponse, to request: UnsafeMutablePointer<FCGX_Request>) {
        let bytes = response.rendered
        bytes.withUnsafeBytes { buffer in
            _ = FCGX_PutStr(
                buffer.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(buffer.count),
                request.pointee.out
            )
        }
    }

    static func parameters(_ envp: FCGX_ParamArray?) -> GatewayParameters {
        guard let envp else { return GatewayParameters() }
        return GatewayParameters(environment: envp)
    }
}

/// The unix socket `openSocket` created, and which file it is: at exit only that file is removed, not one that took
/// its place.
public struct ListeningSocket: Sendable {
    public let descriptor: Int32
    public let path: String
    private let device: UInt64
    private let inode: UInt64

    fileprivate init(descriptor: Int32, path: String, device: UInt64, inode: UInt64) {
        self.descriptor = descriptor
        self.path = path
        self.device = device
        self.inode = inode
    }

    /// Removes the socket's file if it is still this socket's.
    public func remove() {
        var status = stat()
        guard lstat(path, &status) == 0, UInt64(status.st_dev) == device, UInt64(status.st_ino) == inode else {
            return
        }
        unlink(path)
    }
}

/// The answer owed to one FastCGI request, to send once from any thread. A reply dropped unsent answers 500, so a
/// connection is never left hanging.
public final class GatewayReply: @unchecked Sendable {
    private let request: UnsafeMutablePointer<FCGX_Request>
    private let inputRead: Bool
    private let server: FastCGIServer
    // Only the one thread that owns the reply touches this.
    private var sent = false

    fileprivate init(request: UnsafeMutablePointer<FCGX_Request>, inputRead: Bool, server: FastCGIServer) {
        self.request = request
        self.inputRead = inputRead
        self.server = server
    }

    deinit {
        if !sent {
            server.complete(
                request,
                inputRead: inputRead,
                with: GatewayResponse(status: 500, reason: "Internal Server Error", headers: [], body: [])
            )
        }
    }

    public func send(_ response: GatewayResponse) {
        guard !sent else { return }
        sent = true
        server.complete(request, inputRead: inputRead, with: response)
    }
}

/// What a thread started by `FastCGIServer.run` does.
private final class ThreadBody {
    let run: () -> Void

    init(_ run: @escaping () -> Void) {
        self.run = run
    }
}
