/// How long master waits before restarting a service's failed process, so that a crash loop does not spin.
///
/// The first failure waits `initialDelay`; each further consecutive failure of the same service doubles the
/// wait, up to `maximumDelay` (`service_throttle_time`). A process that lived longer than ten times the
/// current wait ends the streak: it worked for a while, so its failure counts as a first one again.
/// A process that exits with status 0 (it retired) is replaced at once and does not extend the streak.
///
/// Pure value: the caller measures lifetimes with its own clock, so tests need no sleeping.
public struct RestartThrottle: Sendable, Equatable {
    /// The wait after a first failure.
    public let initialDelay: Duration
    /// The longest wait.
    public let maximumDelay: Duration
    /// The wait given to the last failure of the current streak; nil when there is no streak.
    public private(set) var currentDelay: Duration?

    /// - Parameters:
    ///   - initialDelay: the wait after a first failure.
    ///   - maximumDelay: the longest wait; raised to `initialDelay` if smaller, so a restart never spins.
    public init(initialDelay: Duration = .seconds(1), maximumDelay: Duration) {
        self.initialDelay = initialDelay
        self.maximumDelay = max(maximumDelay, initialDelay)
    }

    /// Records a failed process and returns how long to wait before starting its replacement.
    /// - Parameter lifetime: how long the process ran.
    public mutating func failed(after lifetime: Duration) -> Duration {
        let delay: Duration
        if let current = currentDelay, lifetime <= current * 10 {
            delay = min(current * 2, maximumDelay)
        } else {
            delay = initialDelay
        }
        currentDelay = delay
        return delay
    }

    /// Records a process that exited normally; its replacement starts at once.
    /// - Parameter lifetime: how long the process ran.
    public mutating func succeeded(after lifetime: Duration) {
        if let current = currentDelay, lifetime > current * 10 { currentDelay = nil }
    }

    /// Forgets the streak (the service's configuration changed).
    public mutating func reset() { currentDelay = nil }
}
