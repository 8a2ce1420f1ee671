#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import Logging

/// The synchronous skeleton for delivery agents such as `local` (Postfix `single_server.c`): one
/// connection at a time on the inherited listening socket, simple blocking code, several processes for
/// concurrency. A process retires after `max_use` requests (with `MasterLink.sessionServedExitStatus`:
/// master starts a fresh one at once, however quickly it got there) or
/// `max_idle` seconds without work.
///
/// SIGTERM while idle ends the process at once (default action); during a request it is held back
/// until the request is answered, so a delivery is never cut in half by a reload or stop.
public enum SingleServer {
    /// One request per connection (showq, pickup's wake-ups).
    public static func run(_ context: DaemonContext, handle: (FileDescriptor) -> Void) -> Never {
        let maxUse = max(1, context.config.integer(.maxUse))
        var served = 0
        while served < maxUse {
            let connection = acceptOne(context)
            withTerminationHeld { handle(connection) }
            served += 1
        }
        exit(MasterLink.sessionServedExitStatus)
    }

    /// Requests that are lines, one after another on a connection its client keeps open (the delivery
    /// agents: qmgr sends its next request on the same connection, so a delivery costs no connection set-up
    /// in qmgr, no accept here, and no wake-up of every idle agent polling the shared socket). `answer`
    /// gets one request line (newline included) and says whether the connection may carry another. Every
    /// request counts toward `max_use`; a connection quiet for `max_idle` seconds retires the process as an
    /// idle accept does. A line longer than `maximumLineLength` ends the connection unanswered.
    public static func runLines(
        _ context: DaemonContext, maximumLineLength: Int, answer: ([UInt8], FileDescriptor) -> Bool
    ) -> Never {
        let maxUse = max(1, context.config.integer(.maxUse))
        let watch = Watch(context)
        var served = 0
        while served < maxUse {
            let connection = accept(watch)
            var pending: [UInt8] = []
            while served < maxUse {
                guard let line = nextLine(connection, pending: &pending, maximumLength: maximumLineLength, watch)
                else { break }
                let goesOn = withTerminationHeld { answer(line, connection) }
                served += 1
                guard goesOn else { break }
            }
        }
        exit(MasterLink.sessionServedExitStatus)
    }

    /// Runs `body` with SIGTERM and SIGHUP held back until it returns.
    private static func withTerminationHeld<T>(_ body: () -> T) -> T {
        var termination = sigset_t()
        sigemptyset(&termination)
        sigaddset(&termination, SIGTERM)
        sigaddset(&termination, SIGHUP)
        sigprocmask(SIG_BLOCK, &termination, nil)
        defer { sigprocmask(SIG_UNBLOCK, &termination, nil) }
        return body()
    }

    /// The next line on `connection` (bytes read past it stay in `pending`); nil when the client closed the
    /// connection, broke it or sent a line that is too long. Exits the process after `max_idle` seconds
    /// without a byte, or when master went away.
    private static func nextLine(
        _ connection: FileDescriptor, pending: inout [UInt8], maximumLength: Int, _ watch: Watch
    ) -> [UInt8]? {
        var searched = 0
        while true {
            if let newline = pending[searched...].firstIndex(of: 10) {
                let line = Array(pending[...newline])
                pending.removeFirst(newline + 1)
                return line
            }
            searched = pending.count
            guard pending.count <= maximumLength else { return nil }
            waitReadable(connection.rawValue, watch)
            guard let chunk = try? connection.read(upTo: 65536), !chunk.isEmpty else { return nil }
            pending += chunk
        }
    }

    /// Waits for the next connection on the inherited listening socket and returns it (close-on-exec). Exits
    /// the process (status 0) after `max_idle` seconds without one, or when master went away. `run` serves
    /// connections with it; pop3mail takes just one, because it stops being root to serve it.
    public static func acceptOne(_ context: DaemonContext) -> FileDescriptor {
        accept(Watch(context))
    }

    private static func accept(_ watch: Watch) -> FileDescriptor {
        let listener = DaemonContext.listenDescriptor
        // Non-blocking accept: every process of the service polls this one socket and all of them wake for
        // each connection. The ones that lose the race must get EAGAIN and go back to polling; a blocking
        // accept would keep them asleep until some later connection, past max_idle and past master's death
        // (orphans that a new master then runs beside). O_NONBLOCK is shared by every process holding the
        // socket; they all accept this way. An accepted connection does not inherit it.
        let flags = fcntl(listener, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK == 0 { _ = fcntl(listener, F_SETFL, flags | O_NONBLOCK) }
        while true {
            waitReadable(listener, watch)
            let connection = Glibc.accept(listener, nil, nil)
            if connection < 0 {
                // Another process of this service took the connection first, or the client left.
                if errno == EAGAIN || errno == EINTR || errno == ECONNABORTED { continue }
                watch.context.logger.critical("accept on the service socket: \(SystemError.current("accept"))")
                exit(1)
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            return FileDescriptor(adopting: connection)
        }
    }

    /// Waits until `descriptor` is readable (or hung up). Waits in one-second steps: to retire after
    /// `max_idle` seconds (exit status 0), and to notice that master went away (a service must not outlive
    /// it, or a new master would run a second set beside it).
    private static func waitReadable(_ descriptor: Int32, _ watch: Watch) {
        let (context, maxIdle, master) = (watch.context, watch.maxIdle, watch.master)
        var idle = 0
        while true {
            var poll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&poll, 1, 1000)
            if MasterLink.isOrphaned(from: master) {
                context.logger.warning("master (pid \(master)) went away; exiting")
                exit(0)
            }
            if ready > 0 { return }
            if ready == 0 {
                idle += 1
                if idle >= maxIdle { exit(0) }  // idle: retire
                continue
            }
            if errno == EINTR { continue }
            context.logger.critical("poll: \(SystemError.current("poll"))")
            exit(1)
        }
    }

    /// What a wait watches for, read once per process (a delivery agent waits once per request).
    private struct Watch {
        let context: DaemonContext
        /// max_idle in seconds.
        let maxIdle: Int
        /// The master this process belongs to.
        let master: pid_t

        init(_ context: DaemonContext) {
            self.context = context
            maxIdle = max(1, context.config.seconds(.maxIdle))
            master = MasterLink.masterPID()
        }
    }
}
