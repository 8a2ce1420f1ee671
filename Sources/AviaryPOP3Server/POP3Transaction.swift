import AviarySASL
import AviaryCore
import AviaryMailbox
import AviaryPOP3
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The TRANSACTION state of a session: the maildrop, the lock on it, and what the client marked.
struct POP3Transaction {
    var identity: MailUser
    var maildrop: Maildrop
    var lock: MaildropLock?
    /// Indexes (message number − 1) marked by DELE.
    var deleted: Set<Int> = []
    /// Indexes sent whole by RETR: they get the seen flag at UPDATE.
    var retrieved: Set<Int> = []
    var statistics = Statistics()

    /// Counters for the logout line (Dovecot's top=, retr=, del=).
    struct Statistics {
        var top = 0
        var topOctets = 0
        var retrieved = 0
        var retrievedOctets = 0
        var deleted = 0
    }

    init(identity: MailUser, maildrop: Maildrop, lock: MaildropLock?) {
        self.identity = identity
        self.maildrop = maildrop
        self.lock = lock
    }

    /// The index of message `number` when it exists and is not marked deleted.
    func index(of number: Int) -> Int? {
        let index = number - 1
        guard maildrop.messages.indices.contains(index), !deleted.contains(index) else { return nil }
        return index
    }

    /// UPDATE (RFC 1939 6): removes the deleted messages and marks the retrieved ones seen, then lets the
    /// mailbox go.
    mutating func update(server: POP3Server, logger: Logger) async -> POP3Response {
        defer {
            lock?.release()
            lock = nil
        }
        let maildrop = self.maildrop
        let deleted = self.deleted
        let seen = retrieved.subtracting(deleted)
        guard !deleted.isEmpty || !seen.isEmpty else { return .loggingOut }
        let problem: String?
        do {
            problem = try await server.blocking { () -> String? in
                do {
                    try maildrop.apply(deleting: deleted, markingSeen: seen)
                    return nil
                } catch {
                    return "\(error)"
                }
            }
        } catch {
            problem = "\(error)"
        }
        if let problem {
            logger.error("user=<\(identity.userName)>: update failed: \(problem)")
            return .updateFailed
        }
        statistics.deleted = deleted.count
        return .loggingOut
    }
}

extension Maildrop {
    /// Applies a session's changes. Maildir: unlink, then flag renames (a message renamed meanwhile by another
    /// reader is found again by its unique name). mbox: one rewrite under the delivery locks; the seen flag is
    /// not written into an mbox (TODO(#5): Status: R, once imapd reads it).
    func apply(deleting deleted: Set<Int>, markingSeen seen: Set<Int>) throws {
        switch store {
        case .maildir(let maildir):
            var current: [MaildirMessage]?
            func locate(_ message: MaildirMessage) throws -> MaildirMessage? {
                if SafeFile.exists(maildir.path(of: message)) { return message }
                if current == nil { current = try maildir.messages() }
                return current?.first { $0.uniqueName == message.uniqueName }
            }
            for index in deleted.sorted() {
                guard case .maildir(let message) = messages[index].location else { continue }
                if let found = try locate(message) { try maildir.remove(found) }
            }
            for index in seen.sorted() {
                guard case .maildir(let message) = messages[index].location, let found = try locate(message) else {
                    continue
                }
                if !found.flags.contains(.seen) || found.subdirectory == .new {
                    try maildir.setFlags(found.flags.union(.seen), of: found)
                }
            }
        case .mbox(let mbox, let snapshot):
            let entries = deleted.sorted().compactMap { index -> MboxEntry? in
                guard case .mbox(let entry) = messages[index].location else { return nil }
                return entry
            }
            try mbox.remove(entries, from: snapshot, locking: Maildrop.mboxLocking)
        }
    }
}
