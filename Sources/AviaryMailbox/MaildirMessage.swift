/// One message found in a Maildir's `new/` or `cur/`, as a reader (pop3d, imapd) sees it.
public struct MaildirMessage: Hashable, Sendable {
    /// `new` or `cur`.
    public var subdirectory: Maildir.Subdirectory
    /// The file's name in that directory.
    public var fileName: String
    /// The parsed name: unique part, size extras, flags.
    public var name: MaildirFileName
    /// The file's size in bytes: from `,S=` when the name has it, from `stat` otherwise.
    public var size: Int

    /// The stable identity of the message (everything before `:`), for POP3 UIDLs and IMAP UID lists.
    public var uniqueName: String { name.uniqueName }

    /// The message's flags (none for a message still in `new/`).
    public var flags: MaildirFlags { name.flags }

    public init(subdirectory: Maildir.Subdirectory, fileName: String, size: Int) {
        self.subdirectory = subdirectory
        self.fileName = fileName
        self.name = MaildirFileName(fileName)
        self.size = size
    }
}
