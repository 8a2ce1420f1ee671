/// A command the server refuses before acting on it: the reply for the client and a detail for the log.
///
/// Parsing problems are always the client's fault, so the server logs them at warning level (Postfix's
/// "Illegal address syntax from ..."), replies, and reads the next command, unless `reply.closesConnection` says
/// the session cannot go on (a BDAT whose chunk cannot be found).
public struct SMTPCommandError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the client is told.
    public var reply: SMTPReply

    /// What went wrong, for the log only; may quote (sanitized) client input.
    public var detail: String

    /// Creates an error carrying its reply.
    public init(_ reply: SMTPReply, detail: String) {
        self.reply = reply
        self.detail = detail
    }

    /// `501 5.5.4 Syntax: MAIL FROM:<address> (detail)`.
    public var description: String {
        let enhanced = reply.enhancedCode.map { " \($0)" } ?? ""
        return "\(reply.code)\(enhanced) \(reply.lines.joined(separator: " ")) (\(detail))"
    }
}
