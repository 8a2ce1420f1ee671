#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Remembers answers from the account database (getpwnam, getgrouplist) for a while.
///
/// One delivery asked NSS for the same user five times across smtpd, qmgr and local, and each question
/// costs dozens of system calls where nsswitch.conf lists `systemd` (Debian's default: libnss_systemd opens
/// and walks /run/systemd/userdb/ every time). An answer, found or not, is kept until the files it may come
/// from change (`watched`, compared by inode, size and modification time: useradd, userdel and passwd all
/// replace /etc/passwd or /etc/group) or `lifetime` seconds pass (for accounts from other sources: LDAP,
/// systemd-homed). The files are looked at no more than once per `recheckInterval` (a tenth of a second): a
/// delivery asked four times for the same account, each look a path walk; a change shows that much later.
/// At most `capacity` answers are kept.
public final class AccountCache<Value: Sendable>: Sendable {
    private struct Signature: Equatable {
        var inode: ino_t
        var size: off_t
        var seconds: Int
        var nanoseconds: Int
    }
    private struct State {
        var answers: [String: (value: Value, at: Double)] = [:]
        var signatures: [Signature?] = []
        /// When `signatures` were last taken from the files.
        var checkedAt = -Double.infinity
    }

    public let watched: [String]
    public let lifetime: Double
    public let capacity: Int
    public let recheckInterval: Double
    private let clock: @Sendable () -> Double
    private let state = Mutex(State())

    public init(
        watching watched: [String], lifetime: Double = 60, capacity: Int = 4096, recheckInterval: Double = 0.1,
        clock: @escaping @Sendable () -> Double = MonotonicClock.seconds
    ) {
        self.watched = watched
        self.lifetime = lifetime
        self.capacity = capacity
        self.recheckInterval = recheckInterval
        self.clock = clock
    }

    /// The remembered answer for `key`, or `fetch`'s (remembered for next time if `keep` says so: a failure
    /// that may pass should be asked again). `fetch` runs outside the lock.
    public func value(for key: String, fetch: () -> Value, keep: (Value) -> Bool = { _ in true }) -> Value {
        let now = clock()
        let isDue = state.withLock { now - $0.checkedAt >= recheckInterval }
        let signatures = isDue ? watched.map(Self.signature) : state.withLock { $0.signatures }
        let cached = state.withLock { state -> Value? in
            if isDue { state.checkedAt = now }
            if state.signatures != signatures {
                state.answers = [:]
                state.signatures = signatures
            }
            guard let answer = state.answers[key], now - answer.at < lifetime else { return nil }
            return answer.value
        }
        if let cached { return cached }
        let value = fetch()
        guard keep(value) else { return value }
        state.withLock { state in
            guard state.signatures == signatures else { return }  // the files changed meanwhile: do not keep it
            if state.answers.count >= capacity { state.answers = [:] }
            state.answers[key] = (value, now)
        }
        return value
    }

    private static func signature(_ path: String) -> Signature? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Signature(
            inode: info.st_ino, size: info.st_size, seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
    }
}
