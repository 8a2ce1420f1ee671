// A POP3 session's maildrop (RFC 1939 8): the messages as they were at login, numbered from 1, with the
// octet count RETR will send and a unique-id listing (UIDL) that never changes for a message.
//
// - Exclusive access: a session holds an `flock` on the Maildir directory, or on the mbox file, from login
//   to the end; a second session for the same mailbox gets `-ERR [IN-USE]`. flock is independent of the
//   fcntl and dot-locks of mbox delivery, so `local` keeps delivering meanwhile; the locks of two pop3d
//   processes (or two sessions in one process: flock belongs to the open file) exclude each other.
// - A stable view: the message list is taken at login. Mail delivered later appears in the next session.
//   An mbox is read once under its delivery locks (never half a delivery) and kept in memory.
// - UIDL, Maildir: by default the base name of the file (the unique name up to its first `,`), which every
//   Maildir program keeps for the life of the message; `pop3d_uidl_format` can make it Dovecot's
//   `%08Xu%08Xv` (IMAP UID and UIDVALIDITY, see UIDLFormat) for mailboxes moved from Dovecot. UIDL, mbox:
//   the message's `X-UIDL:` header when it has a valid one (qpopper's and Dovecot's), otherwise a 64-bit FNV-1a hash in hex over the `From ` line and the
//   header lines that mail readers do not rewrite (everything but Status, X-Status, X-Keywords, X-UID,
//   X-IMAP, X-IMAPbase, Content-Length, Lines). The From line holds the delivery time to the second and
//   Aviary's local adds Delivered-To and Received (with the queue id), so two messages practically never
//   hash alike; if they do, the later ones get `-2`, `-3`... in mailbox order.
// - UPDATE (QUIT): Maildir messages marked deleted are unlinked and retrieved ones get the S flag in their
//   file name (moved to cur/), where IMAP sees them; an mbox is rewritten once without the deleted messages,
//   under its delivery locks, and only if the part the session read is unchanged.

import AviaryCore
import AviaryMailbox
import AviaryPOP3
import AviaryUsers

#if canImport(Glibc)
import Glibc
#endif

/// One message of a maildrop.
struct MaildropMessage: Sendable {
    enum Location: Sendable {
        case maildir(MaildirMessage)
        case mbox(MboxEntry)
    }

    var location: Location
    /// The size RETR sends (CRLF line ends, no stuffing).
    var size: Int
    var uid: String
}

/// The messages a session works on, taken at login.
struct Maildrop: Sendable {
    enum Store: Sendable {
        case maildir(Maildir)
        /// The mbox and the text read at login.
        case mbox(Mbox, snapshot: [UInt8])
    }

    var store: Store
    var messages: [MaildropMessage]

    var totalSize: Int { messages.reduce(0) { $0 + $1.size } }
}

/// The session's exclusive lock on its mailbox: an open descriptor holding an `flock`.
struct MaildropLock: Sendable {
    let descriptor: Int32

    /// Unlocks before closing: an flock belongs to the open file, and a copy of the descriptor in a child
    /// between its fork and its exec would otherwise keep the mailbox locked after the session has ended.
    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// Why a maildrop could not be opened.
enum MaildropError: Error, CustomStringConvertible {
    case inUse
    /// An mbox over `mailbox_size_limit`, which a session would have to hold in memory.
    case tooLarge(size: Int64, limit: Int64)
    case unavailable(MailboxError)

    var description: String {
        switch self {
        case .inUse: return "mailbox is locked by another POP3 session"
        case .tooLarge(let size, let limit): return "mbox is \(size) bytes, over mailbox_size_limit = \(limit)"
        case .unavailable(let error): return "\(error)"
        }
    }
}

extension Maildrop {
    /// mbox locks as `local` takes them, but a spool directory pop3d cannot write is no reason to fail.
    static let mboxLocking = MboxLocking(dotLockMayFail: true)

    /// Locks and reads the mailbox at `location`. A mailbox that does not exist yet is an empty maildrop; an
    /// mbox larger than `mboxSizeLimit` (when not 0) is refused. Blocking: call it on a thread pool.
    /// - Parameter uidlFormat: `pop3d_uidl_format`, for Maildir messages.
    static func open(
        _ location: UserMailbox, mboxSizeLimit: Int64 = 0, uidlFormat: UIDLFormat = .fileName
    ) throws(MaildropError) -> (Maildrop, MaildropLock?) {
        switch location {
        case .maildir(let path):
            let maildir = Maildir(path: path)
            guard SafeFile.isDirectory(maildir.path) else {
                return (Maildrop(store: .maildir(maildir), messages: []), nil)
            }
            let lock = try lock(maildir.path, flags: O_RDONLY | O_DIRECTORY)
            do throws(MailboxError) {
                return (try readMaildir(maildir, uidlFormat: uidlFormat), lock)
            } catch {
                lock.release()
                throw .unavailable(error)
            }
        case .mbox(let path):
            let mbox = Mbox(path: path)
            guard SafeFile.exists(path) else { return (Maildrop(store: .mbox(mbox, snapshot: []), messages: []), nil) }
            let lock = try lock(path, flags: O_RDONLY)
            var oversize: Int64 = 0
            let bytes: [UInt8]
            do throws(MailboxError) {
                bytes = try mbox.withLock(mboxLocking) { file throws(MailboxError) -> [UInt8] in
                    if mboxSizeLimit > 0, let size = try? file.status().st_size, Int64(size) > mboxSizeLimit {
                        oversize = Int64(size)
                        return []
                    }
                    return try Mbox.readAll(file)
                }
            } catch {
                lock.release()
                throw .unavailable(error)
            }
            if oversize > 0 {
                lock.release()
                throw .tooLarge(size: oversize, limit: mboxSizeLimit)
            }
            return (readMbox(mbox, bytes), lock)
        }
    }

    private static func lock(_ path: String, flags: Int32) throws(MaildropError) -> MaildropLock {
        let descriptor = Glibc.open(path, flags | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .unavailable(
                MailboxError(.io, "cannot open mailbox", path: path, cause: SystemError.current("open", path: path))
            )
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(descriptor)
            if code == EWOULDBLOCK { throw .inUse }
            throw .unavailable(
                MailboxError(
                    .io,
                    "cannot lock mailbox",
                    path: path,
                    cause: SystemError(code: code, operation: "flock", path: path)
                )
            )
        }
        return MaildropLock(descriptor: descriptor)
    }

    private static func readMaildir(_ maildir: Maildir, uidlFormat: UIDLFormat) throws(MailboxError) -> Maildrop {
        var messages: [MaildropMessage] = []
        var seen: [String: Int] = [:]
        // With %u or %v: the UIDs IMAP gives (dovecot-uidlist, kept up to date here as SELECT does), in UID order.
        let index = uidlFormat.needsUIDs ? try maildir.synchronize() : nil
        let listed: [IndexedMessage]
        if let index {
            listed = index.messages
        } else {
            listed = try maildir.messages().map { IndexedMessage(uid: 0, message: $0) }
        }
        for indexed in listed {
            let message = indexed.message
            // local names its files with `,W=` (as Dovecot does); a file from another program is read once here.
            let size: Int
            if let virtualSize = message.name.virtualSize {
                size = virtualSize
            } else {
                do throws(MailboxError) {
                    size = try crlfSize(of: maildir.open(message))
                } catch where error.code == .notFound {
                    continue  // expunged by another reader since the listing
                }
            }
            var text = uidlFormat.render(name: message.name, uid: indexed.uid, uidValidity: index?.uidValidity ?? 0)
            if !UniqueID.isValid(text) { text = UniqueID.maildir(message.name) }
            let uid = UniqueID.unique(text, seen: &seen)
            messages.append(MaildropMessage(location: .maildir(message), size: size, uid: uid))
        }
        return Maildrop(store: .maildir(maildir), messages: messages)
    }

    private static func crlfSize(of file: FileDescriptor) throws(MailboxError) -> Int {
        var counter = POP3MessageEncoder.SizeCounter()
        var offset: Int64 = 0
        do throws(SystemError) {
            while true {
                let chunk = try file.read(count: 65536, at: offset)
                if chunk.isEmpty { break }
                counter.count(chunk[...])
                offset += Int64(chunk.count)
            }
        } catch {
            throw MailboxError(.io, "cannot read message", path: file.path, cause: error)
        }
        return counter.total
    }

    private static func readMbox(_ mbox: Mbox, _ bytes: [UInt8]) -> Maildrop {
        var messages: [MaildropMessage] = []
        var seen: [String: Int] = [:]
        for entry in Mbox.index(bytes) {
            var counter = POP3MessageEncoder.SizeCounter()
            counter.count(Mbox.unquote(bytes[entry.content])[...])
            let uid = UniqueID.unique(UniqueID.mbox(entry, in: bytes), seen: &seen)
            messages.append(MaildropMessage(location: .mbox(entry), size: counter.total, uid: uid))
        }
        return Maildrop(store: .mbox(mbox, snapshot: bytes), messages: messages)
    }
}
