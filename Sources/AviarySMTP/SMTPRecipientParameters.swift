import AviaryMessage

/// The ESMTP parameters of a RCPT command, each nil when the client did not give it.
public struct SMTPRecipientParameters: Sendable, Hashable {
    /// `NOTIFY=` (RFC 3461): when to send a DSN for this recipient; an empty set is `NOTIFY=NEVER`.
    public var notify: DSNNotify?

    /// `ORCPT=` (RFC 3461): the recipient as the original sender wrote it.
    public var originalRecipient: DSNOriginalRecipient?

    /// Creates parameters; all absent by default.
    public init(notify: DSNNotify? = nil, originalRecipient: DSNOriginalRecipient? = nil) {
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}
