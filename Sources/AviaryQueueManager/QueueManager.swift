#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import AviaryIPC
import AviaryMessage
import AviaryQueue
import AviaryUsers
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// What qmgr needs to know, read once from main.cf and master.cf.
public struct QueueManagerSettings: Sendable {
    public var queue: QueueDirectory
    public var routes: DomainRoutes
    /// Recipient -> transport and next hop (transport_maps, relayhost).
    public var router: DeliveryRouter
    /// default_destination_concurrency_limit.
    public var destinationLimit: Int
    /// delay_warning_time in seconds; 0: no warnings.
    public var delayWarning: Int
    public var transports: TransportTable
    public var schedule: RetrySchedule
    public var hostname: String
    public var queueRunDelay: Int
    public var deliveryTimeout: Int
    /// qmgr_message_active_limit: most messages in the active queue at once; the rest wait in incoming/deferred.
    public var activeLimit: Int
    /// Messages larger than this are returned with their headers only.
    public var bounceSizeLimit: Int
    /// Outcome counts for the metrics service (nothing when `metrics_enable = no`).
    public var metrics: MetricsReporter

    public init(config: MainConfig, master: MasterConfig) {
        queue = QueueDirectory(root: config.string(.queueDirectory))
        routes = DomainRoutes(config: config)
        router = DeliveryRouter(config: config, directory: UserDirectory(config: config))
        destinationLimit = max(1, config.integer(.defaultDestinationConcurrencyLimit))
        delayWarning = max(0, config.seconds(.delayWarningTime))
        transports = TransportTable(master: master, config: config)
        schedule = RetrySchedule(
            minimalBackoff: config.seconds(.minimalBackoffTime), maximalBackoff: config.seconds(.maximalBackoffTime),
            maximalLifetime: config.seconds(.maximalQueueLifetime), bounceLifetime: config.seconds(.bounceQueueLifetime))
        hostname = config.string(.myhostname)
        queueRunDelay = max(1, config.seconds(.queueRunDelay))
        deliveryTimeout = config.seconds(.commandTimeout) + 60
        activeLimit = max(1, config.integer(.qmgrMessageActiveLimit))
        bounceSizeLimit = 50000
        metrics = MetricsReporter(config: config)
    }
}

/// The queue manager (Postfix qmgr): owns the active and deferred queues, hands messages to the
/// delivery agents, records outcomes, defers, bounces and expires. It never touches a mailbox or the
/// network itself. One process, one event loop; file work runs on a thread pool.
public actor QueueManager {
    /// Wake-up requests, as written to qmgr's socket (the Postfix trigger letters).
    public enum Request: UInt8, Sendable {
        /// New mail in incoming (smtpd, pickup, a bounce).
        case incoming = 0x49  // I
        /// Retry the deferred queue now (`aviary queue flush`).
        case flush = 0x46  // F
        /// A scan: master's wake-up timer, or qmgr's own (its timer, a delivery that made room).
        case scan = 0x57  // W
        /// A writer named messages it committed to incoming (`QueueManagerLink`, `WakeUpNotes`): nothing
        /// else changed, incoming need not be listed for them.
        case announced = 0x4E  // N
    }

    /// What wake-ups stand for: coalesced in a one-place stream, a request may replace another; the notes
    /// keep what must not be lost with it (announced messages; that some request asked for a listing).
    let notes = WakeUpNotes()

    let settings: QueueManagerSettings
    let logger: Logger
    let pool: NIOThreadPool
    let client: DeliveryClient
    /// Where delivered messages' files go to be written again (AviaryQueue/SpareQueueFiles.swift).
    let spares: SpareQueueFiles
    /// The scheduling decisions (DeliveryScheduler.swift); this actor does the I/O they call for.
    private var scheduler: DeliveryScheduler
    /// Deliveries waiting for a place, resumed when the scheduler starts them.
    private var waitingDeliveries: [DeliveryScheduler.Ticket: CheckedContinuation<Void, Never>] = [:]
    /// The limits and per-message decisions, for deliveries running outside the actor.
    let policy: DeliveryScheduler.Policy
    /// The time in seconds since 1970: the one clock of qmgr's decisions.
    let now: @Sendable () -> Int
    /// For wake-ups of its own when a delivery frees a place.
    private var wakeUp: AsyncStream<Request>.Continuation?

    /// - Parameter now: the time in seconds since 1970 (the system clock unless a test says otherwise).
    public init(
        settings: QueueManagerSettings, group: any EventLoopGroup, pool: NIOThreadPool, logger: Logger,
        now: @escaping @Sendable () -> Int = { Int(time(nil)) }
    ) {
        self.settings = settings
        self.policy = DeliveryScheduler.Policy(settings: settings)
        self.scheduler = DeliveryScheduler(policy: policy)
        self.now = now
        self.logger = logger
        self.pool = pool
        self.client = DeliveryClient(group: group)
        self.spares = SpareQueueFiles(directory: settings.queue)
    }

    /// Runs until cancelled: recovers the active queue, then serves wake-up requests and timers.
    public func run(requests: AsyncStream<Request>, continuation: AsyncStream<Request>.Continuation) async {
        wakeUp = continuation
        await recoverActiveQueue()
        await withDiscardingTaskGroup { group in
            let timer = continuation
            group.addTask {
                // Our own clock, besides master's wakeups: new mail every few seconds in case a trigger was
                // lost, the deferred queue every queue_run_delay (checked in `handle`).
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: 5_000_000_000)
                    self.notes.yield(.scan, to: timer)
                }
            }
            group.addTask {
                // Temporary files a killed writer left in incoming/: at start, then every hour.
                while !Task.isCancelled {
                    await self.removeStaleTemporaryFiles()
                    try? await Task.sleep(for: .seconds(3600))
                }
            }
            notes.askForListing()
            handle(.scan, in: &group)
            for await request in requests {
                if Task.isCancelled { break }
                handle(request, in: &group)
            }
            group.cancelAll()
        }
    }

    /// Remembers a flush request until the next scan (wake-ups are coalesced, flushes must not be lost).
    func requestFlush() { scheduler.requestFlush() }

    /// Any request may stand for any other (they are coalesced): the scheduler notes it, then the active
    /// queue is filled as it says.
    private func handle(_ request: Request, in group: inout DiscardingTaskGroup) {
        let now = self.now()
        let noted = notes.take()
        scheduler.announce(noted.announced)
        scheduler.wake(request, now: now, listsIncoming: noted.listsIncoming)
        fill(now: now, in: &group)
    }

    /// Lists queues and claims messages while the scheduler asks for it.
    private func fill(now: Int, in group: inout DiscardingTaskGroup) {
        let queue = settings.queue
        while true {
            switch scheduler.nextStep(now: now) {
            case .list(let name):
                scheduler.listed(queue.messages(in: name), in: name) { queue.nextAttempt($0, in: name) }
            case .claim(let id, let source):
                group.addTask { await self.process(id, from: source) }
            case .idle:
                return
            }
        }
    }

    private func finished(_ id: QueueID) {
        if scheduler.finished(id), let wakeUp { notes.yield(.scan, to: wakeUp) }
    }

    /// Puts back whatever a previous qmgr left in active/ (it may have died mid-delivery). Recipients the
    /// agents finished are marked in the files, so nothing is delivered twice.
    private func recoverActiveQueue() async {
        let queue = settings.queue
        let spares = self.spares
        let moved: Int = (try? await pool.runIfActive {
            spares.removeUnpublished()
            var count = 0
            for id in queue.messages(in: .active) where (try? queue.move(id, from: .active, to: .incoming)) != nil {
                count += 1
            }
            return count
        }) ?? 0
        if moved > 0 { logger.info("recovered \(moved) message(s) from the active queue") }
    }

    /// Removes `incoming/.ID` files that no writer holds and that are older than a day
    /// (`QueueDirectory.removeStaleTemporaryFiles`).
    private func removeStaleTemporaryFiles() async {
        let queue = settings.queue
        let now = self.now()
        let removed = (try? await pool.runIfActive { queue.removeStaleTemporaryFiles(in: .incoming, now: now) }) ?? []
        for name in removed {
            logger.info("removed incoming/\(name): a temporary file left by a writer that died (no lock, older than a day)")
        }
    }

    /// Asks to deliver to `route` and waits for a place when the scheduler says so: the answer is never
    /// `.wait`. Every `.start` must be followed by `deliveryFinished`.
    func admit(_ route: DeliveryRoute) async -> DeliveryScheduler.Admission {
        let admission = scheduler.admit(route, now: now())
        guard case .wait(let ticket) = admission else { return admission }
        await withCheckedContinuation { waitingDeliveries[ticket] = $0 }
        return .start(ticket)
    }

    /// A delivery admitted by `admit` is over: its places go to the deliveries waiting for them.
    /// - Parameter outcomes: the agent's outcomes, or nil when it could not be asked.
    func deliveryFinished(_ ticket: DeliveryScheduler.Ticket, outcomes: [MessageDelivery.Outcome]?) {
        let completion = scheduler.deliveryFinished(ticket, outcomes: outcomes, now: now())
        if let dead = completion.suspended {
            logger.info("\(dead.route.nextHop ?? dead.route.transport): destination unreachable, deliveries suspended for \(settings.schedule.minimalBackoff) s: \(dead.reason)")
        }
        for next in completion.start {
            guard let waiting = waitingDeliveries.removeValue(forKey: next) else {
                preconditionFailure("delivery \(next.number) started without waiting")
            }
            waiting.resume()
        }
    }

    private func process(_ id: QueueID, from queue: QueueName) async {
        await MessageDelivery(manager: self, id: id).run(from: queue)
        finished(id)
    }
}

/// Shared by the wake-up producers (trigger connections, timers) and the manager: the messages announced
/// since the last wake-up was handled, and whether any wake-up since then asked for a listing of incoming.
final class WakeUpNotes: Sendable {
    private struct Notes {
        var announced: [QueueID] = []
        var listsIncoming = false
    }
    private let notes = Mutex(Notes())

    /// A writer named a message it committed to incoming.
    func announce(_ id: QueueID) {
        notes.withLock { notes in
            if notes.announced.count < DeliveryScheduler.announcedLimit {
                notes.announced.append(id)
            } else {
                notes.listsIncoming = true
            }
        }
    }

    func askForListing() { notes.withLock { $0.listsIncoming = true } }

    /// Wakes the manager with `request`; any request but `.announced` asks for a listing of incoming.
    func yield(_ request: QueueManager.Request, to requests: AsyncStream<QueueManager.Request>.Continuation) {
        if request != .announced { askForListing() }
        requests.yield(request)
    }

    /// What was noted since the last call, forgotten here.
    func take() -> (announced: [QueueID], listsIncoming: Bool) {
        notes.withLock { notes in
            defer { notes = Notes() }
            return (notes.announced, notes.listsIncoming)
        }
    }
}
