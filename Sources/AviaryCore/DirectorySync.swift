#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// fsync of a directory shared by the threads that need it at the same time (a group commit).
///
/// A directory fsync makes durable every entry the directory has when the call starts. So a thread that
/// renamed a file into the directory may count on any fsync of it that starts after its rename: while one
/// runs, the threads that arrive wait for the next one, which then serves all of them. Ten smtpd sessions
/// committing at once cost one or two fsyncs of incoming/ instead of ten.
///
/// A failed round fails the threads it served (each may answer 451); the next round starts afresh.
public final class DirectorySync: @unchecked Sendable {
    /// One per process: every queue writer of a process shares its rounds.
    public static let shared = DirectorySync()

    private struct Round {
        /// Tickets below this are durable.
        var completed = 0
        /// Tickets up to this were served by a round that failed, with its error.
        var failure: (upTo: Int, error: SystemError)?
        var isRunning = false
    }
    // Guarded by `mutex` (pthread: a waiter needs a condition variable, which Synchronization's Mutex has not).
    private var nextTicket = 0
    private var rounds: [String: Round] = [:]
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let syncDirectory: @Sendable (String) throws(SystemError) -> Void

    /// - Parameter syncDirectory: the fsync itself (tests count and fail it).
    public init(syncDirectory: @escaping @Sendable (String) throws(SystemError) -> Void = { path throws(SystemError) in
        try SafeFile.syncDirectory(path)
    }) {
        self.syncDirectory = syncDirectory
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Returns once an fsync of `path` that started after this call has succeeded. Blocking.
    public func sync(_ path: String) throws(SystemError) {
        pthread_mutex_lock(mutex)
        let ticket = nextTicket
        nextTicket += 1
        while true {
            var round = rounds[path] ?? Round()
            if round.completed > ticket {
                pthread_mutex_unlock(mutex)
                return
            }
            if let failure = round.failure, failure.upTo >= ticket {
                pthread_mutex_unlock(mutex)
                throw failure.error
            }
            if round.isRunning {
                pthread_cond_wait(condition, mutex)
                continue
            }
            // Lead a round: it serves every ticket taken so far (their renames came before their tickets).
            let covers = nextTicket - 1
            round.isRunning = true
            rounds[path] = round
            pthread_mutex_unlock(mutex)
            var failure: SystemError?
            do throws(SystemError) {
                try syncDirectory(path)
            } catch {
                failure = error
            }
            pthread_mutex_lock(mutex)
            round = rounds[path] ?? Round()
            round.isRunning = false
            if let failure {
                round.failure = (covers, failure)
            } else {
                round.completed = max(round.completed, covers + 1)
            }
            rounds[path] = round
            pthread_cond_broadcast(condition)
        }
    }
}
