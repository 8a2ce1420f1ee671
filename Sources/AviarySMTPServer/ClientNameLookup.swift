import AviaryDNS
import NIOCore
import NIOPosix
import Synchronization

/// The host name smtpd gives a client: its forward-confirmed PTR name (`DNSResolver.confirmedHostName`), or
/// `unknown` as Postfix says when there is none, when a lookup fails, or when it takes longer than
/// `timeLimit`. Access rules keyed on host names see only this name, so a PTR record alone proves nothing.
///
/// A client's reverse zone is the client's to control: it can be made silent. So the lookups run on threads
/// of their own (never on the pool that fsyncs queue files, where eight silent zones would hold up every
/// session's 250), each query waits `queryTimeout` once, and the session goes on as `unknown` at
/// `timeLimit` whether or not the lookup has finished. A lookup still waiting for a thread by then is skipped,
/// so a burst of such clients costs at most `threads` blocked threads, not a growing backlog.
final class ClientNameLookup: Sendable {
    static let threads = 8
    static let queryTimeoutSeconds = 3
    static let timeLimit = TimeAmount.seconds(8)

    let resolver: DNSResolver
    let pool: NIOThreadPool
    let timeLimit: TimeAmount

    init(resolver: DNSResolver, timeLimit: TimeAmount = ClientNameLookup.timeLimit) {
        var resolver = resolver
        resolver.timeoutSeconds = Self.queryTimeoutSeconds
        resolver.attempts = 1
        self.resolver = resolver
        self.timeLimit = timeLimit
        pool = NIOThreadPool(numberOfThreads: Self.threads)
        pool.start()
    }

    deinit { pool.shutdownGracefully { _ in } }

    /// Loopback clients are `localhost` without asking anyone.
    static func isLoopback(_ address: String) -> Bool {
        address == "::1" || address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }

    func name(of address: String, on eventLoop: any EventLoop) async -> String {
        let answer = Answer()
        let resolver = resolver
        return await withCheckedContinuation { continuation in
            answer.wait(continuation)
            let deadline = eventLoop.scheduleTask(in: timeLimit) { answer.give("unknown") }
            pool.submit { state in
                guard state == .active, !answer.isGiven else { return }
                answer.give(resolver.confirmedHostName(of: address) ?? "unknown")
                deadline.cancel()
            }
        }
    }

    /// The first of the lookup and the deadline to answer resumes the session; the other is ignored.
    private final class Answer: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<String, Never>?, given: Bool)>((nil, false))

        var isGiven: Bool { state.withLock { $0.given } }

        func wait(_ continuation: CheckedContinuation<String, Never>) {
            state.withLock { $0.continuation = continuation }
        }

        func give(_ name: String) {
            let continuation = state.withLock { state -> CheckedContinuation<String, Never>? in
                guard !state.given else { return nil }
                state.given = true
                return state.continuation
            }
            continuation?.resume(returning: name)
        }
    }
}
