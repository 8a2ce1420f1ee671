import AviaryMessage

/// One command from an SMTP client, parsed by ``SMTPCommandParser``.
///
/// The parser checks syntax only; whether a command is allowed now (MAIL before HELO, BDAT after DATA, SMTPUTF8
/// addresses without the SMTPUTF8 parameter) is the session's decision.
public enum SMTPCommand: Sendable, Hashable {
    /// `HELO name`: the argument as sent, checked only for being present and printable. Postfix accepts any name
    /// too and leaves the rest to `reject_invalid_helo_hostname`; ``SMTPCommandParser/isValidHeloName(_:)`` is
    /// that check.
    case helo(String)

    /// `EHLO name`, checked as ``helo(_:)`` is.
    case ehlo(String)

    /// `MAIL FROM:<reverse-path> [parameters]`; a nil path is the null sender `<>`.
    ///
    /// When `reversePath?.isASCII == false` and `parameters.isSMTPUTF8` is false the server should refuse with
    /// ``SMTPReply/smtputf8Required`` (RFC 6531 3.5).
    case mail(reversePath: MailAddress?, parameters: SMTPMailParameters)

    /// `RCPT TO:<forward-path> [parameters]`, with any source route dropped; may be ``MailAddress/barePostmaster``.
    case rcpt(forwardPath: MailAddress, parameters: SMTPRecipientParameters)

    /// `DATA`.
    case data

    /// `BDAT size [LAST]` (RFC 3030): the next `size` octets are the chunk, which the frame decoder hands over as
    /// ``SMTPInboundFrame/chunk(_:isEndOfChunk:)`` frames whether or not the server accepts the command.
    case bdat(size: Int, isLast: Bool)

    /// `RSET`.
    case rset

    /// `NOOP [text]`.
    case noop(String?)

    /// `QUIT`; any argument is ignored.
    case quit

    /// `VRFY text [SMTPUTF8]`.
    case vrfy(String, isSMTPUTF8: Bool)

    /// `EXPN text [SMTPUTF8]`.
    case expn(String, isSMTPUTF8: Bool)

    /// `HELP [topic]`.
    case help(String?)

    /// `STARTTLS` (RFC 3207).
    case startTLS

    /// `AUTH mechanism [initial-response]` (RFC 4954); the mechanism uppercased, the response as sent (base64 or
    /// `=` for an empty one).
    case auth(mechanism: String, initialResponse: String?)

    /// Any other verb, uppercased; the server replies ``SMTPReply/unknownCommand``.
    case unknown(verb: String)

    /// The verb as Postfix names it in logs and in `Error: <verb> after BDAT`: `MAIL`, `RCPT`, `STARTTLS`, ...
    public var verb: String {
        switch self {
        case .helo: "HELO"
        case .ehlo: "EHLO"
        case .mail: "MAIL"
        case .rcpt: "RCPT"
        case .data: "DATA"
        case .bdat: "BDAT"
        case .rset: "RSET"
        case .noop: "NOOP"
        case .quit: "QUIT"
        case .vrfy: "VRFY"
        case .expn: "EXPN"
        case .help: "HELP"
        case .startTLS: "STARTTLS"
        case .auth: "AUTH"
        case .unknown(let verb): verb
        }
    }
}
