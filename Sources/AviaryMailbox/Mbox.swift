import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An mbox mailbox file (`/var/mail/USER`): messages one after another, each introduced by a `From ` line.
///
/// Format (mboxrd, as Postfix local, mutt and Dovecot read it):
/// ```
/// From sender@example.org Sat Nov 21 23:48:01 2026     <- envelope sender (MAILER-DAEMON for <>), asctime
/// Delivered-To: user@example.org                        <- optional prefix lines
/// Subject: hello
///
/// >From here on, lines that start with ">*From " get one more ">"
/// last line of the message
///                                                       <- a blank line ends every message
/// ```
/// Lines end in LF. Delivery rules: both locks of `MboxLocking`; append only through `SafeFile.openForAppend`
/// (no symbolic or hard links); on any failure truncate back to the size before the delivery, so a mailbox
/// never holds half a message; fsync before reporting success.
public struct Mbox: Hashable, Sendable {
    /// The mailbox file.
    public let path: String

    /// An mbox at `path`; nothing is opened until it is used.
    public init(path: String) {
        self.path = path
    }

    /// Appends one message.
    /// - Parameters:
    ///   - message: the message as stored in the queue (CRLF line ends).
    ///   - sender: the envelope sender; empty for the null sender `<>`.
    ///   - prefix: header lines to write first (`Delivered-To:`, `Return-Path:`), ending in CRLF or LF.
    ///   - date: the time for the `From ` line; nil means now.
    ///   - locking: which locks to take and how long to wait.
    ///   - mode: permissions if the mailbox file has to be created.
    ///   - sizeLimit: the largest the file may become with this message (`mailbox_size_limit`); 0: no limit.
    /// - Throws: `lockTimeout` when the mailbox stayed locked, `unsafeMailbox` for a symbolic link, hard link
    ///   or non-regular file, `messageUnreadable` when `message` failed, `full` beyond `sizeLimit`, `io`
    ///   otherwise; in every case the file is as it was before.
    public func deliver(
        _ message: MessageSource,
        sender: String,
        prefix: String = "",
        date: time_t? = nil,
        locking: MboxLocking = .postfixDefault,
        mode: mode_t = 0o600,
        sizeLimit: Int64 = 0
    ) throws(MailboxError) {
        var now = date ?? time(nil)
        var brokenDown = tm()
        localtime_r(&now, &brokenDown)
        let fromLine = Self.fromLine(sender: sender, date: brokenDown)
        try withLocks(locking, access: .append(mode: mode)) {
            file throws(MailboxError) in
            let originalSize: Int64
            do throws(SystemError) {
                originalSize = Int64(try file.status().st_size)
            } catch {
                throw MailboxError.system(error, "cannot stat mailbox")
            }
            do throws(MailboxError) {
                // The writer stops at what the limit leaves, so an oversized message is never written whole.
                let room = sizeLimit > 0 ? Int(clamping: max(0, sizeLimit - originalSize)) : nil
                var writer = MailboxFileWriter(file: file, quotesFromLines: true, byteLimit: room)
                do throws(MailboxError) {
                    try writer.writeVerbatim(Array(fromLine.utf8) + [UInt8(ascii: "\n")])
                    try writer.writePrefix(prefix)
                    try writer.copy(message)
                    try writer.finish(terminatingLastLine: true, trailer: [UInt8(ascii: "\n")])
                } catch where error.code == .full {
                    throw MailboxError(.full, "mailbox \(path) is full (mailbox_size_limit = \(sizeLimit))", path: path)
                }
                do throws(SystemError) {
                    try file.sync()
                } catch {
                    throw MailboxError.system(error, "cannot sync mailbox")
                }
            } catch {
                // Undo before the locks go: other readers must never see the partial message. A failing
                // truncate cannot be reported better than the error that caused it (Postfix ignores it too).
                try? file.truncate(to: originalSize)
                try? file.sync()
                throw error
            }
        }
    }

    /// Runs `body` with the mailbox opened for reading and writing and locked as for a delivery, for
    /// readers that must not see a delivery in progress (pop3d, tests).
    /// - Throws: `notFound` when the mailbox does not exist, and the errors of `deliver`.
    public func withLock<T>(
        _ locking: MboxLocking = .postfixDefault,
        _ body: (FileDescriptor) throws(MailboxError) -> T
    ) throws(MailboxError) -> T {
        try withLocks(locking, access: .update, body)
    }

    /// The `From ` line that starts a message (without its line end):
    /// `From sender@example.org Sat Nov 21 23:48:01 2026`, with `MAILER-DAEMON` for the null sender and a
    /// local part that needs it quoted (so the sender stays one word, as readers split on the space).
    public static func fromLine(sender: String, date: tm) -> String {
        "From " + (sender.isEmpty ? "MAILER-DAEMON" : quoteLocalPart(sender)) + " " + asctime(date)
    }

    /// `date` in C's `asctime` layout without its line end: `Sat Nov  1 09:05:01 2026`.
    static func asctime(_ date: tm) -> String {
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = days[Int(date.tm_wday) % 7]
        let month = months[Int(date.tm_mon) % 12]
        let dayOfMonth = date.tm_mday < 10 ? " \(date.tm_mday)" : "\(date.tm_mday)"
        let time = twoDigits(date.tm_hour) + ":" + twoDigits(date.tm_min) + ":" + twoDigits(date.tm_sec)
        return "\(day) \(month) \(dayOfMonth) \(time) \(Int(date.tm_year) + 1900)"
    }

    /// Quotes the local part of `address` when it holds characters that RFC 5322 allows only in a quoted
    /// string (Postfix `quote_822_local`), so `a b@example.org` becomes `"a b"@example.org`. UTF-8 is
    /// left alone (RFC 6532).
    static func quoteLocalPart(_ address: String) -> String {
        let at = address.lastIndex(of: "@")
        let local = at.map { address[..<$0] } ?? address[...]
        let domain = at.map { address[$0...] } ?? ""
        let atext = Set("!#$%&'*+-/=?^_`{|}~.")
        let needsQuotes =
            local.isEmpty
            || local.contains { $0.isASCII && !($0.isLetter || $0.isNumber || atext.contains($0)) }
        guard needsQuotes else { return address }
        var quoted = "\""
        for character in local {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "\"" + domain
    }
}
