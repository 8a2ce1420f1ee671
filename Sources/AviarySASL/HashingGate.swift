import Synchronization

/// Lets at most `width` password hashes run at once in this process; the others wait their turn, in order.
///
/// A yescrypt check holds 16-32 MB of working memory for its 25 ms. pop3d and imapd hash on a pool of eight
/// threads, so a burst of logins could make one process hold eight such regions at once (a pop3d under the
/// POP3 benchmark peaked at 94 MB PSS); master runs one such process per core, and one hash at a time per
/// process keeps every core busy all the same. Memory per process stays at one region, whatever clients send.
public final class HashingGate: Sendable {
    /// The gate password checks share in this process.
    public static let shared = HashingGate(width: 1)

    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
        var nextWaiter = 0
    }

    public let width: Int
    private let state = Mutex(State())

    public init(width: Int) {
        precondition(width >= 1, "a gate lets at least one through")
        self.width = width
    }

    /// Runs `body` once fewer than `width` others run.
    public func run<T: Sendable>(_ body: () async -> T) async -> T {
        await enter()
        let result = await body()
        leave()
        return result
    }

    private func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isAdmitted = state.withLock { state -> Bool in
                guard state.running < width else {
                    state.waiting.append(continuation)
                    return false
                }
                state.running += 1
                return true
            }
            if isAdmitted { continuation.resume() }
        }
    }

    /// Hands the place to the longest waiter, or frees it.
    private func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.nextWaiter < state.waiting.count else {
                state.running -= 1
                state.waiting.removeAll()
                state.nextWaiter = 0
                return nil
            }
            let next = state.waiting[state.nextWaiter]
            state.nextWaiter += 1
            if state.nextWaiter > 64, state.nextWaiter * 2 > state.waiting.count {
                state.waiting.removeFirst(state.nextWaiter)
                state.nextWaiter = 0
            }
            return next
        }
        next?.resume()
    }

    /// Hashes running now (for tests).
    var running: Int { state.withLock { $0.running } }
}
