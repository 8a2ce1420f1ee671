#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import Logging

/// The synchronous skeleton for delivery agents such as `local` (Postfix `single_server.c`): one
/// connection at a time on the inherited listening socket, simple blocking code, several processes for
/// concurrency. A process retires after `max_use` connections (with `MasterLink.sessionServedExitStatus`:
/// master starts a fresh one at once, however quickly it got there) or
/// `max_idle` seconds without work.
///
/// SIGTERM while idle ends the process at once (default action); during a request it is held back
/// until the request is answered, so a delivery is never cut in half by a reload or stop.
public enum SingleServer {
    public static func run(_ context: DaemonContext, handle: (FileDescriptor) -> Void) -> Never {
        let maxUse = max(1, context.config.integer(.maxUse))
        var termination = sigset_t()
        sigemptyset(&termination)
        sigaddset(&termination, SIGTERM)
        sigaddset(&termination, SIGHUP)
        var served = 0
        while served < maxUse {
            let connection = acceptOne(context)
            sigprocmask(SIG_BLOCK, &termination, nil)
            handle(connection)
            served += 1
            sigprocmask(SIG_UNBLOCK, &termination, nil)
        }
        exit(MasterLink.sessionServedExitStatus)
    }

    /// Waits for the next connection on the inherited listening socket and returns it (close-on-exec). Exits
    /// the process (status 0) after `max_idle` seconds without one, or when master went away. `run` serves
    /// connections with it; pop3mail takes just one, because it stops being root to serve it.
    public static func acceptOne(_ context: DaemonContext) -> FileDescriptor {
        let maxIdle = max(1, context.config.seconds(.maxIdle))
        let listener = DaemonContext.listenDescriptor
        var idle = 0
        let master = MasterLink.masterPID()
        // Non-blocking accept: every process of the service polls this one socket and all of them wake for
        // each connection. The ones that lose the race must get EAGAIN and go back to polling; a blocking
        // accept would keep them asleep until some later connection, past max_idle and past master's death
        // (orphans that a new master then runs beside). O_NONBLOCK is shared by every process holding the
        // socket; they all accept this way. An accepted connection does not inherit it.
        let flags = fcntl(listener, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK == 0 { _ = fcntl(listener, F_SETFL, flags | O_NONBLOCK) }
        while true {
            // Wait in one-second steps: to retire after max_idle, and to notice that master went away
            // (a service must not outlive it, or a new master would run a second set beside it).
            var poll = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&poll, 1, 1000)
            if MasterLink.isOrphaned(from: master) {
                context.logger.warning("master (pid \(master)) went away; exiting")
                exit(0)
            }
            if ready == 0 {
                idle += 1
                if idle >= maxIdle { exit(0) }  // idle: retire
                continue
            }
            idle = 0
            if ready < 0 {
                if errno == EINTR { continue }
                context.logger.critical("poll on the service socket: \(SystemError.current("poll"))")
                exit(1)
            }
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                // Another process of this service took the connection first, or the client left.
                if errno == EAGAIN || errno == EINTR || errno == ECONNABORTED { continue }
                context.logger.critical("accept on the service socket: \(SystemError.current("accept"))")
                exit(1)
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            return FileDescriptor(adopting: connection)
        }
    }
}
