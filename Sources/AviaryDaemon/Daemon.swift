#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import Logging
import NIOCore
import NIOPosix

/// What every service gets from the skeleton: its configuration (with `-o` overrides applied), its
/// arguments and a logger. Built by `Daemon.start`.
public struct DaemonContext: Sendable {
    public var arguments: DaemonArguments
    public var config: MainConfig
    public var logger: Logger

    public init(arguments: DaemonArguments, config: MainConfig, logger: Logger) {
        self.arguments = arguments
        self.config = config
        self.logger = logger
    }

    /// The descriptor of the listening socket master passes to every service.
    public static let listenDescriptor: Int32 = 3
}

/// The skeletons every daemon runs on (Postfix `single_server.c`, `multi_server.c`): argv, config,
/// logging, privileges, signals, retirement. A daemon's `main` builds its service and hands it here.
public enum Daemon {
    /// Common start-up. Exits the process with status 1 (and a log line) when it cannot go on.
    ///
    /// Order matters: the signal mask inherited from master is cleared, configuration and logging are
    /// set up, and root is dropped for the mail owner (with `-u`) BEFORE the caller reads anything from
    /// the network or a client.
    public static func start(program: String, arguments: [String] = Array(CommandLine.arguments.dropFirst()))
        -> DaemonContext
    {
        start(program: program, arguments: arguments) { _ in () }.context
    }

    /// Common start-up with a step that runs before root is dropped, as Postfix's `pre_jail_init` does:
    /// smtpd reads its TLS key there, which only root may read. The step must not touch the network.
    public static func start<Setup>(
        program: String, arguments: [String] = Array(CommandLine.arguments.dropFirst()),
        privileged setup: (DaemonContext) -> Setup
    ) -> (context: DaemonContext, setup: Setup) {
        var empty = sigset_t()
        sigemptyset(&empty)
        sigprocmask(SIG_SETMASK, &empty, nil)
        signal(SIGPIPE, SIG_IGN)

        let parsed: DaemonArguments
        do {
            parsed = try DaemonArguments.parse(arguments, program: program)
        } catch {
            fail(program: program, "\(error)")
        }
        let config: MainConfig
        do {
            config = try MainConfig.load(directory: parsed.configDirectory, overrides: parsed.overrides.map { ($0.name, $0.value) })
        } catch {
            fail(program: program, "\(error)")
        }
        let useSyslog = getenv("AVIARY_SYSLOG").map { String(cString: $0) == "1" } ?? false
        AviaryLogging.bootstrap(program: program, logFile: config.string(.maillogFile), useSyslog: useSyslog)
        var logger = Logger(label: "aviary.\(program)")
        logger.logLevel = .info
        let prepared = setup(DaemonContext(arguments: parsed, config: config, logger: logger))
        if parsed.isUnprivileged && Privileges.isRoot {
            let owner = config.string(.mailOwner)
            guard let account = SystemAccount.named(owner) else {
                logger.critical("mail_owner account \"\(owner)\" does not exist; create it (scripts/install-deps.sh --system-user)")
                exit(1)
            }
            do {
                try Privileges.dropPermanently(to: account)
            } catch {
                logger.critical("cannot drop privileges to \(owner): \(error)")
                exit(1)
            }
        }
        return (DaemonContext(arguments: parsed, config: config, logger: logger), prepared)
    }

    private static func fail(program: String, _ message: String) -> Never {
        let line = "aviary/\(program): fatal: \(message)\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        exit(1)
    }

    /// Runs an event-driven service (smtpd, qmgr) on one event loop thread until it returns or SIGTERM
    /// arrives; SIGTERM cancels `body`, which should then stop accepting and let sessions finish.
    ///
    /// Synchronous on purpose: the main thread stays ours to take signals with `sigwait`; an async `main`
    /// would hand it to libdispatch, where SIGTERM kills the process outright (see `SignalWaiter`).
    public static func runEventDriven(
        _ context: DaemonContext,
        _ body: @escaping @Sendable (any EventLoopGroup) async throws -> Void
    ) -> Never {
        // One thread per process runs both the event loop and every async task (NIO's singleton group, made
        // Swift's global executor): a session resumes on the thread that serves its connection, with no hop
        // to the cooperative pool and back for each line. Postfix's shape: one single-threaded process per
        // core (master starts as many), blocking work on a NIOThreadPool. Measured with smtp-source (10
        // sessions, M=1): ~11 % more messages per second than one event loop beside the cooperative pool,
        // and 20-50 % less time per command on one connection. (Task.sleep still resumes on a libdispatch
        // thread: harmless, the task goes on there.)
        NIOSingletons.groupLoopCountSuggestion = 1
        let group: any EventLoopGroup =
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            ? MultiThreadedEventLoopGroup.singleton : MultiThreadedEventLoopGroup(numberOfThreads: 1)
        runTask(context) { try await body(group) }
    }

    /// Runs a service's work as one task, without an event loop, until it returns or SIGTERM arrives (which
    /// cancels it): for a process that serves one session with blocking calls (pop3mail on a passed connection).
    /// Synchronous for the same reason as `runEventDriven`.
    public static func runTask(_ context: DaemonContext, _ body: @escaping @Sendable () async throws -> Void) -> Never {
        let stopSignals = [SIGTERM, SIGINT, SIGHUP]
        SignalWaiter.blockHandledSignals(stopSignals)
        let logger = context.logger
        let master = MasterLink.masterPID()
        Task.detached {
            // A service outlives master only by mistake (master was killed): then a new master would start
            // a second qmgr on the same queue. Postfix's children notice master's end too; so do ours.
            while true {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                if MasterLink.isOrphaned(from: master) {
                    logger.warning("master (pid \(master)) went away; exiting")
                    exit(0)
                }
            }
        }
        let task = Task.detached {
            var status: Int32 = 0
            do {
                try await body()
            } catch is CancellationError {
            } catch {
                logger.critical("\(error)")
                status = 1
            }
            exit(status)
        }
        SignalWaiter.waitForever(stopSignals) { _ in
            task.cancel()
            // Sessions get a few seconds to end by themselves; master sends SIGKILL after 10.
            Task.detached {
                try? await Task.sleep(nanoseconds: 5_000_000_000)
                exit(0)
            }
        }
    }
}
