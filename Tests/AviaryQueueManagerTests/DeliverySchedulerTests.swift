import AviaryIPC
import AviaryQueue
import AviaryUsers
import Testing

@testable import AviaryQueueManager

/// qmgr's scheduling decisions without processes, files or clocks: the time is a number the tests choose.
@Suite("delivery scheduler")
struct DeliverySchedulerTests {
    static let start = 1_700_000_000
    static let schedule = RetrySchedule(
        minimalBackoff: 300,
        maximalBackoff: 4000,
        maximalLifetime: 5 * 86400,
        bounceLifetime: 86400
    )

    static func policy(
        activeLimit: Int = 100,
        destinationLimit: Int = 20,
        transports: [String: Int] = ["smtp": 4, "local": 2],
        delayWarning: Int = 0
    ) -> DeliveryScheduler.Policy {
        DeliveryScheduler.Policy(
            activeLimit: activeLimit,
            queueRunDelay: 300,
            destinationLimit: destinationLimit,
            transports: TransportTable(limits: transports),
            schedule: schedule,
            delayWarning: delayWarning
        )
    }

    static func smtp(_ nextHop: String) -> DeliveryRoute { DeliveryRoute(transport: "smtp", nextHop: nextHop) }

    static func outcome(
        _ status: DeliveryResult.Status,
        _ dsn: String,
        _ text: String = "text"
    ) -> MessageDelivery.Outcome {
        MessageDelivery.Outcome(index: 0, address: "user@example.test", status: status, dsn: dsn, text: text)
    }

    static func ids(_ count: Int) -> [QueueID] { (0..<count).map { _ in QueueID.make() } }

    /// Runs the driver's fill loop against fixed listings; returns the claims in order.
    static func fill(
        _ scheduler: inout DeliveryScheduler,
        now: Int,
        incoming: [QueueID] = [],
        deferred: [QueueID] = [],
        nextAttempt: [QueueID: Int] = [:]
    ) -> [(QueueID, QueueName)] {
        var claims: [(QueueID, QueueName)] = []
        for _ in 0..<10_000 {
            switch scheduler.nextStep(now: now) {
            case .list(let queue):
                scheduler.listed(queue == .incoming ? incoming : deferred, in: queue) { nextAttempt[$0] }
            case .claim(let id, let queue):
                claims.append((id, queue))
            case .idle:
                return claims
            }
        }
        Issue.record("the fill loop did not end")
        return claims
    }

    /// Admits `count` deliveries to `route`; returns the tickets that started and those that wait.
    static func admit(
        _ count: Int,
        to route: DeliveryRoute,
        in scheduler: inout DeliveryScheduler,
        now: Int = DeliverySchedulerTests.start
    ) -> (started: [DeliveryScheduler.Ticket], waiting: [DeliveryScheduler.Ticket]) {
        var started: [DeliveryScheduler.Ticket] = []
        var waiting: [DeliveryScheduler.Ticket] = []
        for _ in 0..<count {
            switch scheduler.admit(route, now: now) {
            case .start(let ticket): started.append(ticket)
            case .wait(let ticket): waiting.append(ticket)
            case let other: Issue.record("unexpected admission \(other)")
            }
        }
        return (started, waiting)
    }

    // MARK: Back-off

    @Test("a message deferred again and again waits exponentially longer, never beyond maximal_backoff_time")
    func backoff() {
        let policy = Self.policy()
        let arrival = Double(Self.start)
        var now = Self.start
        var waits: [Int] = []
        for _ in 0..<12 {
            let next = policy.nextAttempt(arrival: arrival, now: now, jitter: 0)
            waits.append(next - now)
            now = next
        }
        #expect(waits.prefix(6) == [300, 300, 600, 1200, 2400, 4000])
        #expect(waits.dropFirst(5).allSatisfy { $0 == 4000 })
        // With the largest jitter the wait stays within 10 % above the maximum.
        #expect(
            policy.nextAttempt(arrival: arrival, now: Self.start + 100_000, jitter: 1) == Self.start + 100_000 + 4400
        )
    }

    @Test("announced messages are claimed in order without a listing of incoming; other wake-ups still list it")
    func announcedMessages() {
        var scheduler = DeliveryScheduler(policy: Self.policy(activeLimit: 3))
        let listedEarlier = Self.ids(1)
        scheduler.wake(.scan, now: Self.start)
        #expect(Self.fill(&scheduler, now: Self.start, incoming: listedEarlier).map(\.0) == listedEarlier)

        let named = Self.ids(4)
        scheduler.announce(named)
        scheduler.wake(.announced, now: Self.start, listsIncoming: false)
        // A listing now would hold something else: it must not be asked for.
        var claims = Self.fill(&scheduler, now: Self.start, incoming: Self.ids(5))
        #expect(claims.map(\.0) == Array(named.prefix(2)))  // the active limit is 3
        #expect(claims.allSatisfy { $0.1 == .incoming })

        // Room again: the rest of the announced ones, then nothing (no listing was asked for).
        #expect(scheduler.finished(listedEarlier[0]) == true)
        #expect(scheduler.finished(named[0]) == false)  // the active queue was no longer full
        scheduler.wake(.scan, now: Self.start, listsIncoming: false)
        claims = Self.fill(&scheduler, now: Self.start, incoming: [named[1]])
        #expect(claims.map(\.0) == Array(named.suffix(2)))

        // A wake-up that asks for a listing gets one; a message both announced and listed is claimed once.
        #expect(scheduler.finished(named[1]) == false)
        let dropped = Self.ids(1)
        scheduler.wake(.incoming, now: Self.start)
        claims = Self.fill(&scheduler, now: Self.start, incoming: [named[2], dropped[0]])
        #expect(claims.map(\.0) == dropped)
    }

    @Test("more announced messages than the scheduler remembers are found by a listing instead")
    func announcedBeyondTheLimit() {
        var scheduler = DeliveryScheduler(policy: Self.policy(activeLimit: 1))
        let first = Self.ids(DeliveryScheduler.announcedLimit)
        scheduler.announce(first)
        let beyond = Self.ids(1)
        scheduler.announce(beyond)
        scheduler.wake(.announced, now: Self.start, listsIncoming: false)
        // The overflow asked for a listing (which holds `beyond`); announced messages still go first.
        var claimed = Self.fill(&scheduler, now: Self.start, incoming: beyond).map(\.0)
        #expect(claimed == [first[0]])
        while let last = claimed.last, claimed.count <= DeliveryScheduler.announcedLimit {
            _ = scheduler.finished(last)
            let more = Self.fill(&scheduler, now: Self.start, incoming: beyond).map(\.0)
            if more.isEmpty { break }
            claimed += more
        }
        #expect(claimed.count == DeliveryScheduler.announcedLimit + 1)
        #expect(claimed.last == beyond[0])
    }

    @Test("a deferred message is claimed only when its next attempt is due; a flush takes it at once")
    func deferredIsClaimedWhenDue() {
        var scheduler = DeliveryScheduler(policy: Self.policy())
        let ids = Self.ids(2)
        let (early, late) = (ids[0], ids[1])
        let attempts = [early: Self.start + 300, late: Self.start + 4000]

        scheduler.wake(.scan, now: Self.start)
        #expect(Self.fill(&scheduler, now: Self.start, deferred: ids, nextAttempt: attempts).isEmpty)

        // Before queue_run_delay has passed the deferred queue is not looked at again.
        scheduler.wake(.scan, now: Self.start + 299)
        #expect(Self.fill(&scheduler, now: Self.start + 299, deferred: ids, nextAttempt: attempts).isEmpty)

        scheduler.wake(.scan, now: Self.start + 300)
        let due = Self.fill(&scheduler, now: Self.start + 300, deferred: ids, nextAttempt: attempts)
        #expect(due.map(\.0) == [early])
        #expect(due.map(\.1) == [.deferred])

        scheduler.requestFlush()
        scheduler.wake(.scan, now: Self.start + 301)
        let flushed = Self.fill(&scheduler, now: Self.start + 301, deferred: ids, nextAttempt: attempts)
        #expect(flushed.map(\.0) == [late])  // `early` is still out: claimed once
    }

    // MARK: Dead destinations

    @Test("an unreachable destination is suspended for minimal_backoff_time, then tried again")
    func deadDestination() {
        var scheduler = DeliveryScheduler(policy: Self.policy())
        let down = Self.smtp("down.test")
        guard case .start(let ticket) = scheduler.admit(down, now: Self.start) else {
            Issue.record("the first delivery did not start")
            return
        }
        let completion = scheduler.deliveryFinished(
            ticket,
            outcomes: [Self.outcome(.deferred, "4.4.1", "connect to down.test: refused")],
            now: Self.start + 10
        )
        #expect(
            completion.suspended
                == .init(route: down, reason: "connect to down.test: refused", until: Self.start + 10 + 300)
        )

        let soon = scheduler.admit(down, now: Self.start + 11)
        #expect(soon == .suspended(reason: "connect to down.test: refused"))
        let later = scheduler.admit(down, now: Self.start + 309)
        #expect(later == .suspended(reason: "connect to down.test: refused"))
        // Other destinations, and transports without next hop, are not affected.
        let other = scheduler.admit(Self.smtp("up.test"), now: Self.start + 11)
        #expect(other == .start(.init(number: 1)))
        let local = scheduler.admit(DeliveryRoute(transport: "local", nextHop: nil), now: Self.start + 11)
        #expect(local == .start(.init(number: 2)))

        guard case .start(let retry) = scheduler.admit(down, now: Self.start + 310) else {
            Issue.record("the destination was not tried again after minimal_backoff_time")
            return
        }
        // Still unreachable: suspended again, but reported as a new suspension only once it had lapsed.
        let again = scheduler.deliveryFinished(
            retry,
            outcomes: [Self.outcome(.deferred, "4.4.2")],
            now: Self.start + 320
        )
        #expect(again.suspended?.until == Self.start + 620)
    }

    @Test(
        "only a delivery whose recipients all failed with 4.4.x marks the destination dead",
        arguments: [
            ([("deferred", "4.4.1"), ("deferred", "4.4.7")], true),
            ([("deferred", "4.4.1"), ("deferred", "4.2.2")], false),
            ([("deferred", "4.7.5")], false),
            ([("bounced", "5.4.4")], false),
            ([("sent", "2.0.0")], false),
            ([("deferred", "4.4.1"), ("sent", "2.0.0")], false),
        ] as [([(String, String)], Bool)]
    )
    func whatIsUnreachable(outcomes: [(String, String)], isDead: Bool) {
        var scheduler = DeliveryScheduler(policy: Self.policy())
        let route = Self.smtp("example.test")
        guard case .start(let ticket) = scheduler.admit(route, now: Self.start) else {
            Issue.record("the delivery did not start")
            return
        }
        let given = outcomes.map { Self.outcome(DeliveryResult.Status(rawValue: $0.0)!, $0.1) }
        let completion = scheduler.deliveryFinished(ticket, outcomes: given, now: Self.start)
        #expect((completion.suspended != nil) == isDead)
        let next = scheduler.admit(route, now: Self.start + 1)
        #expect((next != .start(.init(number: 1))) == isDead)
    }

    @Test("a delivery that reaches the destination revives it; one that reached no agent changes nothing")
    func revival() {
        var scheduler = DeliveryScheduler(policy: Self.policy(transports: ["smtp": 8]))
        let route = Self.smtp("flaky.test")
        let (started, _) = Self.admit(3, to: route, in: &scheduler)
        _ = scheduler.deliveryFinished(started[0], outcomes: [Self.outcome(.deferred, "4.4.1")], now: Self.start)
        let afterFailure = scheduler.admit(route, now: Self.start + 1)
        #expect(afterFailure == .suspended(reason: "text"))
        _ = scheduler.deliveryFinished(started[1], outcomes: nil, now: Self.start + 2)
        let afterNoAnswer = scheduler.admit(route, now: Self.start + 3)
        #expect(afterNoAnswer == .suspended(reason: "text"))
        _ = scheduler.deliveryFinished(started[2], outcomes: [Self.outcome(.sent, "2.0.0")], now: Self.start + 4)
        let afterSuccess = scheduler.admit(route, now: Self.start + 5)
        #expect(afterSuccess == .start(.init(number: 3)))
    }

    @Test("a flush gives dead destinations another chance at once")
    func flushRevives() {
        var scheduler = DeliveryScheduler(policy: Self.policy())
        let route = Self.smtp("down.test")
        guard case .start(let ticket) = scheduler.admit(route, now: Self.start) else { return }
        _ = scheduler.deliveryFinished(ticket, outcomes: [Self.outcome(.deferred, "4.4.1")], now: Self.start)
        scheduler.wake(.scan, now: Self.start + 1)
        let beforeFlush = scheduler.admit(route, now: Self.start + 1)
        #expect(beforeFlush == .suspended(reason: "text"))
        scheduler.wake(.flush, now: Self.start + 2)
        let afterFlush = scheduler.admit(route, now: Self.start + 2)
        #expect(afterFlush == .start(.init(number: 1)))
    }

    @Test("a transport missing from master.cf is unavailable")
    func unavailable() {
        var scheduler = DeliveryScheduler(policy: Self.policy())
        let admission = scheduler.admit(DeliveryRoute(transport: "relay", nextHop: "example.test"), now: Self.start)
        #expect(admission == .unavailable)
    }

    // MARK: Concurrency

    @Test(
        "a destination gets at most half the transport's processes and at most the destination limit",
        arguments: [(4, 20, 2), (10, 20, 5), (10, 3, 3), (1, 20, 1), (3, 20, 1), (40, 20, 20)]
    )
    func destinationLimit(processes: Int, destinationLimit: Int, expected: Int) {
        var scheduler = DeliveryScheduler(
            policy: Self.policy(destinationLimit: destinationLimit, transports: ["smtp": processes])
        )
        let (started, waiting) = Self.admit(50, to: Self.smtp("busy.test"), in: &scheduler)
        #expect(started.count == expected)
        #expect(waiting.count == 50 - expected)
    }

    @Test("a finished delivery hands its place to the first one waiting for the same destination")
    func handOff() {
        var scheduler = DeliveryScheduler(policy: Self.policy())
        let route = Self.smtp("busy.test")
        var (running, waiting) = Self.admit(6, to: route, in: &scheduler)
        var order: [DeliveryScheduler.Ticket] = running
        while let ticket = running.first {
            running.removeFirst()
            let completion = scheduler.deliveryFinished(
                ticket,
                outcomes: [Self.outcome(.sent, "2.0.0")],
                now: Self.start
            )
            #expect(completion.start.count == (waiting.isEmpty ? 0 : 1))
            #expect(completion.start == Array(waiting.prefix(1)))
            running += completion.start
            order += completion.start
            waiting = Array(waiting.dropFirst(completion.start.count))
            #expect(running.count <= 2)
        }
        #expect(order.map(\.number) == Array(0..<6))
        #expect(scheduler.waitingCount == 0)
    }

    @Test("deliveries without a next hop share only the transport's processes")
    func transportLimit() {
        var scheduler = DeliveryScheduler(policy: Self.policy())
        let local = DeliveryRoute(transport: "local", nextHop: nil)
        let (started, waiting) = Self.admit(5, to: local, in: &scheduler)
        #expect(started.count == 2)
        #expect(waiting.count == 3)
        let completion = scheduler.deliveryFinished(started[0], outcomes: nil, now: Self.start)
        #expect(completion.start == [waiting[0]])
    }

    // MARK: Fairness

    @Test("a destination with 1,000 messages waiting does not hold up one with a single message")
    func fairness() {
        var scheduler = DeliveryScheduler(policy: Self.policy(transports: ["smtp": 4]))
        let busy = Self.smtp("busy.test")
        let quiet = Self.smtp("quiet.test")
        var (running, waiting) = Self.admit(1000, to: busy, in: &scheduler)
        #expect(running.count == 2)
        guard case .start(let single) = scheduler.admit(quiet, now: Self.start) else {
            Issue.record("the single message waited behind the backlog")
            return
        }
        // The backlog keeps going as before, two at a time, while the other destination finishes.
        _ = scheduler.deliveryFinished(single, outcomes: [Self.outcome(.sent, "2.0.0")], now: Self.start)
        var finished = 0
        while let ticket = running.first, finished < 1000 {
            running.removeFirst()
            let completion = scheduler.deliveryFinished(
                ticket,
                outcomes: [Self.outcome(.sent, "2.0.0")],
                now: Self.start
            )
            running += completion.start
            waiting.removeFirst(completion.start.count)
            finished += 1
            #expect(running.count <= 2)
        }
        #expect(finished == 1000)
        #expect(waiting.isEmpty)
    }

    @Test("incoming and deferred take turns in the active queue, and it never holds more than its limit")
    func activeQueueTurns() {
        var scheduler = DeliveryScheduler(policy: Self.policy(activeLimit: 6))
        let incoming = Self.ids(10)
        let deferred = Self.ids(2)
        scheduler.wake(.scan, now: Self.start)
        let claims = Self.fill(&scheduler, now: Self.start, incoming: incoming, deferred: deferred)
        #expect(claims.map(\.1) == [.incoming, .deferred, .incoming, .deferred, .incoming, .incoming])
        #expect(scheduler.inProgress.count == 6)

        // A finished message makes room; the active queue was full and more waits: wake up now.
        let wakesAfterFirst = scheduler.finished(claims[0].0)
        #expect(wakesAfterFirst)
        scheduler.wake(.scan, now: Self.start + 1)
        let next = Self.fill(&scheduler, now: Self.start + 1, incoming: incoming, deferred: deferred)
        #expect(next.map(\.0) == [incoming[4]])
        let wakesAfterSecond = scheduler.finished(claims[1].0)
        #expect(wakesAfterSecond)
        // Not full before: no need for a wake-up of its own.
        let wakesAfterThird = scheduler.finished(claims[2].0)
        #expect(!wakesAfterThird)
    }

    // MARK: Per-message decisions

    @Test("the sender is warned once, after delay_warning_time")
    func delayWarning() {
        let policy = Self.policy(delayWarning: 4 * 3600)
        let arrival = Double(Self.start)
        #expect(!policy.isDelayWarningDue(arrival: arrival, now: Self.start + 4 * 3600 - 1, alreadyWarned: false))
        #expect(policy.isDelayWarningDue(arrival: arrival, now: Self.start + 4 * 3600, alreadyWarned: false))
        #expect(!policy.isDelayWarningDue(arrival: arrival, now: Self.start + 4 * 3600, alreadyWarned: true))
        #expect(!policy.isDelayWarningDue(arrival: arrival, now: Self.start + 5 * 86400, alreadyWarned: true))
        #expect(
            !Self.policy(delayWarning: 0).isDelayWarningDue(
                arrival: arrival,
                now: Self.start + 86400,
                alreadyWarned: false
            )
        )
    }

    @Test("temporary failures of a message past its lifetime are returned as permanent ones")
    func expiry() {
        let policy = Self.policy()
        let outcomes = [
            Self.outcome(.deferred, "4.4.1", "connection refused"), Self.outcome(.bounced, "5.1.1", "unknown user"),
            Self.outcome(.sent, "2.0.0"),
        ]
        let young = policy.disposition(
            of: outcomes,
            arrival: Double(Self.start),
            isBounce: false,
            now: Self.start + 86400
        )
        #expect(young.deferred.map(\.dsn) == ["4.4.1"])
        #expect(young.bounced.map(\.dsn) == ["5.1.1"])
        #expect(young.expired.isEmpty)

        let old = policy.disposition(
            of: outcomes,
            arrival: Double(Self.start),
            isBounce: false,
            now: Self.start + 5 * 86400
        )
        #expect(old.deferred.isEmpty)
        #expect(old.bounced.map(\.dsn) == ["5.1.1", "5.4.1"])
        #expect(old.bounced.last?.text == "message could not be delivered for 5 days: connection refused")
        #expect(old.expired.map(\.dsn) == ["4.4.1"])

        // A status that an agent garbled is still returned with a permanent one, which a DSN needs.
        let garbled = policy.disposition(
            of: [Self.outcome(.deferred, "4.4")],
            arrival: Double(Self.start),
            isBounce: false,
            now: Self.start + 5 * 86400
        )
        #expect(garbled.bounced.map(\.dsn) == ["5.0.0"])

        let bounce = policy.disposition(
            of: outcomes,
            arrival: Double(Self.start),
            isBounce: true,
            now: Self.start + 86400
        )
        #expect(bounce.bounced.last?.text == "message could not be delivered for 1 days: connection refused")
    }
}
