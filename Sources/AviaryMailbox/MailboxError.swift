import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mailbox operation that failed: what kind of failure, a sentence for the log, and the underlying cause.
///
/// `local` turns these into delivery status: `lockTimeout` and most `io` failures are worth a retry, an
/// `unsafeMailbox` is not (someone must fix the file first).
public struct MailboxError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; an open set so that later readers (pop3d, imapd) can add their own.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(_ rawValue: String) { self.rawValue = rawValue }

        /// A system call failed; `cause` is the `SystemError`.
        public static let io = Code("io")
        /// The mailbox is a symbolic link, has several hard links or is not a regular file.
        public static let unsafeMailbox = Code("unsafe mailbox")
        /// Another process held the mailbox lock for longer than the bounded wait.
        public static let lockTimeout = Code("lock timeout")
        /// The message source failed while being copied; `cause` says why.
        public static let messageUnreadable = Code("message unreadable")
        /// A folder or file name that may not be used.
        public static let invalidName = Code("invalid name")
        /// The message is no longer there (another reader moved or removed it).
        public static let notFound = Code("not found")
        /// Another program changed the mailbox since it was read (an mbox rewrite is refused).
        public static let modified = Code("modified")
        /// The mailbox would grow beyond its size limit (`mailbox_size_limit`); nothing was added.
        public static let full = Code("mailbox full")
        /// The account's quota (`maildirsize`) has no room for what was to be added; nothing was added.
        public static let overQuota = Code("over quota")
        /// A control file (`dovecot-uidlist`) exists but cannot be parsed; it was left as it is, since
        /// starting over would give every message a new UID and every client a full download.
        public static let corrupt = Code("corrupt")
        /// The target of a create or rename exists already.
        public static let exists = Code("exists")
        /// The mailbox has given out every UID (2^32 - 2); only a new UIDVALIDITY could go on.
        public static let uidsExhausted = Code("UIDs exhausted")

        public var description: String { rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What was being done, in words for the log.
    public var message: String
    /// The mailbox file or directory concerned.
    public var path: String?
    /// The failure underneath, when there is one.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, path: String? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.cause = cause
    }

    /// Wraps a failed system call, recognising the refusals of `SafeFile` as an unsafe mailbox.
    static func system(_ error: SystemError, _ message: String) -> MailboxError {
        // SafeFile reports a symbolic link as ELOOP (O_NOFOLLOW) and a hard-linked or special file as EPERM.
        let isUnsafe = error.code == ELOOP || (error.code == EPERM && error.operation.hasPrefix("open ("))
        return MailboxError(isUnsafe ? .unsafeMailbox : .io, message, path: error.path, cause: error)
    }

    public var description: String {
        var text = message
        if let path, !message.contains(path) { text += " " + path }
        if let cause { text += ": \(cause)" }
        return text
    }
}
