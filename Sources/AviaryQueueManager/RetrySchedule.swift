/// When to try a deferred message again, and when to give up: pure arithmetic on times passed in,
/// so it is tested without clocks.
///
/// As in Postfix (`qmgr_active.c`), the wait is the message's age clamped to
/// [`minimal_backoff_time`, `maximal_backoff_time`]: each retry roughly doubles the age, so the waits
/// grow exponentially until the maximum. A little jitter (up to 10 %) spreads retries of messages that
/// failed together, so a destination that recovers is not flooded.
public struct RetrySchedule: Sendable, Equatable {
    public var minimalBackoff: Int
    public var maximalBackoff: Int
    public var maximalLifetime: Int
    public var bounceLifetime: Int

    public init(minimalBackoff: Int, maximalBackoff: Int, maximalLifetime: Int, bounceLifetime: Int) {
        self.minimalBackoff = max(1, minimalBackoff)
        self.maximalBackoff = max(self.minimalBackoff, maximalBackoff)
        self.maximalLifetime = maximalLifetime
        self.bounceLifetime = bounceLifetime
    }

    /// The time of the next attempt, in seconds since 1970.
    /// - Parameter jitter: a fraction in 0...1 (random in production) scaling up to 10 % extra wait.
    public func nextAttempt(arrival: Double, now: Int, jitter: Double) -> Int {
        let age = max(0, now - Int(arrival))
        let wait = min(max(age, minimalBackoff), maximalBackoff)
        return now + wait + Int(Double(wait) * 0.1 * min(max(jitter, 0), 1))
    }

    /// Whether a message that arrived at `arrival` is too old to keep trying.
    public func isExpired(arrival: Double, now: Int, isBounce: Bool) -> Bool {
        Double(now) - arrival >= Double(isBounce ? bounceLifetime : maximalLifetime)
    }
}
