// Every reply the SMTP server sends, in one place, so that `grep "5.7.1"` finds every relay refusal.
//
// The wording is Postfix's where Postfix has one (smtpd.c, smtpd_check.c, cleanup_strerror.c), so clients, log tools
// and administrators see what they already know. A reply that names our host takes it as a parameter. Text that
// echoes client input is sanitized by `SMTPReply.encode(into:)`.
//
// Replies sent before EHLO has announced ENHANCEDSTATUSCODES (the greeting, HELO/EHLO itself and their syntax
// errors) carry no enhanced code, as in Postfix; 3yz intermediate replies carry none either.

extension SMTPReply {
    // MARK: - Connection

    /// `220 <banner>`: the greeting, such as `220 mail.example.com ESMTP Aviary`.
    public static func greeting(_ banner: String) -> SMTPReply {
        SMTPReply(220, nil, banner)
    }

    /// `554 <hostname> ESMTP not accepting connections`: the greeting of a server that refuses this client.
    public static func notAcceptingConnections(hostname: String) -> SMTPReply {
        SMTPReply(554, nil, "\(hostname) ESMTP not accepting connections")
    }

    /// `221 2.0.0 Bye`: the reply to QUIT.
    public static let closing = SMTPReply(221, EnhancedStatusCode(2, 0, 0), "Bye")

    /// `421 4.3.2 <hostname> Service unavailable - try again later`: the server is going away.
    public static func serviceUnavailable(hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 3, 2), "\(hostname) Service unavailable - try again later")
    }

    /// `421 4.4.2 <hostname> Error: timeout exceeded`: the client was silent for too long.
    public static func timeout(hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 4, 2), "\(hostname) Error: timeout exceeded")
    }

    /// `421 4.7.0 <hostname> Error: too many errors`: the client's error count reached its limit.
    public static func tooManyErrors(hostname: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 7, 0), "\(hostname) Error: too many errors")
    }

    /// `421 4.7.0 <hostname> Error: too many connections from <client>`.
    public static func tooManyConnections(hostname: String, client: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 7, 0), "\(hostname) Error: too many connections from \(client)")
    }

    // MARK: - HELO and EHLO

    /// `250 <hostname>`: the reply to HELO.
    public static func helo(hostname: String) -> SMTPReply {
        SMTPReply(250, nil, hostname)
    }

    /// `250-<hostname>` then one line per EHLO keyword, such as `PIPELINING` or `SIZE 10240000`.
    public static func ehlo(hostname: String, keywords: [String]) -> SMTPReply {
        SMTPReply(code: 250, lines: [hostname] + keywords)
    }

    // MARK: - Success

    /// `250 2.0.0 Ok`: RSET, NOOP and other commands that change nothing worth reporting.
    public static let ok = SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok")

    /// `250 2.0.0 Ok`: the reply to NOOP.
    public static let noop = ok

    /// `250 2.0.0 Ok`: the reply to RSET.
    public static let reset = ok

    /// `250 2.1.0 Ok`: MAIL FROM accepted.
    public static let senderOk = SMTPReply(250, EnhancedStatusCode(2, 1, 0), "Ok")

    /// `250 2.1.5 Ok`: RCPT TO accepted.
    public static let recipientOk = SMTPReply(250, EnhancedStatusCode(2, 1, 5), "Ok")

    /// `354 End data with <CR><LF>.<CR><LF>`: the reply to DATA.
    public static let startData = SMTPReply(354, nil, "End data with <CR><LF>.<CR><LF>")

    /// `250 2.0.0 Ok: queued as <id>`: the message is safely on disk.
    public static func queued(as queueID: String) -> SMTPReply {
        SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok: queued as \(queueID)")
    }

    /// `250 2.0.0 Ok, <n> octets received`: a BDAT chunk other than the last was received.
    public static func chunkReceived(octets: Int) -> SMTPReply {
        SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok, \(octets) octets received")
    }

    /// `252 2.0.0 <text>`: VRFY, answered without confirming or denying (RFC 5321 3.5.3).
    public static func vrfy(_ address: String) -> SMTPReply {
        SMTPReply(252, EnhancedStatusCode(2, 0, 0), address)
    }

    /// `214 2.0.0 <text>`: the reply to HELP.
    public static func help(_ text: String = "See https://www.rfc-editor.org/rfc/rfc5321") -> SMTPReply {
        SMTPReply(214, EnhancedStatusCode(2, 0, 0), text)
    }

    /// `220 2.0.0 Ready to start TLS`: the reply to STARTTLS, after which the TLS handshake starts.
    public static let readyToStartTLS = SMTPReply(220, EnhancedStatusCode(2, 0, 0), "Ready to start TLS")

    // MARK: - AUTH (RFC 4954)

    /// `334 <challenge>`: the next SASL challenge, base64-encoded (may be empty).
    public static func authChallenge(_ base64: String) -> SMTPReply {
        SMTPReply(334, nil, base64)
    }

    /// `235 2.7.0 Authentication successful`.
    public static let authSucceeded = SMTPReply(235, EnhancedStatusCode(2, 7, 0), "Authentication successful")

    /// `535 5.7.8 Error: authentication failed: <reason>`.
    public static func authFailed(_ reason: String = "authentication failure") -> SMTPReply {
        SMTPReply(535, EnhancedStatusCode(5, 7, 8), "Error: authentication failed: \(reason)")
    }

    /// `501 5.7.0 Authentication aborted`: the client answered a challenge with `*`.
    public static let authAborted = SMTPReply(501, EnhancedStatusCode(5, 7, 0), "Authentication aborted")

    /// `501 5.5.2 Cannot decode response`: an AUTH response that is not base64.
    public static let authCannotDecode = SMTPReply(501, EnhancedStatusCode(5, 5, 2), "Cannot decode response")

    /// `503 5.5.1 Error: already authenticated`.
    public static let alreadyAuthenticated = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: already authenticated")

    /// `503 5.5.1 Error: authentication not enabled`.
    public static let authNotEnabled = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: authentication not enabled")

    /// `504 5.5.4 Unsupported authentication mechanism`: AUTH named a mechanism we do not offer.
    public static let unsupportedAuthMechanism = SMTPReply(
        504,
        EnhancedStatusCode(5, 5, 4),
        "Unsupported authentication mechanism"
    )

    /// `504 5.5.4 Encryption required for requested authentication mechanism`.
    public static let encryptionRequiredForAuth = SMTPReply(
        504,
        EnhancedStatusCode(5, 5, 4),
        "Encryption required for requested authentication mechanism"
    )

    /// `454 4.7.0 Temporary authentication failure: <reason>`: the SASL back end failed.
    public static func temporaryAuthFailure(_ reason: String) -> SMTPReply {
        SMTPReply(454, EnhancedStatusCode(4, 7, 0), "Temporary authentication failure: \(reason)")
    }

    /// `530 5.7.0 Must issue a STARTTLS command first`: TLS is mandatory on this service.
    public static let encryptionRequired = SMTPReply(
        530,
        EnhancedStatusCode(5, 7, 0),
        "Must issue a STARTTLS command first"
    )

    /// `530 5.7.0 Authentication required`: the service accepts mail only from authenticated clients.
    public static let authenticationRequired = SMTPReply(530, EnhancedStatusCode(5, 7, 0), "Authentication required")

    // MARK: - STARTTLS

    /// `454 4.7.0 TLS not available due to local problem`.
    public static let tlsNotAvailable = SMTPReply(
        454,
        EnhancedStatusCode(4, 7, 0),
        "TLS not available due to local problem"
    )

    /// `554 5.5.1 Error: TLS already active`.
    public static let tlsAlreadyActive = SMTPReply(554, EnhancedStatusCode(5, 5, 1), "Error: TLS already active")

    // MARK: - Command syntax

    /// `500 5.5.2 Error: bad syntax`: a line that is not a command at all.
    public static let badSyntax = SMTPReply(500, EnhancedStatusCode(5, 5, 2), "Error: bad syntax")

    /// `500 5.5.2 Error: bad UTF-8 syntax`: a command line that is not valid UTF-8.
    public static let badUTF8 = SMTPReply(500, EnhancedStatusCode(5, 5, 2), "Error: bad UTF-8 syntax")

    /// `500 5.5.2 Error: line too long`: a command line longer than the server reads.
    public static let lineTooLong = SMTPReply(500, EnhancedStatusCode(5, 5, 2), "Error: line too long")

    /// `502 5.5.2 Error: command not recognized`.
    public static let unknownCommand = SMTPReply(502, EnhancedStatusCode(5, 5, 2), "Error: command not recognized")

    /// `502 5.5.1 Error: command not implemented`: a known command this server does not offer (EXPN, ETRN, or
    /// STARTTLS and AUTH where they are off).
    public static let commandNotImplemented = SMTPReply(
        502,
        EnhancedStatusCode(5, 5, 1),
        "Error: command not implemented"
    )

    /// `501 Syntax: HELO hostname` and `501 Syntax: EHLO hostname`, without an enhanced code as in Postfix: before
    /// EHLO succeeds the client has not been told that we send them.
    public static func heloSyntax(verb: String) -> SMTPReply {
        SMTPReply(501, nil, "Syntax: \(verb) hostname")
    }

    /// `501 5.5.4 Syntax: <usage>`, such as `Syntax: MAIL FROM:<address>`; see ``SMTPReply/Usage``.
    public static func syntax(_ usage: Usage) -> SMTPReply {
        SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Syntax: \(usage.rawValue)")
    }

    /// The usage lines of `501 5.5.4 Syntax: ...` replies, in Postfix's words.
    public enum Usage: String, Sendable, Hashable, CaseIterable {
        case mail = "MAIL FROM:<address>"
        case rcpt = "RCPT TO:<address>"
        case data = "DATA"
        case rset = "RSET"
        case vrfy = "VRFY address [SMTPUTF8]"
        case expn = "EXPN mailing-list [SMTPUTF8]"
        case startTLS = "STARTTLS"
        case auth = "AUTH mechanism"
    }

    /// `521 5.5.4 Syntax: BDAT count [LAST]`: a BDAT whose chunk size cannot be read. The chunk's end is unknown,
    /// so the session cannot find the next command and must close (Postfix does the same).
    public static let bdatSyntax = SMTPReply(521, EnhancedStatusCode(5, 5, 4), "Syntax: BDAT count [LAST]")

    /// `501 5.1.7 Bad sender address syntax`.
    public static let badSenderSyntax = SMTPReply(501, EnhancedStatusCode(5, 1, 7), "Bad sender address syntax")

    /// `501 5.1.3 Bad recipient address syntax`.
    public static let badRecipientSyntax = SMTPReply(501, EnhancedStatusCode(5, 1, 3), "Bad recipient address syntax")

    /// `501 5.5.4 Bad message size syntax`: SIZE= is not a number.
    public static let badSizeSyntax = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Bad message size syntax")

    /// `501 5.5.4 Bad <keyword> parameter syntax`: a malformed or repeated MAIL/RCPT parameter, such as
    /// `Bad RET parameter syntax`.
    public static func badParameterSyntax(_ keyword: String) -> SMTPReply {
        SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Bad \(keyword) parameter syntax")
    }

    /// `501 5.5.4 Duplicate SIZE parameter`: a MAIL or RCPT parameter given twice with different values.
    public static func duplicateParameter(_ keyword: String) -> SMTPReply {
        SMTPReply(501, EnhancedStatusCode(5, 5, 4), "Duplicate \(keyword) parameter")
    }

    /// `555 5.5.4 Unsupported option: <parameter>`: a MAIL or RCPT parameter we do not know.
    public static func unsupportedParameter(_ parameter: String) -> SMTPReply {
        SMTPReply(555, EnhancedStatusCode(5, 5, 4), "Unsupported option: \(parameter)")
    }

    /// `553 5.6.7 Must declare SMTPUTF8 to send unicode address` (RFC 6531 3.5).
    public static let smtputf8Required = SMTPReply(
        553,
        EnhancedStatusCode(5, 6, 7),
        "Must declare SMTPUTF8 to send unicode address"
    )

    /// `501 5.7.1 DSN support is disabled`: NOTIFY, ORCPT, RET or ENVID where DSN is not offered.
    public static let dsnDisabled = SMTPReply(501, EnhancedStatusCode(5, 7, 1), "DSN support is disabled")

    /// `503 5.5.4 Error: multiple AUTH= options`.
    public static let multipleAuthParameters = SMTPReply(
        503,
        EnhancedStatusCode(5, 5, 4),
        "Error: multiple AUTH= options"
    )

    // MARK: - Command sequence

    /// `503 5.5.1 Error: bad sequence of commands`: the generic refusal of a command at the wrong time.
    public static let badSequence = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: bad sequence of commands")

    /// `503 5.5.1 Error: send HELO/EHLO first`.
    public static let sendHeloFirst = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: send HELO/EHLO first")

    /// `503 5.5.1 Error: nested MAIL command`.
    public static let nestedMail = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: nested MAIL command")

    /// `503 5.5.1 Error: need MAIL command`.
    public static let needMail = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: need MAIL command")

    /// `503 5.5.1 Error: need RCPT command`: DATA or BDAT before any RCPT.
    public static let needRecipient = SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: need RCPT command")

    /// `554 5.5.1 Error: no valid recipients`: DATA or BDAT after every RCPT was refused.
    public static let needRecipients = SMTPReply(554, EnhancedStatusCode(5, 5, 1), "Error: no valid recipients")

    /// `503 5.5.1 Error: MAIL transaction in progress`: STARTTLS, AUTH or HELO in the middle of a transaction.
    public static let transactionInProgress = SMTPReply(
        503,
        EnhancedStatusCode(5, 5, 1),
        "Error: MAIL transaction in progress"
    )

    /// `503 5.5.1 Error: DATA after BDAT`, and likewise for MAIL and RCPT (RFC 3030 4: a transaction uses one
    /// or the other).
    public static func afterBDAT(_ verb: String) -> SMTPReply {
        SMTPReply(503, EnhancedStatusCode(5, 5, 1), "Error: \(verb) after BDAT")
    }

    /// `551 5.7.1 Null BDAT request`: `BDAT 0` without LAST, which carries nothing.
    public static let nullBDAT = SMTPReply(551, EnhancedStatusCode(5, 7, 1), "Null BDAT request")

    /// `502 5.5.1 VRFY command is disabled` (Postfix `disable_vrfy_command`).
    public static let vrfyDisabled = SMTPReply(502, EnhancedStatusCode(5, 5, 1), "VRFY command is disabled")

    // MARK: - Recipients and policy

    /// The lookup table named in `User unknown in ... table`, as Postfix's `show_user_unknown_table_name` does.
    public enum RecipientTable: String, Sendable, Hashable, CaseIterable {
        case localRecipient = "local recipient"
        case virtualMailbox = "virtual mailbox"
        case relayRecipient = "relay recipient"
    }

    /// `550 5.1.1 <address>: Recipient address rejected: User unknown in local recipient table`.
    ///
    /// - Parameters:
    ///   - address: the recipient as the client wrote it, without angle brackets.
    ///   - table: the table the address was looked up in.
    public static func unknownUser(_ address: String, table: RecipientTable) -> SMTPReply {
        SMTPReply(
            550,
            EnhancedStatusCode(5, 1, 1),
            "<\(address)>: Recipient address rejected: User unknown in \(table.rawValue) table"
        )
    }

    /// `554 5.7.1 <address>: Relay access denied`: a recipient in a domain we neither serve nor relay for.
    public static func relayDenied(_ address: String) -> SMTPReply {
        SMTPReply(554, EnhancedStatusCode(5, 7, 1), "<\(address)>: Relay access denied")
    }

    /// What a restriction refused, named the way Postfix's smtpd_check.c names it.
    public enum PolicyTarget: Sendable, Hashable {
        /// `<host[addr]>: Client host rejected: ...`
        case client(String)
        /// `<name>: Helo command rejected: ...`
        case helo(String)
        /// `<address>: Sender address rejected: ...`
        case sender(String)
        /// `<address>: Recipient address rejected: ...`
        case recipient(String)
        /// `<DATA>: Data command rejected: ...`
        case data(String)

        var prefix: String {
            switch self {
            case .client(let name): "<\(name)>: Client host rejected"
            case .helo(let name): "<\(name)>: Helo command rejected"
            case .sender(let address): "<\(address)>: Sender address rejected"
            case .recipient(let address): "<\(address)>: Recipient address rejected"
            case .data(let verb): "<\(verb)>: Data command rejected"
            }
        }
    }

    /// `554 5.7.1 <address>: Recipient address rejected: Access denied` and its kin: a restriction said no.
    /// The enhanced code defaults to x.7.1 (policy) in the reply code's class.
    public static func policyRejected(
        _ target: PolicyTarget, code: Int, _ text: String, enhanced enhancedCode: EnhancedStatusCode? = nil
    ) -> SMTPReply {
        let enhanced = enhancedCode ?? EnhancedStatusCode(code / 100, 7, 1)
        return SMTPReply(code, enhanced, "\(target.prefix): \(text)")
    }

    /// `454 4.7.1 <address>: Relay access denied`: defer_unauth_destination, or a reject code of 4xx.
    public static func relayDenied(_ address: String, code: Int) -> SMTPReply {
        SMTPReply(code, EnhancedStatusCode(code / 100, 7, 1), "<\(address)>: Relay access denied")
    }

    /// `504 5.5.2 <address>: Recipient address rejected: need fully-qualified address`.
    public static func needFullyQualified(_ target: PolicyTarget) -> SMTPReply {
        policyRejected(target, code: 504, "need fully-qualified address", enhanced: EnhancedStatusCode(5, 5, 2))
    }

    /// `450 4.1.2 <address>: Recipient address rejected: Domain not found` (code: unknown_address_reject_code;
    /// 4.1.2 for recipients, 4.1.8 for senders, in the code's class).
    public static func domainNotFound(_ target: PolicyTarget, code: Int) -> SMTPReply {
        let detail = if case .sender = target { 8 } else { 2 }
        return policyRejected(target, code: code, "Domain not found", enhanced: EnhancedStatusCode(code / 100, 1, detail))
    }

    /// `503 5.5.0 <RCPT>: Data command rejected: Improper use of SMTP command pipelining`: reject_unauth_pipelining.
    public static func improperPipelining(verb: String) -> SMTPReply {
        SMTPReply(503, EnhancedStatusCode(5, 5, 0), "<\(verb)>: Data command rejected: Improper use of SMTP command pipelining")
    }

    /// `554 5.5.0 Error: SMTP protocol synchronization`: commands sent ahead where that is not allowed
    /// (smtpd_forbid_unauth_pipelining); the server hangs up after it.
    public static let protocolSynchronization = SMTPReply(554, EnhancedStatusCode(5, 5, 0), "Error: SMTP protocol synchronization")

    /// `553 5.7.1 <address>: Sender address rejected: not owned by user alice` (reject_sender_login_mismatch).
    public static func senderNotOwned(_ address: String, login: String?) -> SMTPReply {
        let text = login.map { "not owned by user \($0)" } ?? "not logged in"
        return policyRejected(.sender(address), code: 553, text, enhanced: EnhancedStatusCode(5, 7, 1))
    }

    /// `550 5.7.23 <alice@example.com>: Sender address rejected: SPF fail: ...` (reject_spf_fail; RFC 7372's code
    /// for "SPF validation failed"). The text is the domain owner's explanation (its `exp=`) when it gave one,
    /// cut to keep the line within SMTP's 512 octets.
    public static func spfFail(_ target: PolicyTarget, domain: String, client: String, explanation: String?) -> SMTPReply {
        let text = explanation.map { String($0.prefix(300)) } ?? "\(domain) does not designate \(client) as permitted sender"
        return policyRejected(target, code: 550, "SPF fail: \(text)", enhanced: EnhancedStatusCode(5, 7, 23))
    }

    /// `451 4.7.24 <alice@example.com>: Sender address rejected: SPF temporary error ...` (reject_spf_fail when
    /// the DNS failed; RFC 7372's "SPF validation error", in the temporary class).
    public static func spfTemporaryError(_ target: PolicyTarget, domain: String) -> SMTPReply {
        policyRejected(
            target, code: 451, "SPF temporary error looking up \(domain); try again later",
            enhanced: EnhancedStatusCode(4, 7, 24))
    }

    /// `554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.example; listed since ...`: a DNS
    /// blocklist lists the client or a domain of the request (Postfix's default_rbl_reply, with the list's TXT
    /// record as the reason when it has one).
    /// - Parameters:
    ///   - code: `maps_rbl_reject_code`.
    ///   - replyClass: what was listed: `Client host`, `Helo command`, `Sender address`, `Recipient address`.
    ///   - what: the address or name that was looked up.
    public static func blocklisted(code: Int, _ replyClass: String, what: String, zone: String, reason: String?) -> SMTPReply {
        let reason = reason.map { $0.isEmpty ? "" : "; " + $0 } ?? ""
        return SMTPReply(
            code, EnhancedStatusCode(code / 100, 7, 1), "Service unavailable; \(replyClass) [\(what)] blocked using \(zone)\(reason)")
    }

    /// `451 4.3.5 Server configuration error`: a restriction list or table smtpd cannot use.
    public static let serverConfigurationError = SMTPReply(451, EnhancedStatusCode(4, 3, 5), "Server configuration error")

    /// `452 4.5.3 Error: too many recipients`: RCPT beyond `smtpd_recipient_limit`.
    public static let tooManyRecipients = SMTPReply(452, EnhancedStatusCode(4, 5, 3), "Error: too many recipients")

    // MARK: - Message content

    /// `552 5.3.4 Message size exceeds fixed limit`: SIZE= or the message itself is over `message_size_limit`.
    public static let messageTooBig = SMTPReply(552, EnhancedStatusCode(5, 3, 4), "Message size exceeds fixed limit")

    /// `552 5.3.4 Message size exceeds file system imposed limit`: SIZE= too large to even represent.
    public static let sizeExceedsFileSystemLimit = SMTPReply(
        552,
        EnhancedStatusCode(5, 3, 4),
        "Message size exceeds file system imposed limit"
    )

    /// `452 4.3.1 Insufficient system storage`: the queue's file system is (nearly) full; try again later.
    public static let insufficientStorage = SMTPReply(452, EnhancedStatusCode(4, 3, 1), "Insufficient system storage")

    /// `554 5.4.6 Error: too many hops`: the message carries `hopcount_limit` Received: fields, so it is going
    /// round in a loop. (Postfix says 5.4.0; 5.4.6 is RFC 3463's code for a routing loop.)
    public static let tooManyHops = SMTPReply(554, EnhancedStatusCode(5, 4, 6), "Error: too many hops")

    /// `550 5.5.2 Error: bare <LF> received`: a line ended in LF without CR (SMTP smuggling, CVE-2023-51764).
    public static let bareLineFeed = SMTPReply(550, EnhancedStatusCode(5, 5, 2), "Error: bare <LF> received")

    /// `550 5.5.2 Error: bare <CR> received`: a CR not followed by LF.
    public static let bareCarriageReturn = SMTPReply(550, EnhancedStatusCode(5, 5, 2), "Error: bare <CR> received")

    // MARK: - Local trouble

    /// `451 4.3.0 Error: queue file write error`: the message could not be stored; the client will retry.
    public static let localError = SMTPReply(451, EnhancedStatusCode(4, 3, 0), "Error: queue file write error")

    /// `451 4.3.0 Temporary lookup failure`: a table or DNS lookup failed for a reason that may pass.
    public static let temporaryLookupFailure = SMTPReply(451, EnhancedStatusCode(4, 3, 0), "Temporary lookup failure")
}
