import AviaryMessage
import AviarySMTP
import NIOCore
import Testing

/// One command line and what the parser must make of it: a command, or the reply code and enhanced code that
/// refuse it (nil enhanced code for replies that have none).
struct CommandFixture: Sendable, CustomTestStringConvertible {
    enum Expected: Sendable {
        case command(SMTPCommand)
        case reply(Int, String?)
    }

    var line: [UInt8]
    var expected: Expected

    init(_ line: String, _ command: SMTPCommand) {
        self.line = Array(line.utf8)
        self.expected = .command(command)
    }

    init(_ line: String, _ code: Int, _ enhanced: String?) {
        self.line = Array(line.utf8)
        self.expected = .reply(code, enhanced)
    }

    init(bytes: [UInt8], _ code: Int, _ enhanced: String?) {
        self.line = bytes
        self.expected = .reply(code, enhanced)
    }

    var testDescription: String { String(decoding: line, as: UTF8.self).debugDescription }
}

private func address(_ text: String) -> MailAddress {
    guard let address = MailAddress(parsing: text) else { fatalError("bad test address \(text)") }
    return address
}

private func mail(_ text: String?, _ parameters: SMTPMailParameters = SMTPMailParameters()) -> SMTPCommand {
    .mail(reversePath: text.map(address), parameters: parameters)
}

private func rcpt(_ text: String, _ parameters: SMTPRecipientParameters = SMTPRecipientParameters()) -> SMTPCommand {
    .rcpt(forwardPath: address(text), parameters: parameters)
}

@Suite("SMTPCommandParser")
struct SMTPCommandParserTests {
    static let helloFixtures: [CommandFixture] = [
        CommandFixture("EHLO mail.example.com", .ehlo("mail.example.com")),
        CommandFixture("ehlo mail.example.com", .ehlo("mail.example.com")),
        CommandFixture("EhLo [192.0.2.1]", .ehlo("[192.0.2.1]")),
        CommandFixture("HELO x", .helo("x")),
        CommandFixture("  EHLO  host.example  ", .ehlo("host.example")),
        CommandFixture("EHLO\thost.example", .ehlo("host.example")),
        // Postfix takes any name; reject_invalid_helo_hostname is policy, not syntax.
        CommandFixture("HELO my_laptop", .helo("my_laptop")),
        CommandFixture("HELO two words", .helo("two words")),
        CommandFixture("EHLO", 501, nil),
        CommandFixture("HELO", 501, nil),
        CommandFixture("EHLO    ", 501, nil),
        CommandFixture("EHLO a\u{1}b", 501, nil),
        CommandFixture("EHLO a\rb", 501, nil),
    ]

    static let mailFixtures: [CommandFixture] = [
        CommandFixture("MAIL FROM:<user@example.com>", mail("user@example.com")),
        CommandFixture("mail from:<user@example.com>", mail("user@example.com")),
        CommandFixture("MAIL FROM: <user@example.com>", mail("user@example.com")),
        CommandFixture("MAIL  FROM:   <user@example.com>  ", mail("user@example.com")),
        CommandFixture("MAIL FROM:user@example.com", mail("user@example.com")),
        CommandFixture("MAIL FROM:user@example.com SIZE=5", mail("user@example.com", SMTPMailParameters(size: 5))),
        CommandFixture("MAIL FROM:<>", mail(nil)),
        CommandFixture("MAIL FROM: <>", mail(nil)),
        CommandFixture("MAIL FROM:<@relay.example:user@example.com>", mail("user@example.com")),
        CommandFixture("MAIL FROM:<@a.example,@b.example:user@example.com>", mail("user@example.com")),
        CommandFixture("MAIL FROM:<\"john doe\"@example.com>", mail("\"john doe\"@example.com")),
        CommandFixture("MAIL FROM:<\"a>b\"@example.com>", mail("\"a>b\"@example.com")),
        CommandFixture("MAIL FROM:<\"a\\\"> b\"@example.com>", mail("\"a\\\"> b\"@example.com")),
        CommandFixture("MAIL FROM:<user@[192.0.2.1]>", mail("user@[192.0.2.1]")),
        CommandFixture("MAIL FROM:<user@[IPv6:2001:db8::1]>", mail("user@[IPv6:2001:db8::1]")),
        CommandFixture("MAIL FROM:<jörg@bücher.example>", mail("jörg@bücher.example")),
        CommandFixture(
            "MAIL FROM:<jörg@bücher.example> SMTPUTF8",
            mail("jörg@bücher.example", SMTPMailParameters(isSMTPUTF8: true))
        ),
        CommandFixture(
            "MAIL FROM:<> SIZE=1000 BODY=8BITMIME",
            mail(nil, SMTPMailParameters(size: 1000, body: .eightBitMIME))
        ),
        CommandFixture("MAIL FROM:<a@b> body=7bit", mail("a@b", SMTPMailParameters(body: .sevenBit))),
        CommandFixture("MAIL FROM:<a@b> BODY=BINARYMIME", mail("a@b", SMTPMailParameters(body: .binaryMIME))),
        CommandFixture("MAIL FROM:<a@b>\tsize=0", mail("a@b", SMTPMailParameters(size: 0))),
        CommandFixture(
            "MAIL FROM:<a@b> RET=HDRS ENVID=QQ314159+2Bx+20y",
            mail("a@b", SMTPMailParameters(dsnReturn: .headers, envelopeID: DSNEnvelopeID("QQ314159+x y")))
        ),
        CommandFixture("MAIL FROM:<a@b> ret=full", mail("a@b", SMTPMailParameters(dsnReturn: .full))),
        CommandFixture("MAIL FROM:<a@b> AUTH=<>", mail("a@b", SMTPMailParameters(authenticatedSubmitter: "<>"))),
        CommandFixture(
            "MAIL FROM:<a@b> AUTH=joe+40example.com",
            mail("a@b", SMTPMailParameters(authenticatedSubmitter: "joe+40example.com"))
        ),
        CommandFixture(
            "MAIL FROM:<a@b> SIZE=99999 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=x AUTH=<>",
            mail(
                "a@b",
                SMTPMailParameters(
                    size: 99999,
                    body: .eightBitMIME,
                    isSMTPUTF8: true,
                    dsnReturn: .full,
                    envelopeID: DSNEnvelopeID("x"),
                    authenticatedSubmitter: "<>"
                )
            )
        ),
        // The keyword and "FROM:" checks come first: 501 5.5.4.
        CommandFixture("MAIL", 501, "5.5.4"),
        CommandFixture("MAIL FROM", 501, "5.5.4"),
        CommandFixture("MAIL FROM:", 501, "5.5.4"),
        CommandFixture("MAIL FROM:   ", 501, "5.5.4"),
        CommandFixture("MAIL TO:<a@b>", 501, "5.5.4"),
        CommandFixture("MAIL FROM <a@b>", 501, "5.5.4"),
        CommandFixture("MAIL FROM :<a@b>", 501, "5.5.4"),
        CommandFixture("MAILFROM:<a@b>", .unknown(verb: "MAILFROM:<A@B>")),
        // Then the address: 501 5.1.7.
        CommandFixture("MAIL FROM:<a@b", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<a@b>x", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<a@b>>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<<a@b>>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<a b@c>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<user>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<postmaster>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<user@>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<\"unterminated@example.com>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:\"unterminated@example.com", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<@relay.example>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<@relay.example:>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<" + String(repeating: "a", count: 65) + "@example.com>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<a@b\u{0}c>", 501, "5.1.7"),
        CommandFixture("MAIL FROM:<a@b\rc>", 501, "5.1.7"),
        // Then each parameter: unknown 555 5.5.4, malformed or repeated 501 5.5.4.
        CommandFixture("MAIL FROM:<a@b> FOO=bar", 555, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> FOO", 555, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> =x", 555, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> -X=1", 555, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> NOTIFY=NEVER", 555, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ORCPT=rfc822;a@b", 555, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE=abc", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE=", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE=-1", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE=1=2", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE=1 SIZE=2", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE=99999999999999999999", 552, "5.3.4"),
        CommandFixture("MAIL FROM:<a@b> SIZE=999999999999999999999", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> BODY=9BIT", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> BODY", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> BODY=7BIT BODY=8BITMIME", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> SMTPUTF8=yes", 501, "5.5.4"),
        // A parameter repeated with the same value counts once (Python's smtplib adds its own SIZE=).
        CommandFixture("MAIL FROM:<a@b> SMTPUTF8 SMTPUTF8", mail("a@b", SMTPMailParameters(isSMTPUTF8: true))),
        CommandFixture("MAIL FROM:<a@b> size=5 SIZE=5", mail("a@b", SMTPMailParameters(size: 5))),
        CommandFixture("MAIL FROM:<a@b> RET=ALL", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> RET=FULL RET=FULL", mail("a@b", SMTPMailParameters(dsnReturn: .full))),
        CommandFixture("MAIL FROM:<a@b> RET=FULL RET=HDRS", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ENVID=", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ENVID=a=b", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ENVID=+0A", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ENVID=+C3+B6", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ENVID=+4", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ENVID=x ENVID=y", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> ENVID=" + String(repeating: "x", count: 101), 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> AUTH=", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> AUTH=a+zz", 501, "5.5.4"),
        CommandFixture("MAIL FROM:<a@b> AUTH=<> AUTH=<>", 503, "5.5.4"),
        // The address is checked before the parameters, as in Postfix.
        CommandFixture("MAIL FROM:<bad address> FOO=bar", 501, "5.1.7"),
    ]

    static let recipientFixtures: [CommandFixture] = [
        CommandFixture("RCPT TO:<user@example.com>", rcpt("user@example.com")),
        CommandFixture("rcpt to:<user@example.com>", rcpt("user@example.com")),
        CommandFixture("RCPT TO: <user@example.com>", rcpt("user@example.com")),
        CommandFixture("RCPT TO:user@example.com", rcpt("user@example.com")),
        CommandFixture("RCPT TO:<postmaster>", .rcpt(forwardPath: .barePostmaster, parameters: .init())),
        CommandFixture("RCPT TO:<PostMaster>", .rcpt(forwardPath: .barePostmaster, parameters: .init())),
        CommandFixture("RCPT TO:postmaster", .rcpt(forwardPath: .barePostmaster, parameters: .init())),
        CommandFixture("RCPT TO:<postmaster@example.com>", rcpt("postmaster@example.com")),
        CommandFixture("RCPT TO:<@a.example,@b.example:user@d.example>", rcpt("user@d.example")),
        CommandFixture("RCPT TO:<jörg@bücher.example>", rcpt("jörg@bücher.example")),
        CommandFixture(
            "RCPT TO:<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@c",
            rcpt(
                "a@b",
                SMTPRecipientParameters(
                    notify: [.success, .failure],
                    originalRecipient: DSNOriginalRecipient(addressType: "rfc822", address: "a+b@c")
                )
            )
        ),
        CommandFixture("RCPT TO:<a@b> NOTIFY=never", rcpt("a@b", SMTPRecipientParameters(notify: .never))),
        CommandFixture("RCPT TO:<a@b> notify=delay", rcpt("a@b", SMTPRecipientParameters(notify: .delay))),
        CommandFixture(
            "RCPT TO:<a@b> NOTIFY=DELAY,SUCCESS,FAILURE",
            rcpt("a@b", SMTPRecipientParameters(notify: [.delay, .success, .failure]))
        ),
        CommandFixture(
            "RCPT TO:<a@b> ORCPT=utf-8;j\\x{F6}rg@example.com",
            rcpt(
                "a@b",
                SMTPRecipientParameters(
                    originalRecipient: DSNOriginalRecipient(addressType: "utf-8", address: "jörg@example.com")
                )
            )
        ),
        CommandFixture("RCPT", 501, "5.5.4"),
        CommandFixture("RCPT TO", 501, "5.5.4"),
        CommandFixture("RCPT TO:", 501, "5.5.4"),
        CommandFixture("RCPT FROM:<a@b>", 501, "5.5.4"),
        CommandFixture("RCPT TO:<>", 501, "5.1.3"),
        CommandFixture("RCPT TO:<a@@b>", 501, "5.1.3"),
        CommandFixture("RCPT TO:<a@b", 501, "5.1.3"),
        CommandFixture("RCPT TO:<\"postmaster\">", 501, "5.1.3"),
        CommandFixture("RCPT TO:<a@b> NOTIFY=NEVER,SUCCESS", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> NOTIFY=", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> NOTIFY=SUCCESS,", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> NOTIFY=SOMETIMES", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> NOTIFY=never NOTIFY=never", rcpt("a@b", SMTPRecipientParameters(notify: .never))),
        CommandFixture("RCPT TO:<a@b> NOTIFY=DELAY NOTIFY=NEVER", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> ORCPT=a@b", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> ORCPT=rfc822;", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> ORCPT=;a@b", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> ORCPT=rfc822;a+zzb", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> ORCPT=rfc822;a+0Ab", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> ORCPT=utf-8;\\x{D800}", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;b", 501, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> SIZE=10", 555, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> SMTPUTF8", 555, "5.5.4"),
        CommandFixture("RCPT TO:<a@b> BODY=8BITMIME", 555, "5.5.4"),
    ]

    static let otherFixtures: [CommandFixture] = [
        CommandFixture("DATA", .data),
        CommandFixture("data", .data),
        CommandFixture("DATA ", .data),
        CommandFixture("DATA now", 501, "5.5.4"),
        CommandFixture("BDAT 100", .bdat(size: 100, isLast: false)),
        CommandFixture("BDAT 100 LAST", .bdat(size: 100, isLast: true)),
        CommandFixture("bdat 0 last", .bdat(size: 0, isLast: true)),
        CommandFixture("BDAT  007   LAST ", .bdat(size: 7, isLast: true)),
        CommandFixture("BDAT 999999999999999999", .bdat(size: 999_999_999_999_999_999, isLast: false)),
        CommandFixture("BDAT", 521, "5.5.4"),
        CommandFixture("BDAT x", 521, "5.5.4"),
        CommandFixture("BDAT -1", 521, "5.5.4"),
        CommandFixture("BDAT +1", 521, "5.5.4"),
        CommandFixture("BDAT 1.5", 521, "5.5.4"),
        CommandFixture("BDAT 10 MORE", 521, "5.5.4"),
        CommandFixture("BDAT 10 LAST extra", 521, "5.5.4"),
        CommandFixture("BDAT 9999999999999999999", 521, "5.5.4"),
        CommandFixture("BDAT 5\r", 521, "5.5.4"),
        CommandFixture("RSET", .rset),
        CommandFixture("rset", .rset),
        CommandFixture("RSET x", 501, "5.5.4"),
        CommandFixture("NOOP", .noop(nil)),
        CommandFixture("NOOP hello there", .noop("hello there")),
        CommandFixture("QUIT", .quit),
        CommandFixture("quit now", .quit),
        CommandFixture("VRFY user", .vrfy("user", isSMTPUTF8: false)),
        CommandFixture("VRFY John Smith", .vrfy("John Smith", isSMTPUTF8: false)),
        CommandFixture("VRFY jörg SMTPUTF8", .vrfy("jörg", isSMTPUTF8: true)),
        CommandFixture("VRFY jörg smtputf8", .vrfy("jörg", isSMTPUTF8: true)),
        CommandFixture("VRFY SMTPUTF8", .vrfy("SMTPUTF8", isSMTPUTF8: false)),
        CommandFixture("VRFY", 501, "5.5.4"),
        CommandFixture("EXPN staff", .expn("staff", isSMTPUTF8: false)),
        CommandFixture("EXPN", 501, "5.5.4"),
        CommandFixture("HELP", .help(nil)),
        CommandFixture("HELP MAIL", .help("MAIL")),
        CommandFixture("STARTTLS", .startTLS),
        CommandFixture("starttls", .startTLS),
        CommandFixture("STARTTLS now", 501, "5.5.4"),
        CommandFixture("AUTH PLAIN", .auth(mechanism: "PLAIN", initialResponse: nil)),
        CommandFixture(
            "auth plain dGVzdAB0ZXN0AHRlc3Q=",
            .auth(mechanism: "PLAIN", initialResponse: "dGVzdAB0ZXN0AHRlc3Q=")
        ),
        CommandFixture("AUTH LOGIN =", .auth(mechanism: "LOGIN", initialResponse: "=")),
        CommandFixture("AUTH SCRAM-SHA-256", .auth(mechanism: "SCRAM-SHA-256", initialResponse: nil)),
        CommandFixture("AUTH", 501, "5.5.4"),
        CommandFixture("AUTH PLAIN a b", 501, "5.5.4"),
        CommandFixture("AUTH PL@IN", 501, "5.5.4"),
        CommandFixture("AUTH ABCDEFGHIJKLMNOPQRSTU", 501, "5.5.4"),
        CommandFixture("ETRN example.com", .unknown(verb: "ETRN")),
        CommandFixture("XYZZY", .unknown(verb: "XYZZY")),
        CommandFixture("get / HTTP/1.1", .unknown(verb: "GET")),
        CommandFixture("MAIL-FROM:<a@b>", .unknown(verb: "MAIL-FROM:<A@B>")),
        CommandFixture("", 500, "5.5.2"),
        CommandFixture("   ", 500, "5.5.2"),
        CommandFixture(bytes: Array("MAIL FROM:<".utf8) + [0xFF] + Array("@b>".utf8), 500, "5.5.2"),
        CommandFixture(bytes: [0xC3], 500, "5.5.2"),
        CommandFixture(bytes: Array("NOOP ".utf8) + [0xED, 0xA0, 0x80], 500, "5.5.2"),
    ]

    @Test("HELO and EHLO", arguments: helloFixtures)
    func hello(fixture: CommandFixture) {
        check(fixture)
    }

    @Test("MAIL FROM", arguments: mailFixtures)
    func mailFrom(fixture: CommandFixture) {
        check(fixture)
    }

    @Test("A parameter repeated with another value is refused as a duplicate, not as bad syntax")
    func duplicateParameter() {
        guard case .failure(let error) = SMTPCommandParser.parse(Array("MAIL FROM:<a@b> SIZE=1 SIZE=2".utf8)) else {
            Issue.record("accepted")
            return
        }
        #expect(error.reply.lines == ["Duplicate SIZE parameter"])
    }

    @Test("RCPT TO", arguments: recipientFixtures)
    func rcptTo(fixture: CommandFixture) {
        check(fixture)
    }

    @Test("other commands", arguments: otherFixtures)
    func other(fixture: CommandFixture) {
        check(fixture)
    }

    @Test("a ByteBuffer parses as its bytes do")
    func byteBuffer() throws {
        let result = SMTPCommandParser.parse(ByteBuffer(string: "MAIL FROM:<a@b> SIZE=10"))
        #expect(try result.get() == .mail(reversePath: MailAddress(parsing: "a@b"), parameters: .init(size: 10)))
    }

    @Test("a UTF-8 sender without SMTPUTF8 parses, and tells the session to refuse it")
    func smtputf8Decision() throws {
        let command = try SMTPCommandParser.parse(Array("MAIL FROM:<jörg@x.example>".utf8)).get()
        guard case .mail(let path, let parameters) = command else {
            Issue.record("not a MAIL command")
            return
        }
        #expect(path?.isASCII == false)
        #expect(!parameters.isSMTPUTF8)
    }

    @Test("refusals name the offending option and never echo control characters")
    func refusalTexts() {
        let refusal = failure("MAIL FROM:<a@b> X-FOO=\u{1}bar")
        #expect(refusal?.reply.lines == ["Unsupported option: X-FOO=?bar"])
        #expect(failure("MAIL FROM:<a@b> RET=ALL")?.reply.lines == ["Bad RET parameter syntax"])
        #expect(failure("RCPT TO:<a@b> NOTIFY=x")?.reply.lines == ["Bad NOTIFY parameter syntax"])
        #expect(failure("MAIL FROM:<a b>")?.detail.contains("a b") == true)
    }

    @Test("the BDAT chunk announcement agrees with the parser")
    func chunkAnnouncement() {
        let lines = [
            "BDAT 5", "BDAT 5 LAST", "bdat 0 last", " BDAT 1 ", "BDAT", "BDAT x", "BDAT 5 X", "BDAT 1 LAST x", "NOOP",
            "BDAT 5\r", "BDAT\t3",
        ]
        for line in lines {
            let announcement = SMTPCommandParser.chunkAnnouncement(Array(line.utf8))
            switch SMTPCommandParser.parse(Array(line.utf8)) {
            case .success(.bdat(let size, let isLast)):
                #expect(announcement?.size == size && announcement?.isLast == isLast, "\(line)")
            default:
                #expect(announcement == nil, "\(line)")
            }
        }
    }

    @Test("every verb is named for logs")
    func verbs() throws {
        let lines = [
            "HELO a", "EHLO a", "MAIL FROM:<>", "RCPT TO:<a@b>", "DATA", "BDAT 1", "RSET", "NOOP", "QUIT",
            "VRFY a", "EXPN a", "HELP", "STARTTLS", "AUTH PLAIN", "ETRN x",
        ]
        let verbs = try lines.map { try SMTPCommandParser.parse(Array($0.utf8)).get().verb }
        #expect(
            verbs == [
                "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN",
                "HELP", "STARTTLS", "AUTH", "ETRN",
            ]
        )
    }

    @Test("HELO names are judged by isValidHeloName, not by the parser")
    func heloNames() {
        #expect(SMTPCommandParser.isValidHeloName("mail.example.com"))
        #expect(SMTPCommandParser.isValidHeloName("[192.0.2.1]"))
        #expect(!SMTPCommandParser.isValidHeloName("my_laptop"))
        #expect(!SMTPCommandParser.isValidHeloName("[1.2.3]"))
    }

    @Test("the original recipient prints back as a parameter value")
    func originalRecipientDescription() {
        #expect(DSNOriginalRecipient(addressType: "rfc822", address: "a+b@c")?.description == "rfc822;a+2Bb@c")
        #expect(DSNOriginalRecipient(addressType: "utf-8", address: "jörg@c")?.description == "utf-8;j\\x{F6}rg@c")
        #expect(DSNNotify.never.description == "NEVER")
        #expect(DSNNotify([.failure, .success]).description == "SUCCESS,FAILURE")
    }

    private func failure(_ line: String) -> SMTPCommandError? {
        if case .failure(let error) = SMTPCommandParser.parse(Array(line.utf8)) { return error }
        return nil
    }

    private func check(_ fixture: CommandFixture, sourceLocation: SourceLocation = #_sourceLocation) {
        let result = SMTPCommandParser.parse(fixture.line)
        switch (fixture.expected, result) {
        case (.command(let expected), .success(let command)):
            #expect(command == expected, sourceLocation: sourceLocation)
        case (.reply(let code, let enhanced), .failure(let error)):
            #expect(error.reply.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.reply.enhancedCode?.description == enhanced, "\(error)", sourceLocation: sourceLocation)
        case (.command(let expected), .failure(let error)):
            Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
        case (.reply(let code, let enhanced), .success(let command)):
            Issue.record("expected \(code) \(enhanced ?? ""), got \(command)", sourceLocation: sourceLocation)
        }
    }
}
