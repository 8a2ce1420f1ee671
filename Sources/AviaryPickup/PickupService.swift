import AviaryCore
import AviaryDaemon

#if canImport(Glibc)
import Glibc
#endif

/// pickup as a master.cf service (`pickup unix n - n 60 1 pickup`): scans maildrop/ when it starts, when
/// sendmail writes a byte to public/pickup, and on master's periodic wake-up.
public enum PickupService {
    public static func run(_ context: DaemonContext) -> Never {
        let pickup = Pickup(config: context.config, logger: context.logger)
        // Like a request in SingleServer: a stop signal waits until the scan is over.
        var termination = sigset_t()
        sigemptyset(&termination)
        sigaddset(&termination, SIGTERM)
        sigaddset(&termination, SIGHUP)
        sigprocmask(SIG_BLOCK, &termination, nil)
        pickup.scan()
        sigprocmask(SIG_UNBLOCK, &termination, nil)
        SingleServer.run(context) { connection in
            drainTrigger(connection)
            pickup.scan()
        }
    }

    /// Reads the wake-up bytes (a trigger is one byte, then the client closes), waiting at most a second.
    static func drainTrigger(_ connection: FileDescriptor) {
        var poll = pollfd(fd: connection.rawValue, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poll, 1, 1000) > 0 else { return }
        _ = try? connection.read(upTo: 64)
    }
}
