import AviaryConfig
import AviaryCore
import AviaryInstance
import AviaryIPC
import AviaryQueue
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The supervisor: opens every service's listening sockets, runs the service's processes with the socket
/// as descriptor 3, restarts those that end (at once after a normal exit, after a growing back-off after a
/// failure), reloads on SIGHUP and stops everything on SIGTERM or SIGINT.
///
/// All state lives in this actor and changes only in `handle(_:)`, one event at a time: signals (passed in
/// by `deliver(signal:)` from the main thread's `SignalWaiter`) and timers (restart back-offs, grace
/// periods) arrive through one stream.
public actor Master {
    /// The version master reports in its start and reload lines.
    public static let version = "0.1.0"

    enum Event: Sendable {
        case signal(Int32)
        /// A failed process's back-off is over; `token` tells whether the restart is still wanted.
        case restartDue(service: String, slot: Int, token: Int)
        /// A process asked to stop on reload had 10 seconds to do so.
        case terminationDeadline(pid: pid_t)
        /// The children had their time to stop at shutdown.
        case shutdownDeadline
        /// Every process of an on-demand service is busy and a connection waits (`DemandWatcher`).
        case demand(service: String)
    }

    /// What a child process is to master.
    struct Child {
        enum Owner {
            /// Runs in a slot of a service; its exit leads to a restart.
            case slot(service: String, index: Int)
            /// Was asked to stop (service removed or shrunk); its exit ends it.
            case retiring
        }
        var owner: Owner
        var program: String
        var startedAt: ContinuousClock.Instant
    }

    /// One process place of a service.
    struct Slot {
        var pid: pid_t?
        /// Set while a restart waits out its back-off; a timer with another token is stale.
        var restartToken: Int?
        /// The process was asked to stop by a reload: start the replacement as soon as it exits.
        var restartsWhenExited = false
    }

    /// A service as it runs: its plan, its open listening sockets and its process slots.
    final class RunningService {
        var plan: ServicePlan
        /// inet: one socket per slot; unix: one socket shared by all slots.
        var listeners: [FileDescriptor]
        /// The address inet sockets are bound to, for master.listeners.
        var boundAddress: SocketAddress?
        var slots: [Slot]
        var throttle: RestartThrottle
        var wakeupTask: Task<Void, Never>?

        init(plan: ServicePlan, listeners: [FileDescriptor], boundAddress: SocketAddress?, throttle: RestartThrottle) {
            self.plan = plan
            self.listeners = listeners
            self.boundAddress = boundAddress
            self.slots = Array(repeating: Slot(), count: plan.processCount)
            self.throttle = throttle
        }

        var key: String { plan.entry.key }

        /// A unix service of several processes sharing one socket (local, smtp, showq, pop3mail): one process
        /// runs while it is quiet, more start when connections wait (`DemandWatcher`), and the extra ones
        /// retire after `max_idle`. The others (inet services, qmgr, pickup) always run all their processes.
        var isOnDemand: Bool { plan.entry.kind == .unix && plan.processCount > 1 }

        var runningCount: Int { slots.filter { $0.pid != nil }.count }

        /// The socket a process in `slot` gets as descriptor 3.
        func listener(for slot: Int) -> FileDescriptor {
            listeners.count > 1 ? listeners[slot] : listeners[0]
        }
    }

    /// A process that exits with status 0 sooner than this after its start is throttled like a failed one:
    /// a retiring daemon has served its `max_use` first, and a broken one must not make master spin.
    static let minimumRetirementLifetime: Duration = .seconds(1)

    /// How long processes get to stop after SIGTERM before SIGKILL, at shutdown and on reload.
    static let stopGracePeriod: Duration = .seconds(10)

    var configuration: MasterConfiguration
    let paths: MasterPaths
    let owner: SystemAccount?
    let logger: Logger
    let clock = ContinuousClock()
    var pidFile: MasterPidFile?
    /// Services by key (`name/type`), and their master.cf order.
    var services: [String: RunningService] = [:]
    var serviceOrder: [String] = []
    var children: [pid_t: Child] = [:]
    /// Processes sent SIGTERM by a reload, to be killed if they outlive the grace period.
    var terminating: Set<pid_t> = []
    var isStopping = false
    var nextToken = 0
    let events: AsyncStream<Event>
    let eventSink: AsyncStream<Event>.Continuation
    let demandWatcher: DemandWatcher
    /// Restart counts for the metrics service (nothing when `metrics_enable = no`); renewed on reload.
    var metrics: MetricsReporter

    /// - Parameters:
    ///   - configuration: main.cf and master.cf, already loaded and valid.
    ///   - owner: `mail_owner` when running as root (owns sockets and private directories), else nil.
    ///   - logger: where master's events go.
    public init(configuration: MasterConfiguration, owner: SystemAccount?, logger: Logger) {
        self.configuration = configuration
        self.metrics = MetricsReporter(config: configuration.main)
        self.paths = configuration.paths
        self.owner = owner
        self.logger = logger
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        self.events = events
        eventSink = sink
        demandWatcher = DemandWatcher { key in sink.yield(.demand(service: key)) }
    }

    /// Prepares the queue directories, takes the pid-file lock, opens every listening socket, records the
    /// inet ports in master.listeners and starts every service's processes.
    /// - Throws: `MasterError` when another master runs, a socket cannot be bound, or a file cannot be written.
    public func start() throws(MasterError) {
        let groupName = configuration.main.string(.setgidGroup)
        let setgidGroup = QueueDirectories.setgidGroup(named: groupName)
        try QueueDirectories.prepare(paths, owner: owner, setgidGroup: setgidGroup)
        pidFile = try MasterPidFile.acquire(paths)
        logger.info("daemon started -- version \(Self.version), configuration \(configuration.directory)")
        if Privileges.isRoot && setgidGroup == nil {
            // A notice, not a warning: master works without it, only sendmail's users are limited.
            logger.notice(
                """
                setgid_group "\(groupName)" does not exist: only root and mail_owner can submit mail with \
                sendmail (scripts/install.sh creates the group)
                """
            )
        }
        for warning in configuration.warnings { logger.warning("\(warning)") }
        do throws(MasterError) {
            for plan in configuration.plans() {
                services[plan.entry.key] = try openService(plan)
                serviceOrder.append(plan.entry.key)
            }
            try writeListeners()
        } catch {
            pidFile?.remove()
            throw error
        }
        for key in serviceOrder {
            guard let service = services[key] else { continue }
            startAllProcesses(of: service)
            startWakeups(of: service)
        }
        updateDemandWatch()
        demandWatcher.start()
    }

    /// Passes a signal to master; called from the thread that waits for signals.
    public nonisolated func deliver(signal: Int32) {
        eventSink.yield(.signal(signal))
    }

    /// Handles events until master has stopped; returns the exit status for the process.
    public func run() async -> Int32 {
        for await event in events {
            handle(event)
            if isStopping && children.isEmpty {
                finishStopping()
                return 0
            }
        }
        return 0
    }

    func handle(_ event: Event) {
        switch event {
        case .signal(SIGCHLD):
            reapChildren()
        case .signal(SIGHUP):
            if !isStopping { reload() }
        case .signal(let number):
            // SIGTERM or SIGINT.
            if !isStopping { beginStopping(signal: number) }
        case .restartDue(let key, let index, let token):
            guard !isStopping, let service = services[key], index < service.slots.count,
                service.slots[index].restartToken == token, service.slots[index].pid == nil
            else { return }
            service.slots[index].restartToken = nil
            startProcess(of: service, slot: index)
        case .terminationDeadline(let pid):
            if terminating.contains(pid), children[pid] != nil { kill(pid, SIGKILL) }
        case .shutdownDeadline:
            killRemainingChildren()
        case .demand(let key):
            // Not while a failing service waits out its back-off: demand must not defeat the throttle.
            guard !isStopping, let service = services[key], service.isOnDemand,
                !service.slots.contains(where: { $0.restartToken != nil }),
                let free = service.slots.firstIndex(where: { $0.pid == nil })
            else { return }
            startProcess(of: service, slot: free)
        }
    }

    // MARK: - Services and processes

    /// Binds a service's sockets (one per slot for inet, one for unix).
    func openService(_ plan: ServicePlan) throws(MasterError) -> RunningService {
        let entry = plan.entry
        let throttle = RestartThrottle(maximumDelay: configuration.throttleTime)
        do throws(MasterError) {
            switch entry.kind {
            case .inet:
                let address = try InetServiceAddress(parsing: entry.name)
                let (sockets, bound) = try ListeningSocket.inet(address, count: plan.processCount)
                return RunningService(plan: plan, listeners: sockets, boundAddress: bound, throttle: throttle)
            case .unix:
                let path = plan.socketPath ?? paths.socketPath(for: entry)
                let socket = try ListeningSocket.unix(path: path, mode: entry.isPrivate ? 0o600 : 0o666, owner: owner)
                return RunningService(plan: plan, listeners: [socket], boundAddress: nil, throttle: throttle)
            }
        } catch {
            throw MasterError(
                error.code,
                "\(configuration.master.path), line \(entry.line): service \(entry.key): \(error.message)",
                cause: error.cause
            )
        }
    }

    /// Starts the processes a service runs when quiet: all of them, or one for an on-demand service.
    func startAllProcesses(of service: RunningService) {
        if service.isOnDemand {
            if service.runningCount == 0, service.slots[0].restartToken == nil { startProcess(of: service, slot: 0) }
            return
        }
        for index in service.slots.indices where service.slots[index].pid == nil {
            startProcess(of: service, slot: index)
        }
    }

    /// Hands the shared sockets of the on-demand services to the watcher (after start and every reload).
    func updateDemandWatch() {
        demandWatcher.watch(
            serviceOrder.compactMap { key in
                guard let service = services[key], service.isOnDemand, !isStopping else { return nil }
                return (key: key, descriptor: service.listeners[0].rawValue)
            })
    }

    func startProcess(of service: RunningService, slot index: Int) {
        let plan = service.plan
        service.slots[index].restartToken = nil
        do {
            let pid = try ProcessSpawner.spawn(
                path: plan.programPath,
                arguments: plan.arguments,
                descriptors: [(source: service.listener(for: index).rawValue, target: 3)]
            )
            service.slots[index].pid = pid
            children[pid] = Child(
                owner: .slot(service: service.key, index: index),
                program: plan.programPath,
                startedAt: clock.now
            )
        } catch {
            logger.warning("cannot start \(plan.programPath) for service \(service.key): \(error.reason)")
            scheduleRestart(of: service, slot: index, after: service.throttle.failed(after: .zero))
        }
    }

    func scheduleRestart(of service: RunningService, slot index: Int, after delay: Duration) {
        nextToken += 1
        let token = nextToken
        service.slots[index].restartToken = token
        schedule(.restartDue(service: service.key, slot: index, token: token), after: delay)
    }

    func schedule(_ event: Event, after delay: Duration) {
        let sink = eventSink
        Task {
            try? await Task.sleep(for: delay)
            sink.yield(event)
        }
    }

    /// Starts the periodic `W` trigger of a unix service whose wakeup column is set.
    func startWakeups(of service: RunningService) {
        service.wakeupTask?.cancel()
        service.wakeupTask = nil
        let entry = service.plan.entry
        guard entry.wakeup > 0, entry.kind == .unix, let path = service.plan.socketPath else { return }
        let interval = Duration.seconds(entry.wakeup)
        service.wakeupTask = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                // A failure means the service is restarting; the next interval tries again.
                ServiceTrigger.wake(socketPath: path)
            }
        }
    }

    /// Collects every child that has ended (one SIGCHLD may stand for several) and restarts as needed.
    func reapChildren() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == EINTR { continue }
            guard pid > 0 else { return }
            processEnded(pid, ProcessExitStatus(waitStatus: status))
        }
    }

    func processEnded(_ pid: pid_t, _ status: ProcessExitStatus) {
        terminating.remove(pid)
        guard let child = children.removeValue(forKey: pid) else { return }
        guard case .slot(let key, let index) = child.owner, let service = services[key],
            index < service.slots.count, service.slots[index].pid == pid
        else { return }
        service.slots[index].pid = nil
        if isStopping { return }
        let lifetime = clock.now - child.startedAt
        if service.slots[index].restartsWhenExited {
            service.slots[index].restartsWhenExited = false
            startProcess(of: service, slot: index)
        } else if status == .exited(MasterLink.sessionServedExitStatus)
            || (status.isSuccess && lifetime >= Self.minimumRetirementLifetime)
        {
            service.throttle.succeeded(after: lifetime)
            // An on-demand service's process that retired after max_idle is not replaced, unless it was the last.
            if service.isOnDemand && status != .exited(MasterLink.sessionServedExitStatus) && service.runningCount > 0 {
                return
            }
            startProcess(of: service, slot: index)
        } else {
            if status.isSuccess {
                logger.warning("process \(child.program) pid \(pid) exited with status 0 right after it started")
            } else {
                logger.warning("process \(child.program) pid \(pid) \(status)")
            }
            metrics.count(.restarts, Self.programName(child.program))
            let delay = service.throttle.failed(after: lifetime)
            scheduleRestart(of: service, slot: index, after: delay)
        }
    }

    /// The program a path names (`/usr/libexec/aviary/qmgr` -> `qmgr`), for the restart counter's label.
    static func programName(_ path: String) -> String {
        String(path.split(separator: "/").last ?? Substring(path))
    }

    /// Sends SIGTERM and gives the process the grace period before SIGKILL.
    func terminate(_ pid: pid_t) {
        kill(pid, SIGTERM)
        terminating.insert(pid)
        schedule(.terminationDeadline(pid: pid), after: Self.stopGracePeriod)
    }

    /// Writes `pid/master.listeners`: the address each inet service is bound to, for tests and tools.
    func writeListeners() throws(MasterError) {
        var text = ""
        for key in serviceOrder {
            guard let service = services[key], let bound = service.boundAddress else { continue }
            text += "\(service.plan.entry.name) \(bound)\n"
        }
        do {
            try SafeFile.writeDurably(Array(text.utf8), to: paths.listenersFile, mode: 0o644)
        } catch {
            throw MasterError.system(error)
        }
    }
}
