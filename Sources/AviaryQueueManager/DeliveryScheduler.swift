import AviaryQueue
import AviarySMTP
import AviaryUsers

/// qmgr's scheduling decisions as a state machine with no I/O and no clock: which message to take into the
/// active queue next, when a delivery to a destination may start, which destinations are left alone for a
/// while, and what becomes of a message after an attempt. The time is always a parameter (seconds since 1970);
/// `QueueManager` is the driver that lists queues, moves files, talks to the agents and reads the clock.
///
/// Inputs and outputs:
/// - `wake(_:now:)` notes a wake-up; `nextStep(now:)` then says what to do, one step at a time, until `.idle`:
///   list a queue (answered with `listed(_:in:nextAttempt:)`) or claim a message for delivery. `finished(_:)`
///   says a message is done and whether a scan should follow at once.
/// - `admit(_:now:)` asks to deliver to a route: refused (no such transport), suspended (a dead destination),
///   start now, or wait; `deliveryFinished(_:outcomes:now:)` gives the slots back and names the waiting
///   deliveries that start, and a destination found unreachable.
/// - `Policy` holds the per-message decisions (bounce, defer, expire, warn, next attempt), which need no state.
struct DeliveryScheduler {
    /// The limits and intervals, from main.cf and master.cf; the per-message decisions need nothing else.
    struct Policy: Sendable {
        /// qmgr_message_active_limit.
        var activeLimit: Int
        /// queue_run_delay, in seconds.
        var queueRunDelay: Int
        /// default_destination_concurrency_limit.
        var destinationLimit: Int
        /// Each transport's process count (master.cf).
        var transports: TransportTable
        var schedule: RetrySchedule
        /// delay_warning_time in seconds; 0: no warnings.
        var delayWarning: Int

        init(
            activeLimit: Int,
            queueRunDelay: Int,
            destinationLimit: Int,
            transports: TransportTable,
            schedule: RetrySchedule,
            delayWarning: Int
        ) {
            self.activeLimit = max(1, activeLimit)
            self.queueRunDelay = max(1, queueRunDelay)
            self.destinationLimit = max(1, destinationLimit)
            self.transports = transports
            self.schedule = schedule
            self.delayWarning = max(0, delayWarning)
        }

        init(settings: QueueManagerSettings) {
            self.init(
                activeLimit: settings.activeLimit,
                queueRunDelay: settings.queueRunDelay,
                destinationLimit: settings.destinationLimit,
                transports: settings.transports,
                schedule: settings.schedule,
                delayWarning: settings.delayWarning
            )
        }

        /// Deliveries in flight per destination: at most default_destination_concurrency_limit and at most half
        /// the transport's processes, so a backlog for one slow domain always leaves room for the others.
        func destinationLimit(transportLimit: Int) -> Int {
            min(destinationLimit, max(1, transportLimit / 2))
        }
    }

    let policy: Policy

    init(policy: Policy) { self.policy = policy }

    // MARK: - The active queue

    /// Messages out for delivery (claimed, not yet finished).
    private(set) var inProgress: Set<QueueID> = []
    private var isFlushRequested = false
    private var lastDeferredScan = 0
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
    /// Whose turn it is in the current fill: incoming and deferred take turns so neither starves the other.
    private var isIncomingTurn = true
    /// Messages smtpd named as just committed to incoming (`QueueManagerLink`), in order, from `announcedNext`
    /// on: claimed without a listing of incoming. At most `announcedLimit` wait; beyond that a listing
    /// finds them.
    private var announced: [QueueID] = []
    private var announcedNext = 0
    static let announcedLimit = 10_000

    /// What the driver does next to fill the active queue.
    enum Step: Equatable {
        /// List the queue and hand the listing to `listed(_:in:nextAttempt:)`.
        case list(QueueName)
        /// Move the message into the active queue and deliver it; `finished(_:)` when it is done.
        case claim(QueueID, from: QueueName)
        /// The active queue is full, or there is nothing to claim.
        case idle
    }

    /// Remembers a flush request until the next wake-up (wake-ups are coalesced, flushes must not be lost).
    mutating func requestFlush() { isFlushRequested = true }

    /// Messages named by their writer as just committed to incoming: claimed in order as the active queue
    /// has room, before anything a listing found.
    mutating func announce(_ ids: [QueueID]) {
        guard !ids.isEmpty else { return }
        if announced.count - announcedNext + ids.count > Self.announcedLimit {
            isIncomingChanged = true  // too many to remember: the next listing finds them
            return
        }
        announced += ids
    }

    /// A wake-up (any request may stand for any other: they are coalesced): notes that incoming may have
    /// changed and starts a deferred pass when one is due. The driver then fills with `nextStep(now:)`.
    /// - Parameter listsIncoming: whether incoming is to be listed again once the current pass is used up:
    ///   false for a wake-up that only brought announced messages (`announce`).
    mutating func wake(_ request: QueueManager.Request, now: Int, listsIncoming: Bool = true) {
        if request == .flush || isFlushRequested {
            isFlushRequested = false
            // A flush is the administrator saying "try now": dead destinations get another chance, and
            // every deferred message goes, due or not, in a fresh pass.
            deadDestinations = [:]
            deferredPass = ScanPass()
            isDeferredDue = true
            isDeferredFlush = true
        }
        // Any request may stand for an incoming wake-up it replaced in the stream's one-place buffer (the
        // driver says so in `listsIncoming`). Noting a change costs nothing while the current pass lasts:
        // incoming is listed again only after it.
        if listsIncoming { isIncomingChanged = true }
        if now - lastDeferredScan >= policy.queueRunDelay { isDeferredDue = true }
        isIncomingTurn = true
    }

    /// The next step of filling the active queue: claims messages while it has room, taking incoming and
    /// deferred in turn so that neither starves the other; a used-up pass is listed again only when there is
    /// reason to.
    mutating func nextStep(now: Int) -> Step {
        while inProgress.count < policy.activeLimit {
            if incomingPass.isDone && isIncomingChanged {
                isIncomingChanged = false
                return .list(.incoming)
            }
            if deferredPass.isDone && isDeferredDue {
                isDeferredDue = false
                lastDeferredScan = now
                return .list(.deferred)
            }
            let claimed: (QueueID, QueueName)
            if isIncomingTurn || deferredPass.isDone, let id = takeIncoming() {
                claimed = (id, .incoming)
            } else if let id = deferredPass.take() {
                claimed = (id, .deferred)
            } else if let id = takeIncoming() {
                claimed = (id, .incoming)
            } else {
                return .idle
            }
            isIncomingTurn.toggle()
            // Listed in an earlier pass and still out, or listed twice: once is enough. A message listed
            // but delivered since is gone from its queue, and its delivery ends at once (file not found).
            if inProgress.insert(claimed.0).inserted { return .claim(claimed.0, from: claimed.1) }
        }
        return .idle
    }

    /// The next message of incoming: an announced one, else the next of the listing.
    private mutating func takeIncoming() -> QueueID? {
        if announcedNext < announced.count {
            let id = announced[announcedNext]
            announcedNext += 1
            if announcedNext == announced.count {
                announced.removeAll(keepingCapacity: true)
                announcedNext = 0
            } else if announcedNext >= 1024 {
                announced.removeFirst(announcedNext)
                announcedNext = 0
            }
            return id
        }
        return incomingPass.take()
    }

    /// A listing asked for by `.list`, in the order to claim it. Of the deferred queue, a pass takes the
    /// messages due by the time of the listing (`nextAttempt`, nil counts as due), or all after a flush.
    mutating func listed(_ ids: [QueueID], in queue: QueueName, nextAttempt: (QueueID) -> Int?) {
        if queue == .deferred {
            let everything = isDeferredFlush
            isDeferredFlush = false
            let now = lastDeferredScan
            deferredPass = ScanPass(ids.filter { everything || (nextAttempt($0) ?? 0) <= now })
        } else {
            incomingPass = ScanPass(ids)
        }
    }

    /// A claimed message is done (delivered, deferred, bounced or gone).
    /// - Returns: whether to wake up at once: the active queue was full and more is waiting.
    mutating func finished(_ id: QueueID) -> Bool {
        let wasFull = inProgress.count >= policy.activeLimit
        inProgress.remove(id)
        let isWaiting = !incomingPass.isDone || !deferredPass.isDone || isIncomingChanged || isDeferredDue
            || announcedNext < announced.count
        return wasFull && isWaiting
    }

    // MARK: - Destinations

    /// A delivery admitted by `admit(_:now:)`: it holds (or waits for) a place until `deliveryFinished`.
    struct Ticket: Hashable, Sendable {
        let number: Int
    }

    /// The answer to `admit(_:now:)`.
    enum Admission: Equatable, Sendable {
        /// master.cf has no such transport: the recipients wait (4.3.0).
        case unavailable
        /// The destination was found unreachable recently: the recipients wait (4.4.1) without a try.
        case suspended(reason: String)
        /// Deliver now.
        case start(Ticket)
        /// Wait: a later `deliveryFinished` names the ticket among those that start.
        case wait(Ticket)
    }

    /// A destination found unreachable, left alone until `until`.
    struct Suspension: Equatable, Sendable {
        var route: DeliveryRoute
        var reason: String
        var until: Int
    }

    /// What follows a finished delivery.
    struct Completion: Equatable, Sendable {
        /// Waiting deliveries that now hold their places and start, first come first served.
        var start: [Ticket] = []
        /// The destination was found unreachable and was not suspended before (to log).
        var suspended: Suspension? = nil
    }

    /// Places in use and deliveries waiting for one, first come, first served.
    private struct Places {
        let limit: Int
        var inUse = 0
        var waiting: [Ticket] = []

        init(limit: Int) { self.limit = max(1, limit) }

        var isUnused: Bool { inUse == 0 && waiting.isEmpty }

        /// Takes a place, or queues for one.
        mutating func take(_ ticket: Ticket) -> Bool {
            if inUse < limit {
                inUse += 1
                return true
            }
            waiting.append(ticket)
            return false
        }

        /// Gives a place back: to the first waiting ticket, if any.
        mutating func give() -> Ticket? {
            if waiting.isEmpty {
                inUse -= 1
                return nil
            }
            return waiting.removeFirst()
        }
    }

    private var nextTicket = 0
    private var routes: [Ticket: DeliveryRoute] = [:]
    private var transportPlaces: [String: Places] = [:]
    private var destinationPlaces: [DeliveryRoute: Places] = [:]
    /// Destinations that could not be reached, with why and until when they are left alone.
    private var deadDestinations: [DeliveryRoute: (reason: String, until: Int)] = [:]

    /// Deliveries waiting for a place.
    var waitingCount: Int {
        let forTransports = transportPlaces.values.reduce(0) { $0 + $1.waiting.count }
        return forTransports + destinationPlaces.values.reduce(0) { $0 + $1.waiting.count }
    }

    /// Asks to deliver some of a message's recipients to `route`. A route with a next hop takes a place of its
    /// destination first, then one of its transport: deliveries waiting for one destination never queue up in
    /// front of the transport's places, where they would hold up every other destination.
    mutating func admit(_ route: DeliveryRoute, now: Int) -> Admission {
        guard let transportLimit = policy.transports.limits[route.transport] else { return .unavailable }
        if route.nextHop != nil, let reason = deadReason(route, now: now) { return .suspended(reason: reason) }
        let ticket = Ticket(number: nextTicket)
        nextTicket += 1
        routes[ticket] = route
        if route.nextHop != nil {
            let limit = policy.destinationLimit(transportLimit: transportLimit)
            guard destinationPlaces[route, default: Places(limit: limit)].take(ticket) else { return .wait(ticket) }
        }
        return takeTransportPlace(ticket, route: route) ? .start(ticket) : .wait(ticket)
    }

    /// A delivery admitted with `ticket` is over.
    /// - Parameter outcomes: the agent's per-recipient outcomes, or nil when it could not be asked (no
    ///   connection, no answer in time): that says nothing about the destination.
    mutating func deliveryFinished(
        _ ticket: Ticket,
        outcomes: [MessageDelivery.Outcome]?,
        now: Int
    ) -> Completion {
        guard let route = routes.removeValue(forKey: ticket) else {
            preconditionFailure("delivery \(ticket.number) finished twice, or was never started")
        }
        var completion = Completion()
        if let next = givePlace(ofTransport: route.transport) { completion.start.append(next) }
        guard route.nextHop != nil else { return completion }
        if let next = destinationPlaces[route]?.give() {
            // It holds its destination's place now, and queues for a place of the transport.
            if takeTransportPlace(next, route: route) { completion.start.append(next) }
        }
        if destinationPlaces[route]?.isUnused == true { destinationPlaces[route] = nil }
        if let outcomes { completion.suspended = record(route, outcomes: outcomes, now: now) }
        return completion
    }

    private mutating func takeTransportPlace(_ ticket: Ticket, route: DeliveryRoute) -> Bool {
        let limit = policy.transports.limits[route.transport] ?? 1
        return transportPlaces[route.transport, default: Places(limit: limit)].take(ticket)
    }

    private mutating func givePlace(ofTransport transport: String) -> Ticket? {
        let next = transportPlaces[transport]?.give()
        if transportPlaces[transport]?.isUnused == true { transportPlaces[transport] = nil }
        return next
    }

    /// Why a destination is not to be tried now, if it was found unreachable recently.
    private mutating func deadReason(_ route: DeliveryRoute, now: Int) -> String? {
        guard let dead = deadDestinations[route] else { return nil }
        if dead.until <= now {
            deadDestinations[route] = nil
            return nil
        }
        return dead.reason
    }

    /// Records the outcome of a delivery to a destination: unreachable (every recipient deferred with a
    /// network or routing status, 4.4.x) marks it dead for minimal_backoff_time, so the other messages for
    /// it wait instead of each trying again in the same minute; any other outcome revives it.
    /// - Returns: the suspension when the destination was not dead before.
    private mutating func record(_ route: DeliveryRoute, outcomes: [MessageDelivery.Outcome], now: Int) -> Suspension? {
        let isUnreachable = outcomes.allSatisfy { outcome in
            guard outcome.status == .deferred, let code = outcome.statusCode else { return false }
            return code.kind == .persistentTransientFailure && code.isNetworkOrRouting
        }
        guard isUnreachable, let reason = outcomes.first?.text else {
            deadDestinations[route] = nil
            return nil
        }
        let wasDead = deadDestinations[route] != nil
        let until = now + policy.schedule.minimalBackoff
        deadDestinations[route] = (reason, until)
        return wasDead ? nil : Suspension(route: route, reason: reason, until: until)
    }
}

extension DeliveryScheduler.Policy {
    /// What becomes of a message's recipients after an attempt.
    struct Disposition: Sendable {
        /// To return to the sender now: permanent failures, and temporary ones of a message too old to keep.
        var bounced: [MessageDelivery.Outcome]
        /// To try again later.
        var deferred: [MessageDelivery.Outcome]
        /// The temporary failures that expired, as the agents gave them (for the log).
        var expired: [MessageDelivery.Outcome]
    }

    /// Sorts an attempt's outcomes: a message older than its lifetime (maximal_queue_lifetime, or
    /// bounce_queue_lifetime for a bounce) has its temporary failures returned as permanent ones.
    func disposition(
        of outcomes: [MessageDelivery.Outcome],
        arrival: Double,
        isBounce: Bool,
        now: Int
    ) -> Disposition {
        var bounced = outcomes.filter { $0.status == .bounced }
        let deferred = outcomes.filter { $0.status == .deferred }
        guard !deferred.isEmpty, schedule.isExpired(arrival: arrival, now: now, isBounce: isBounce) else {
            return Disposition(bounced: bounced, deferred: deferred, expired: [])
        }
        let days = (isBounce ? schedule.bounceLifetime : schedule.maximalLifetime) / 86400
        bounced += deferred.map {
            var expired = $0
            expired.dsn = $0.expiredDSN
            expired.text = "message could not be delivered for \(days) days: \($0.text)"
            return expired
        }
        return Disposition(bounced: bounced, deferred: [], expired: deferred)
    }

    /// Whether to warn the sender now that the message is still waiting (delay_warning_time): once per
    /// message, remembered on disk (`alreadyWarned`) so that a restart does not warn again.
    func isDelayWarningDue(arrival: Double, now: Int, alreadyWarned: Bool) -> Bool {
        !alreadyWarned && delayWarning > 0 && Double(now) - arrival >= Double(delayWarning)
    }

    /// When to try a deferred message again (`RetrySchedule`).
    /// - Parameter jitter: a fraction in 0...1, random in production.
    func nextAttempt(arrival: Double, now: Int, jitter: Double) -> Int {
        schedule.nextAttempt(arrival: arrival, now: now, jitter: jitter)
    }

    /// When to try again a message whose queue file could not be read (it may be fine): after the minimal
    /// backoff, not at the next restart of qmgr.
    func retryAfterReadFailure(now: Int) -> Int { now + schedule.minimalBackoff }
}

extension MessageDelivery.Outcome {
    /// `dsn` parsed; nil when an agent sent something else (it is then logged and reported as given).
    var statusCode: EnhancedStatusCode? { EnhancedStatusCode(parsing: dsn) }

    /// The status of a temporary failure returned to the sender because the message expired: `4.4.1`
    /// becomes `5.4.1`; a status that does not parse becomes `5.0.0`, since a DSN needs one.
    var expiredDSN: String {
        if let code = statusCode { return code.withClass(.permanentFailure).description }
        return "5.0.0"
    }
}

/// One listing of a queue directory, handed out in order.
struct ScanPass {
    private var ids: [QueueID]
    private var next = 0

    init(_ ids: [QueueID] = []) { self.ids = ids }

    var isDone: Bool { next >= ids.count }

    mutating func take() -> QueueID? {
        guard next < ids.count else { return nil }
        defer { next += 1 }
        return ids[next]
    }
}
