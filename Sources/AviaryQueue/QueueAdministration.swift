import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

// Moving and removing messages while the mail system runs (`aviary queue delete|hold|release|requeue`,
// Postfix's postsuper -d/-h/-H/-r). Nothing may be lost and nothing delivered twice. The rule:
//
//  1. A queue file's flock is its delivery lock. Whoever records delivery outcomes holds it: a delivery
//     agent for its whole request, qmgr while it records outcomes and moves the file on or removes it.
//     Recipient statuses live in the file itself, so they follow the file wherever it is renamed.
//  2. The administrator opens the file, takes that lock (waiting a bounded time: a message being delivered
//     is never pulled from under its agent), checks that the name still leads to the locked file (qmgr may
//     have moved it meanwhile; then it looks for the message again, a bounded number of times), and renames
//     or unlinks it while holding the lock.
//  3. qmgr, once it holds the lock to record outcomes, checks that `active/ID` is still the file it opened.
//     When the name is gone or leads elsewhere, the administrator has taken the message: qmgr records
//     nothing and moves nothing, so a deleted message is never resurrected and a held one stays held
//     (MessageDelivery.finish). It also drops the message quietly when `active/ID` does not exist at all.
//  4. qmgr's moves made without the lock (incoming|deferred -> active, active -> incoming at start) are
//     single renames: when one races an administrator's rename exactly one wins, and the loser sees ENOENT
//     (qmgr forgets the message, the administrator looks for it again).
//  5. Delete first marks every pending recipient final ('B', no notice is sent, as with postsuper -d), then
//     unlinks. An agent that opened the file before the administrator took the lock, and waits for it,
//     re-reads the statuses under the lock and finds nothing left to deliver; a crash between the two steps
//     leaves a file that qmgr removes as done.
//
// So every delivery is recorded in the one file under its lock (never twice), and a message leaves the
// queue only by delete (never lost). An agent that had opened the file before a hold or requeue finishes
// its attempt on the moved file; what it delivers is recorded there and skipped by later attempts.

/// What the administrator can do to a queued message (Postfix postsuper).
public enum QueueAdminAction: String, Sendable, CaseIterable {
    /// Remove the message (`postsuper -d`); no notice is sent to anyone.
    case delete
    /// Move it to `hold/`, which qmgr never scans (`postsuper -h`).
    case hold
    /// Move it from `hold/` to `deferred/`, due at once (`postsuper -H`).
    case release
    /// Make it new again: move it to `incoming/` (`postsuper -r`; Postfix also re-runs cleanup).
    case requeue

    /// The queues the action takes messages from, in the order they are searched (postsuper's defaults).
    public var queues: [QueueName] {
        switch self {
        case .delete, .requeue: return [.hold, .incoming, .active, .deferred]
        case .hold: return [.incoming, .active, .deferred]
        case .release: return [.hold]
        }
    }

    /// The log text after `ID: ` (Postfix's words).
    public var logText: String {
        switch self {
        case .delete: return "removed"
        case .hold: return "placed on hold"
        case .release: return "released from hold"
        case .requeue: return "requeued"
        }
    }

    /// The summary label, as in `Deleted: 3 messages`.
    public var summaryLabel: String {
        switch self {
        case .delete: return "Deleted"
        case .hold: return "Placed on hold"
        case .release: return "Released from hold"
        case .requeue: return "Requeued"
        }
    }
}

/// Why an administrative action on one message failed; nothing was changed for that message.
public struct QueueAdminError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// A delivery agent (or qmgr) kept the queue file locked longer than the wait allowed.
        case lockTimeout
        /// The message kept moving between queues while we tried to catch it.
        case keptMoving
        /// A system call failed.
        case system
    }

    public var code: Code
    public var id: QueueID
    /// The whole explanation, naming the message.
    public var message: String
    public var cause: SystemError?

    public var description: String { message }
}

extension QueueDirectory {
    /// How many times a message that moves under our hands is looked for again.
    static let administrationAttempts = 10

    /// Applies `action` to message `id`, following the rule at the top of this file.
    /// - Parameters:
    ///   - queues: where to look for the message (a subset of `action.queues`, in search order).
    ///   - lockTimeout: how long to wait for a delivery agent to release the queue file.
    ///   - now: the time to give a released or requeued message (its next attempt).
    ///   - waiting: called once, with the queue, when the file is locked by someone else and we wait.
    /// - Returns: the queue the message was taken from, or nil when it is in none of `queues`.
    /// - Throws: `QueueAdminError`; the message is then left as it was.
    @discardableResult
    public func administer(
        _ action: QueueAdminAction,
        _ id: QueueID,
        in queues: [QueueName]? = nil,
        lockTimeout: Duration = .seconds(30),
        now: Int = Int(time(nil)),
        waiting: (QueueName) -> Void = { _ in }
    ) throws(QueueAdminError) -> QueueName? {
        let queues = queues ?? action.queues
        var hasMarkedFinal: QueueName?
        var hasAnnouncedWait = false
        for _ in 0..<Self.administrationAttempts {
            guard let queue = queues.first(where: { SafeFile.exists(path(of: id, in: $0)) }) else {
                // A delete that already marked every recipient final and then lost a race to qmgr's rename:
                // qmgr removes such a file as done, so the message is deleted all the same.
                return hasMarkedFinal
            }
            let filePath = path(of: id, in: queue)
            let file: FileDescriptor
            do throws(SystemError) {
                file = try SafeFile.openForUpdate(filePath)
            } catch where error.code == ENOENT {
                continue
            } catch {
                throw QueueAdminError(
                    code: .system,
                    id: id,
                    message: "\(id): cannot open \(queue.rawValue)/\(id): \(error.reason)",
                    cause: error
                )
            }
            let isLocked = try lock(file, id: id, queue: queue, timeout: lockTimeout) {
                if !hasAnnouncedWait { waiting(queue) }
                hasAnnouncedWait = true
            }
            guard isLocked else {
                throw QueueAdminError(
                    code: .lockTimeout,
                    id: id,
                    message: "\(id): is being delivered (its queue file in \(queue.rawValue)/ is locked by a delivery"
                        + " agent or qmgr); gave up waiting after \(lockTimeout.formattedSeconds); nothing was changed,"
                        + " try again later",
                    cause: nil
                )
            }
            // The lock is released when `file` closes, after the rename or unlink below.
            guard file.names(filePath) else { continue }
            do throws(SystemError) {
                switch action {
                case .delete:
                    markPendingFinal(file, path: filePath)
                    hasMarkedFinal = queue
                    try retryingOnInterrupt("unlink", path: filePath) { unlink(filePath) }
                    unlink(path(of: id, in: .defer))
                    unlink(path(of: id, in: .targets))
                case .hold:
                    try SafeFile.rename(filePath, to: path(of: id, in: .hold))
                case .release:
                    try SafeFile.rename(filePath, to: path(of: id, in: .deferred))
                    try? setNextAttempt(id, in: .deferred, at: now)
                case .requeue:
                    if queue != .incoming { try SafeFile.rename(filePath, to: path(of: id, in: .incoming)) }
                    try? setNextAttempt(id, in: .incoming, at: now)
                }
            } catch where error.code == ENOENT {
                // qmgr renamed it between our check and our call (rule 4): look again.
                continue
            } catch {
                throw QueueAdminError(
                    code: .system,
                    id: id,
                    message: "\(id): cannot \(action.rawValue) it: \(error)",
                    cause: error
                )
            }
            return queue
        }
        if let hasMarkedFinal { return hasMarkedFinal }
        throw QueueAdminError(
            code: .keptMoving,
            id: id,
            message: "\(id): kept moving between queues while being caught; nothing was changed, try again",
            cause: nil
        )
    }

    /// Takes the exclusive lock, polling until `timeout`; false when it stayed taken.
    private func lock(
        _ file: FileDescriptor,
        id: QueueID,
        queue: QueueName,
        timeout: Duration,
        waiting: () -> Void
    ) throws(QueueAdminError) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            do {
                if try file.lock(wait: false) { return true }
            } catch {
                throw QueueAdminError(
                    code: .system,
                    id: id,
                    message: "\(id): cannot lock \(queue.rawValue)/\(id): \(error.reason)",
                    cause: error
                )
            }
            if clock.now >= deadline { return false }
            waiting()
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            var remaining = timespec()
            while nanosleep(&pause, &remaining) != 0 && errno == EINTR { pause = remaining }
        }
    }

    /// Rule 5: every pending recipient becomes final before the file goes. A file that does not parse is
    /// left as it is (no agent can deliver from it either).
    private func markPendingFinal(_ file: FileDescriptor, path: String) {
        guard let parsed = try? QueueFile.parse(file, path: path) else { return }
        for recipient in parsed.0.recipients where recipient.status == .pending {
            try? file.writeAll([RecipientStatus.bounced.rawValue], at: recipient.statusOffset)
        }
    }
}

extension FileDescriptor {
    /// Whether `path` names this open file now (same device and inode).
    func names(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, let mine = try? status() else { return false }
        return info.st_ino == mine.st_ino && info.st_dev == mine.st_dev
    }
}

extension Duration {
    /// "30 seconds", "0.2 seconds", "1 second".
    var formattedSeconds: String {
        let (seconds, attoseconds) = components
        let hundredths = Int(attoseconds / 10_000_000_000_000_000)
        if hundredths == 0 { return seconds == 1 ? "1 second" : "\(seconds) seconds" }
        let fraction =
            hundredths % 10 == 0 ? "\(hundredths / 10)" : (hundredths < 10 ? "0\(hundredths)" : "\(hundredths)")
        return "\(seconds).\(fraction) seconds"
    }
}
