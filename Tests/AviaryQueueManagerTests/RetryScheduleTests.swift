import AviaryConfig
import AviaryQueueManager
import Testing

@Suite("retry schedule")
struct RetryScheduleTests {
    static let schedule = RetrySchedule(minimalBackoff: 300, maximalBackoff: 4000, maximalLifetime: 5 * 86400, bounceLifetime: 86400)

    @Test(
        "the wait is the message's age clamped to [minimal, maximal] backoff",
        arguments: [
            (0.0, 1000, 2000),  // age 1000: waits its age
            (1000, 1000, 1300),  // age 0: minimal backoff
            (900, 1000, 1300),  // age 100: minimal backoff
            (700, 1000, 1300),  // age 300: exactly minimal
            (0, 4000, 8000),  // age 4000: exactly maximal
            (0, 100_000, 104_000),  // very old: maximal backoff
            (5000, 1000, 1300),  // arrival in the future: age counts as 0
            (0.9, 1000, 2000),  // fractional arrival: age 1000 (whole seconds)
        ] as [(Double, Int, Int)]
    )
    func clamping(arrival: Double, now: Int, expected: Int) {
        #expect(Self.schedule.nextAttempt(arrival: arrival, now: now, jitter: 0) == expected)
    }

    @Test("successive retries wait longer and longer until the maximum")
    func growth() {
        var now = 0
        var waits: [Int] = []
        for _ in 0..<12 {
            let next = Self.schedule.nextAttempt(arrival: 0, now: now, jitter: 0)
            waits.append(next - now)
            now = next
        }
        #expect(waits == waits.sorted())
        #expect(waits.prefix(4) == [300, 300, 600, 1200])
        #expect(waits.last == 4000)
        #expect(waits.allSatisfy { (300...4000).contains($0) })
    }

    @Test(
        "jitter adds at most 10 % to the wait and is clamped to 0...1",
        arguments: [(0.0, 1000), (0.5, 1050), (1.0, 1100), (-3.0, 1000), (7.0, 1100), (0.999, 1099)]
    )
    func jitter(jitter: Double, wait: Int) {
        #expect(Self.schedule.nextAttempt(arrival: 0, now: 1000, jitter: jitter) == 1000 + wait)
    }

    @Test("any jitter keeps the next attempt within [wait, wait * 1.1]")
    func jitterBounds() {
        for step in 0...100 {
            let jitter = Double(step) / 100
            for now in [10, 1000, 50_000] {
                let wait = min(max(now, 300), 4000)
                let next = Self.schedule.nextAttempt(arrival: 0, now: now, jitter: jitter)
                #expect(next >= now + wait)
                #expect(next <= now + wait + wait / 10)
            }
        }
    }

    @Test("the backoff limits are made sane: at least one second, maximal not below minimal")
    func initClamps() {
        let odd = RetrySchedule(minimalBackoff: 0, maximalBackoff: -5, maximalLifetime: 10, bounceLifetime: 5)
        #expect(odd.minimalBackoff == 1)
        #expect(odd.maximalBackoff == 1)
        let inverted = RetrySchedule(minimalBackoff: 600, maximalBackoff: 60, maximalLifetime: 10, bounceLifetime: 5)
        #expect(inverted.maximalBackoff == 600)
        #expect(inverted.nextAttempt(arrival: 0, now: 100_000, jitter: 0) == 100_600)
    }

    @Test(
        "mail expires at maximal_queue_lifetime, bounces at bounce_queue_lifetime",
        arguments: [
            (5 * 86400 - 1, false, false),
            (5 * 86400, false, true),
            (5 * 86400 + 1, false, true),
            (86400 - 1, true, false),
            (86400, true, true),
            (2 * 86400, false, false),
            (2 * 86400, true, true),
            (0, true, false),
        ]
    )
    func expiry(age: Int, isBounce: Bool, expired: Bool) {
        let arrival = 1_700_000_000.0
        #expect(Self.schedule.isExpired(arrival: arrival, now: 1_700_000_000 + age, isBounce: isBounce) == expired)
    }

    @Test("a fraction of a second before the lifetime is not yet expired")
    func fractionalArrival() {
        #expect(!Self.schedule.isExpired(arrival: 100.5, now: 100 + 86400, isBounce: true))
        #expect(Self.schedule.isExpired(arrival: 100.5, now: 101 + 86400, isBounce: true))
    }
}

@Suite("transport table")
struct TransportTableTests {
    static let master = """
        # service type private unpriv chroot wakeup maxproc command
        smtp      inet  n       -       n       -       -       smtpd
        127.0.0.1:2525 inet n   -       n       -       1       smtpd
        pickup    unix  n       -       n       60      1       pickup
        qmgr      unix  n       -       n       300     1       qmgr
        showq     unix  n       -       n       -       -       showq
        local     unix  -       n       n       -       -       local
        smtp      unix  -       -       n       -       3       smtp
        relay     unix  -       -       n       -       0       smtp
        slow      unix  -       -       n       -       1       smtp
        myqmgr    unix  n       -       n       -       5       qmgr
        """

    func table(main: String) throws -> TransportTable {
        let master = try MasterConfig.parse(Self.master, path: "/test/master.cf")
        let config = try MainConfig.parse(main, directory: "/test")
        return TransportTable(master: master, config: config)
    }

    @Test("every unix delivery service is a transport; qmgr, pickup, showq and inet services are not")
    func transports() throws {
        let transports = try table(main: "default_process_limit = 7\n")
        #expect(transports.limits == ["local": 7, "smtp": 3, "relay": 7, "slow": 1])
    }

    @Test("maxproc - takes default_process_limit, its default being 10")
    func defaultLimit() throws {
        #expect(try table(main: "").limits["local"] == 10)
        #expect(try table(main: "").limits["relay"] == 10)
    }

    @Test("a limit of 0 still allows one process")
    func zeroLimit() throws {
        #expect(try table(main: "default_process_limit = 0\n").limits["local"] == 1)
    }
}
