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
    }

    let settings: QueueManagerSettings
    let logger: Logger
    let pool: NIOThreadPool
    let client: DeliveryClient
    /// Where delivered messages' files go to be written again (AviaryQueue/SpareQueueFiles.swift).
    let spares: SpareQueueFiles
    private var inProgress: Set<QueueID> = []
    private var limiters: [String: AsyncLimiter] = [:]
    private var destinationLimiters: [DeliveryRoute: AsyncLimiter] = [:]
    /// Destinations that could not be reached, with why and until when they are left alone.
    private var deadDestinations: [DeliveryRoute: (reason: String, until: Int)] = [:]
    private var lastDeferredScan = 0
    private var isFlushRequested = false
    /// The incoming and deferred queues as last listed, claimed in order as the active queue has room.
    /// A queue is listed again only when its pass is used up (Postfix's qmgr scans the same way): a
    /// wake-up for every accepted message must not cost a listing of a backlog of thousands.
    private var incomingPass = ScanPass()
    private var deferredPass = ScanPass()
    /// Something may have arrived in incoming since its pass was listed.
    private var isIncomingChanged = true
    /// The deferred queue is due for a pass (queue_run_delay passed, or a flush).
    private var isDeferredDue = false
    private var isDeferredFlush = false
    /// For wake-ups of its own when a delivery frees a place.
    private var wakeUp: AsyncStream<Request>.Continuation?

    public init(settings: QueueManagerSettings, group: any EventLoopGroup, pool: NIOThreadPool, logger: Logger) {
        self.settings = settings
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
                    timer.yield(.scan)
                }
            }
            group.addTask {
                // Temporary files a killed writer left in incoming/: at start, then every hour.
                while !Task.isCancelled {
                    await self.removeStaleTemporaryFiles()
                    try? await Task.sleep(for: .seconds(3600))
                }
            }
            handle(.scan, in: &group)
            for await request in requests {
                if Task.isCancelled { break }
                handle(request, in: &group)
            }
            group.cancelAll()
        }
    }

    /// Remembers a flush request until the next scan (wake-ups are coalesced, flushes must not be lost).
    func requestFlush() { isFlushRequested = true }

    /// Any request may stand for any other (they are coalesced): each one notes that incoming may have
    /// changed, starts a deferred pass when one is due, and fills the active queue.
    private func handle(_ request: Request, in group: inout DiscardingTaskGroup) {
        let now = Int(time(nil))
        if request == .flush || isFlushRequested {
            isFlushRequested = false
            // A flush is the administrator saying "try now": dead destinations get another chance, and
            // every deferred message goes, due or not, in a fresh pass.
            deadDestinations = [:]
            deferredPass = ScanPass()
            isDeferredDue = true
            isDeferredFlush = true
        }
        // Any request may stand for an incoming wake-up it replaced in the stream's one-place buffer. Noting
        // a change costs nothing while the current pass lasts: incoming is listed again only after it.
        isIncomingChanged = true
        if now - lastDeferredScan >= settings.queueRunDelay { isDeferredDue = true }
        fill(now: now, in: &group)
    }

    /// Claims messages while the active queue has room, taking incoming and deferred in turn so that
    /// neither starves the other; a used-up pass is listed again only when there is reason to.
    private func fill(now: Int, in group: inout DiscardingTaskGroup) {
        var incomingTurn = true
        while inProgress.count < settings.activeLimit {
            if incomingPass.isDone && isIncomingChanged {
                isIncomingChanged = false
                incomingPass = ScanPass(settings.queue.messages(in: .incoming))
            }
            if deferredPass.isDone && isDeferredDue {
                isDeferredDue = false
                lastDeferredScan = now
                let queue = settings.queue
                let everything = isDeferredFlush
                isDeferredFlush = false
                deferredPass = ScanPass(
                    queue.messages(in: .deferred).filter { everything || (queue.nextAttempt($0, in: .deferred) ?? 0) <= now })
            }
            if incomingTurn || deferredPass.isDone, let id = incomingPass.take() {
                claim(id, from: .incoming, in: &group)
            } else if let id = deferredPass.take() {
                claim(id, from: .deferred, in: &group)
            } else if let id = incomingPass.take() {
                claim(id, from: .incoming, in: &group)
            } else {
                return
            }
            incomingTurn.toggle()
        }
    }

    private func claim(_ id: QueueID, from queue: QueueName, in group: inout DiscardingTaskGroup) {
        // Listed in an earlier pass and still out, or listed twice: once is enough. A message listed
        // but delivered since is gone from its queue, and its delivery ends at once (file not found).
        guard !inProgress.contains(id) else { return }
        inProgress.insert(id)
        group.addTask { await self.process(id, from: queue) }
    }

    private func finished(_ id: QueueID) {
        let wasFull = inProgress.count >= settings.activeLimit
        inProgress.remove(id)
        let isWaiting = !incomingPass.isDone || !deferredPass.isDone || isIncomingChanged || isDeferredDue
        if wasFull && isWaiting { wakeUp?.yield(.scan) }
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
        let now = Int(time(nil))
        let removed = (try? await pool.runIfActive { queue.removeStaleTemporaryFiles(in: .incoming, now: now) }) ?? []
        for name in removed {
            logger.info("removed incoming/\(name): a temporary file left by a writer that died (no lock, older than a day)")
        }
    }

    func limiter(for transport: String) -> AsyncLimiter {
        if let existing = limiters[transport] { return existing }
        let limiter = AsyncLimiter(limit: settings.transports.limits[transport] ?? 1)
        limiters[transport] = limiter
        return limiter
    }

    /// Deliveries in flight per destination: at most default_destination_concurrency_limit and at most half
    /// the transport's processes, so a backlog for one slow domain always leaves room for the others.
    func destinationLimiter(for route: DeliveryRoute) -> AsyncLimiter {
        if let existing = destinationLimiters[route] { return existing }
        let transportLimit = settings.transports.limits[route.transport] ?? 1
        let limiter = AsyncLimiter(limit: min(settings.destinationLimit, max(1, transportLimit / 2)))
        destinationLimiters[route] = limiter
        return limiter
    }

    /// Why a destination is not to be tried now, if it was found unreachable recently.
    func deadReason(_ route: DeliveryRoute) -> String? {
        guard let dead = deadDestinations[route] else { return nil }
        if dead.until <= Int(time(nil)) {
            deadDestinations[route] = nil
            return nil
        }
        return dead.reason
    }

    /// Records the outcome of a delivery to a destination: unreachable (every recipient deferred with a
    /// network or routing status, 4.4.x) marks it dead for minimal_backoff_time, so the other messages for
    /// it wait instead of each trying again in the same minute; any other outcome revives it.
    func record(_ route: DeliveryRoute, unreachable reason: String?) {
        guard let reason else {
            deadDestinations[route] = nil
            return
        }
        if deadDestinations[route] == nil {
            logger.info("\(route.nextHop ?? route.transport): destination unreachable, deliveries suspended for \(settings.schedule.minimalBackoff) s: \(reason)")
        }
        deadDestinations[route] = (reason, Int(time(nil)) + settings.schedule.minimalBackoff)
    }

    private func process(_ id: QueueID, from queue: QueueName) async {
        await MessageDelivery(manager: self, id: id).run(from: queue)
        finished(id)
    }
}
