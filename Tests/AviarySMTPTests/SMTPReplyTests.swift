import AviarySMTP
import NIOCore
import Testing

/// A reply and the exact bytes it must put on the wire.
struct WireFixture: Sendable, CustomTestStringConvertible {
    var reply: SMTPReply
    var wire: String

    init(_ reply: SMTPReply, _ wire: String) {
        self.reply = reply
        self.wire = wire
    }

    var testDescription: String { wire.debugDescription }
}

@Suite("SMTPReply")
struct SMTPReplyTests {
    static let catalogue: [WireFixture] = [
        WireFixture(.greeting("mx.example.com ESMTP Aviary"), "220 mx.example.com ESMTP Aviary\r\n"),
        WireFixture(.notAcceptingConnections(hostname: "mx"), "554 mx ESMTP not accepting connections\r\n"),
        WireFixture(.closing, "221 2.0.0 Bye\r\n"),
        WireFixture(.serviceUnavailable(hostname: "mx"), "421 4.3.2 mx Service unavailable - try again later\r\n"),
        WireFixture(.timeout(hostname: "mx"), "421 4.4.2 mx Error: timeout exceeded\r\n"),
        WireFixture(.tooManyErrors(hostname: "mx"), "421 4.7.0 mx Error: too many errors\r\n"),
        WireFixture(
            .tooManyConnections(hostname: "mx", client: "192.0.2.1"),
            "421 4.7.0 mx Error: too many connections from 192.0.2.1\r\n"
        ),
        WireFixture(.helo(hostname: "mx.example.com"), "250 mx.example.com\r\n"),
        WireFixture(
            .ehlo(hostname: "mx.example.com", keywords: ["PIPELINING", "SIZE 10240000", "8BITMIME"]),
            "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
        ),
        WireFixture(.ok, "250 2.0.0 Ok\r\n"),
        WireFixture(.noop, "250 2.0.0 Ok\r\n"),
        WireFixture(.reset, "250 2.0.0 Ok\r\n"),
        WireFixture(.senderOk, "250 2.1.0 Ok\r\n"),
        WireFixture(.recipientOk, "250 2.1.5 Ok\r\n"),
        WireFixture(.startData, "354 End data with <CR><LF>.<CR><LF>\r\n"),
        WireFixture(.queued(as: "4XyZ01ab"), "250 2.0.0 Ok: queued as 4XyZ01ab\r\n"),
        WireFixture(.chunkReceived(octets: 1024), "250 2.0.0 Ok, 1024 octets received\r\n"),
        WireFixture(.vrfy("user@example.com"), "252 2.0.0 user@example.com\r\n"),
        WireFixture(.help("Read RFC 5321"), "214 2.0.0 Read RFC 5321\r\n"),
        WireFixture(.readyToStartTLS, "220 2.0.0 Ready to start TLS\r\n"),
        WireFixture(.authChallenge(""), "334\r\n"),
        WireFixture(.authChallenge("VXNlcm5hbWU6"), "334 VXNlcm5hbWU6\r\n"),
        WireFixture(.authSucceeded, "235 2.7.0 Authentication successful\r\n"),
        WireFixture(.authFailed(), "535 5.7.8 Error: authentication failed: authentication failure\r\n"),
        WireFixture(.authAborted, "501 5.7.0 Authentication aborted\r\n"),
        WireFixture(.alreadyAuthenticated, "503 5.5.1 Error: already authenticated\r\n"),
        WireFixture(.authNotEnabled, "503 5.5.1 Error: authentication not enabled\r\n"),
        WireFixture(.unsupportedAuthMechanism, "504 5.5.4 Unsupported authentication mechanism\r\n"),
        WireFixture(
            .encryptionRequiredForAuth,
            "504 5.5.4 Encryption required for requested authentication mechanism\r\n"
        ),
        WireFixture(
            .temporaryAuthFailure("no back end"),
            "454 4.7.0 Temporary authentication failure: no back end\r\n"
        ),
        WireFixture(.encryptionRequired, "530 5.7.0 Must issue a STARTTLS command first\r\n"),
        WireFixture(.authenticationRequired, "530 5.7.0 Authentication required\r\n"),
        WireFixture(.tlsNotAvailable, "454 4.7.0 TLS not available due to local problem\r\n"),
        WireFixture(.tlsAlreadyActive, "554 5.5.1 Error: TLS already active\r\n"),
        WireFixture(.badSyntax, "500 5.5.2 Error: bad syntax\r\n"),
        WireFixture(.badUTF8, "500 5.5.2 Error: bad UTF-8 syntax\r\n"),
        WireFixture(.lineTooLong, "500 5.5.2 Error: line too long\r\n"),
        WireFixture(.unknownCommand, "502 5.5.2 Error: command not recognized\r\n"),
        WireFixture(.commandNotImplemented, "502 5.5.1 Error: command not implemented\r\n"),
        WireFixture(.heloSyntax(verb: "EHLO"), "501 Syntax: EHLO hostname\r\n"),
        WireFixture(.syntax(.mail), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
        WireFixture(.syntax(.rcpt), "501 5.5.4 Syntax: RCPT TO:<address>\r\n"),
        WireFixture(.syntax(.data), "501 5.5.4 Syntax: DATA\r\n"),
        WireFixture(.syntax(.rset), "501 5.5.4 Syntax: RSET\r\n"),
        WireFixture(.syntax(.vrfy), "501 5.5.4 Syntax: VRFY address [SMTPUTF8]\r\n"),
        WireFixture(.syntax(.expn), "501 5.5.4 Syntax: EXPN mailing-list [SMTPUTF8]\r\n"),
        WireFixture(.syntax(.startTLS), "501 5.5.4 Syntax: STARTTLS\r\n"),
        WireFixture(.syntax(.auth), "501 5.5.4 Syntax: AUTH mechanism\r\n"),
        WireFixture(.bdatSyntax, "521 5.5.4 Syntax: BDAT count [LAST]\r\n"),
        WireFixture(.badSenderSyntax, "501 5.1.7 Bad sender address syntax\r\n"),
        WireFixture(.badRecipientSyntax, "501 5.1.3 Bad recipient address syntax\r\n"),
        WireFixture(.badSizeSyntax, "501 5.5.4 Bad message size syntax\r\n"),
        WireFixture(.badParameterSyntax("RET"), "501 5.5.4 Bad RET parameter syntax\r\n"),
        WireFixture(.unsupportedParameter("FOO=bar"), "555 5.5.4 Unsupported option: FOO=bar\r\n"),
        WireFixture(.smtputf8Required, "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n"),
        WireFixture(.dsnDisabled, "501 5.7.1 DSN support is disabled\r\n"),
        WireFixture(.multipleAuthParameters, "503 5.5.4 Error: multiple AUTH= options\r\n"),
        WireFixture(.badSequence, "503 5.5.1 Error: bad sequence of commands\r\n"),
        WireFixture(.sendHeloFirst, "503 5.5.1 Error: send HELO/EHLO first\r\n"),
        WireFixture(.nestedMail, "503 5.5.1 Error: nested MAIL command\r\n"),
        WireFixture(.needMail, "503 5.5.1 Error: need MAIL command\r\n"),
        WireFixture(.needRecipient, "503 5.5.1 Error: need RCPT command\r\n"),
        WireFixture(.needRecipients, "554 5.5.1 Error: no valid recipients\r\n"),
        WireFixture(.transactionInProgress, "503 5.5.1 Error: MAIL transaction in progress\r\n"),
        WireFixture(.afterBDAT("DATA"), "503 5.5.1 Error: DATA after BDAT\r\n"),
        WireFixture(.nullBDAT, "551 5.7.1 Null BDAT request\r\n"),
        WireFixture(.vrfyDisabled, "502 5.5.1 VRFY command is disabled\r\n"),
        WireFixture(
            .unknownUser("nobody@example.com", table: .localRecipient),
            "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table\r\n"
        ),
        WireFixture(
            .unknownUser("nobody@virtual.example", table: .virtualMailbox),
            "550 5.1.1 <nobody@virtual.example>: Recipient address rejected: User unknown in virtual mailbox table\r\n"
        ),
        WireFixture(
            .relayDenied("user@elsewhere.example"),
            "554 5.7.1 <user@elsewhere.example>: Relay access denied\r\n"
        ),
        WireFixture(.tooManyRecipients, "452 4.5.3 Error: too many recipients\r\n"),
        WireFixture(.messageTooBig, "552 5.3.4 Message size exceeds fixed limit\r\n"),
        WireFixture(.sizeExceedsFileSystemLimit, "552 5.3.4 Message size exceeds file system imposed limit\r\n"),
        WireFixture(.bareLineFeed, "550 5.5.2 Error: bare <LF> received\r\n"),
        WireFixture(.bareCarriageReturn, "550 5.5.2 Error: bare <CR> received\r\n"),
        WireFixture(.localError, "451 4.3.0 Error: queue file write error\r\n"),
        WireFixture(.temporaryLookupFailure, "451 4.3.0 Temporary lookup failure\r\n"),
    ]

    @Test("every catalogue reply has its exact wire form", arguments: catalogue)
    func catalogueWireForm(fixture: WireFixture) {
        #expect(wire(fixture.reply) == fixture.wire)
        #expect(fixture.reply.description == fixture.wire)
    }

    @Test("every catalogue reply's enhanced code has the class of its reply code", arguments: catalogue)
    func enhancedClassMatchesCode(fixture: WireFixture) {
        guard let enhanced = fixture.reply.enhancedCode else { return }
        #expect(enhanced.statusClass == fixture.reply.code / 100)
    }

    @Test("a multi-line reply repeats the code and the enhanced code on every line")
    func multiLine() {
        let reply = SMTPReply(code: 550, enhancedCode: EnhancedStatusCode(5, 7, 1), lines: ["first", "second", "last"])
        #expect(wire(reply) == "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 last\r\n")
    }

    @Test("empty text gives no trailing space")
    func emptyText() {
        #expect(wire(SMTPReply(code: 250, lines: [""])) == "250\r\n")
        #expect(wire(SMTPReply(code: 250, lines: [])) == "250\r\n")
        #expect(wire(SMTPReply(code: 250, enhancedCode: EnhancedStatusCode(2, 0, 0), text: "")) == "250 2.0.0\r\n")
        #expect(wire(SMTPReply(code: 250, lines: ["", "x"])) == "250-\r\n250 x\r\n")
    }

    @Test("control characters from client input cannot forge reply lines")
    func sanitizesText() {
        let reply = SMTPReply.relayDenied("a\r\n250 2.0.0 Ok\u{0}@b")
        #expect(wire(reply) == "554 5.7.1 <a??250 2.0.0 Ok?@b>: Relay access denied\r\n")
        #expect(wire(.unsupportedParameter("X=\u{7F}")) == "555 5.5.4 Unsupported option: X=?\r\n")
    }

    @Test("reply classes")
    func classes() {
        #expect(SMTPReply.ok.isPositive && !SMTPReply.ok.isTransientFailure && !SMTPReply.ok.isPermanentFailure)
        #expect(SMTPReply.startData.isPositive)
        #expect(SMTPReply.tooManyRecipients.isTransientFailure && !SMTPReply.tooManyRecipients.isPositive)
        #expect(SMTPReply.relayDenied("x@y").isPermanentFailure)
        #expect(SMTPReply.closing.closesConnection)
        #expect(SMTPReply.timeout(hostname: "mx").closesConnection)
        #expect(SMTPReply.bdatSyntax.closesConnection)
        #expect(!SMTPReply.badSyntax.closesConnection)
    }

    @Test("enhanced status codes print and parse as class.subject.detail")
    func enhancedStatusCode() {
        #expect(EnhancedStatusCode(2, 0, 0).description == "2.0.0")
        #expect(EnhancedStatusCode(5, 7, 27).description == "5.7.27")
        #expect(EnhancedStatusCode(parsing: "5.1.10") == EnhancedStatusCode(5, 1, 10))
        #expect(EnhancedStatusCode(parsing: "4.4.2") == EnhancedStatusCode(4, 4, 2))
        for text in ["", "5", "5.1", "5.1.1.1", "3.0.0", "25.0.0", "5.1000.0", "5.a.0", "5..1", "+5.1.1", "5.1.-1"] {
            #expect(EnhancedStatusCode(parsing: text) == nil, "\(text)")
        }
    }

    @Test(
        "an enhanced status code's class says success, transient or permanent failure",
        arguments: [
            ("2.0.0", EnhancedStatusCode.Class.success), ("4.2.2", .persistentTransientFailure),
            ("4.4.1", .persistentTransientFailure), ("5.1.1", .permanentFailure), ("5.7.27", .permanentFailure),
        ]
    )
    func enhancedStatusClass(text: String, kind: EnhancedStatusCode.Class) throws {
        let code = try #require(EnhancedStatusCode(parsing: text))
        #expect(code.kind == kind)
        #expect(EnhancedStatusCode(3, 0, 0).kind == nil)
    }

    @Test("a code keeps its subject and detail in another class; subject 4 is network and routing")
    func enhancedStatusWithClass() {
        #expect(EnhancedStatusCode(4, 4, 1).withClass(.permanentFailure).description == "5.4.1")
        #expect(EnhancedStatusCode(5, 7, 27).withClass(.persistentTransientFailure).description == "4.7.27")
        #expect(EnhancedStatusCode(2, 0, 0).withClass(.success) == EnhancedStatusCode(2, 0, 0))
        #expect(EnhancedStatusCode(4, 4, 2).isNetworkOrRouting)
        #expect(!EnhancedStatusCode(4, 2, 2).isNetworkOrRouting)
    }

    @Test("an error describes its reply and its detail")
    func errorDescription() {
        let error = SMTPCommandError(.syntax(.mail), detail: "MAIL without FROM:")
        #expect(error.description == "501 5.5.4 Syntax: MAIL FROM:<address> (MAIL without FROM:)")
    }

    @Test("the encoder handler writes replies as bytes")
    func encoder() throws {
        var buffer = ByteBuffer()
        try SMTPReplyEncoder().encode(data: .closing, out: &buffer)
        #expect(String(buffer: buffer) == "221 2.0.0 Bye\r\n")
    }

    private func wire(_ reply: SMTPReply) -> String {
        var buffer = ByteBuffer()
        reply.encode(into: &buffer)
        return String(buffer: buffer)
    }
}
