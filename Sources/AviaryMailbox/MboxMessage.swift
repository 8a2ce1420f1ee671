/// One message read back from an mbox.
public struct MboxMessage: Hashable, Sendable {
    /// The envelope sender from the `From ` line (`MAILER-DAEMON` for the null sender).
    public var sender: String
    /// The rest of the `From ` line: the delivery time in `asctime` layout, as written.
    public var date: String
    /// The message with LF line ends and the `>From ` quoting undone, without the separating blank line.
    public var content: [UInt8]

    public init(sender: String, date: String, content: [UInt8]) {
        self.sender = sender
        self.date = date
        self.content = content
    }
}
