import AviarySMTP
import NIOCore
import Testing

/// Drives an engine with no socket: bytes through the real `SMTPFrameDecoder` (which sees the replies, as in
/// smtpd's pipeline), frames in, replies (as wire text without CR LF) and the other actions out. Questions are
/// answered by `decide`, as smtpd's or sendmail's driver would.
private struct Driver {
    var engine: SMTPServerEngine
    var decoder: SMTPFrameDecoder
    var decide: (SMTPServerEngine.Question) -> SMTPServerEngine.Decision
    /// Every reply line, e.g. `250 2.1.0 Ok`.
    var replies: [String] = []
    var questions: [SMTPServerEngine.Question] = []
    var notes: [SMTPServerEngine.Note] = []
    var abandoned: [SMTPServerEngine.MessageRefusal] = []
    var delays: [Int] = []
    var message: [UInt8] = []
    var began = 0
    var startedTLS = false
    var cancelledAuthentications = 0
    var closed = false

    init(
        _ options: SMTPServerEngine.Options = Driver.networkOptions,
        decide: @escaping (SMTPServerEngine.Question) -> SMTPServerEngine.Decision = Driver.acceptAll
    ) {
        engine = SMTPServerEngine(options: options)
        decoder = SMTPFrameDecoder(maximumLineLength: 64, normalizesBareLineFeeds: options.acceptsBareLineEndings)
        self.decide = decide
        perform(engine.start())
    }

    static var networkOptions: SMTPServerEngine.Options {
        var options = SMTPServerEngine.Options(hostname: "mx.example.test", banner: "mx.example.test ESMTP Aviary")
        options.messageSizeLimit = 1000
        options.recipientLimit = 3
        options.allowsChunking = true
        options.startTLS = .available
        options.softErrorLimit = 3
        options.hardErrorLimit = 5
        options.errorSleepSeconds = 1
        return options
    }

    static func acceptAll(_ question: SMTPServerEngine.Question) -> SMTPServerEngine.Decision {
        switch question {
        case .commit: .answer(.queued(as: "4ABC"))
        case .verify(let address): .answer(.vrfy(address))
        case .authenticate, .authResponse: .answer(.authFailed())
        default: .proceed
        }
    }

    mutating func perform(_ actions: [SMTPServerEngine.Action]) {
        for action in actions {
            switch action {
            case .reply(let reply, let delay):
                decoder.write(data: reply)
                replies += reply.description.split(separator: "\r\n").map(String.init)
                if delay > 0 { delays.append(delay) }
            case .ask(let question):
                questions.append(question)
                perform(engine.decide(decide(question)))
            case .startTLS: startedTLS = true
            case .cancelAuthentication: cancelledAuthentications += 1
            case .beginMessage: began += 1
            case .messageData(let bytes): message += bytes.readableBytesView
            case .abandonMessage(let reason): abandoned.append(reason)
            case .note(let note): notes.append(note)
            case .close: closed = true
            }
        }
    }

    /// Sends command or message lines (CR LF endings); returns the replies they produced.
    @discardableResult
    mutating func send(_ lines: String...) -> [String] {
        send(raw: lines.map { $0 + "\r\n" }.joined())
    }

    /// Sends bytes as they are, one line at a time (so no command is followed by input); returns the replies.
    @discardableResult
    mutating func send(raw: String) -> [String] {
        let before = replies.count
        var input = ByteBuffer(string: raw)
        while let frame = decoder.nextFrame(from: &input) {
            var frame = frame
            if case .line(var line) = frame {
                line.isFollowedByInput = false
                frame = .line(line)
            }
            perform(engine.receive(frame))
        }
        return Array(replies[before...])
    }

    @discardableResult
    mutating func send(frame: SMTPInboundFrame) -> [String] {
        let before = replies.count
        perform(engine.receive(frame))
        return Array(replies[before...])
    }

    /// One BDAT chunk: the command line, then its octets.
    @discardableResult
    mutating func bdat(_ content: String, last: Bool = false) -> [String] {
        send(raw: "BDAT \(content.utf8.count)\(last ? " LAST" : "")\r\n" + content)
    }

    var text: String { String(decoding: message, as: UTF8.self) }
}

@Suite("SMTPServerEngine")
struct SMTPServerEngineTests {
    @Test("the greeting, and EHLO's keywords follow the options")
    func ehloKeywords() {
        var network = Driver()
        #expect(network.replies == ["220 mx.example.test ESMTP Aviary"])
        let keywords = network.send("EHLO client.test").map { String($0.dropFirst(4)) }
        #expect(keywords == [
            "mx.example.test", "PIPELINING", "SIZE 1000", "VRFY", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME",
            "DSN", "SMTPUTF8", "CHUNKING",
        ])
        var local = SMTPServerEngine.Options(hostname: "host.test", banner: "host.test ESMTP")
        local.allowsVRFY = false
        var sendmail = Driver(local)
        sendmail.engine.authMechanisms = ["PLAIN"]
        #expect(sendmail.send("EHLO me").map { String($0.dropFirst(4)) } == [
            "host.test", "PIPELINING", "SIZE 0", "AUTH PLAIN", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8",
        ])
        #expect(sendmail.send("STARTTLS", "BDAT 0 LAST") == [
            "502 5.5.1 Error: command not implemented", "502 5.5.1 Error: command not implemented",
        ])
    }

    @Test("commands out of order get 503 or 554, each counted as a failure", arguments: [
        (["RCPT TO:<a@b.test>"], "503 5.5.1 Error: need MAIL command"),
        (["DATA"], "503 5.5.1 Error: need MAIL command"),
        (["MAIL FROM:<s@x.test>", "DATA"], "554 5.5.1 Error: no valid recipients"),
        (["MAIL FROM:<s@x.test>", "MAIL FROM:<t@x.test>"], "503 5.5.1 Error: nested MAIL command"),
        (["MAIL FROM:<s@x.test>", "AUTH PLAIN"], "503 5.5.1 Error: authentication not enabled"),
    ])
    func sequence(commands: [String], last: String) {
        var driver = Driver()
        driver.send("EHLO client.test")
        for command in commands { driver.send(command) }
        #expect(driver.replies.last == last)
    }

    @Test("a DATA transaction asks sender, recipient, data and commit, and stores the message de-stuffed")
    func dataTransaction() {
        var driver = Driver()
        driver.send("EHLO client.test", "MAIL FROM:<s@x.test> BODY=8BITMIME", "RCPT TO:<a@b.test> NOTIFY=NEVER")
        #expect(driver.send("DATA") == ["354 End data with <CR><LF>.<CR><LF>"])
        #expect(driver.began == 1)
        #expect(driver.engine.transaction?.recipients.map(\.address) == ["a@b.test"])
        #expect(driver.send("Subject: hi", "", "..dot", ".") == ["250 2.0.0 Ok: queued as 4ABC"])
        #expect(driver.text == "Subject: hi\r\n\r\n.dot\r\n")
        #expect(driver.questions.count == 4)
        guard case .sender("s@x.test", _) = driver.questions[0], case .recipient("a@b.test", _) = driver.questions[1],
            driver.questions[2] == .data, driver.questions[3] == .commit
        else {
            Issue.record("questions: \(driver.questions)")
            return
        }
        #expect(driver.engine.transaction == nil)
        driver.send("QUIT")
        #expect(driver.closed)
        #expect(driver.engine.statistics.map { "\($0.verb)=\($0.successes)/\($0.attempts)" } == [
            "ehlo=1/1", "mail=1/1", "rcpt=1/1", "data=1/1", "quit=1/1",
        ])
    }

    @Test("a refused recipient is not added; a refused DATA ends the transaction")
    func refusals() {
        var driver = Driver(decide: { question in
            switch question {
            case .recipient("bad@b.test", _): .answer(.relayDenied("bad@b.test"))
            case .data: .answer(.temporaryLookupFailure)
            default: Driver.acceptAll(question)
            }
        })
        driver.send("EHLO c", "MAIL FROM:<>", "RCPT TO:<bad@b.test>", "RCPT TO:<ok@b.test>")
        #expect(driver.engine.transaction?.recipients.map(\.address) == ["ok@b.test"])
        #expect(driver.send("DATA") == ["451 4.3.0 Temporary lookup failure"])
        #expect(driver.engine.transaction == nil && driver.began == 0)
    }

    @Test("a bare LF in DATA refuses the whole message after its real end; sendmail -bs takes it as CR LF")
    func bareLineFeed() {
        var driver = Driver()
        driver.send("EHLO c", "MAIL FROM:<s@x.test>", "RCPT TO:<a@b.test>", "DATA")
        // "." right after a bare LF is not the end (SMTP smuggling): the message goes on to the real one.
        #expect(driver.send(raw: "one\n.\ntwo\r\n.\r\n") == ["550 5.5.2 Error: bare <LF> received"])
        #expect(driver.abandoned == [.bareLineFeed])
        #expect(!driver.questions.contains(.commit))

        var options = SMTPServerEngine.Options(hostname: "h", banner: "h")
        options.acceptsBareLineEndings = true
        var local = Driver(options)
        local.send(raw: "HELO me\nMAIL FROM:<s@x.test>\nRCPT TO:<a@b.test>\nDATA\n")
        #expect(local.send(raw: "one\r\nt\rwo\n.\n") == ["250 2.0.0 Ok: queued as 4ABC"])
        #expect(local.text == "one\r\nt\rwo\r\n")
    }

    @Test("sizes: a declared SIZE over the limit is refused at MAIL; a longer message is read and refused")
    func sizeLimit() {
        var driver = Driver()
        driver.send("EHLO c")
        #expect(driver.send("MAIL FROM:<s@x.test> SIZE=2000") == ["552 5.3.4 Message size exceeds fixed limit"])
        guard case .rejected(verb: "MAIL", _, sender: "s@x.test") = driver.notes.last else {
            Issue.record("notes: \(driver.notes)")
            return
        }
        driver.send("MAIL FROM:<s@x.test>", "RCPT TO:<a@b.test>", "DATA")
        for _ in 0..<20 { driver.send(String(repeating: "x", count: 98)) }
        #expect(driver.send(".") == ["552 5.3.4 Message size exceeds fixed limit"])
        #expect(driver.abandoned == [.tooBig])
    }

    @Test("BDAT: chunks in order, a refused chunk is still read, RSET or a null chunk throws the message away")
    func chunking() {
        var driver = Driver()
        driver.send("EHLO c")
        #expect(driver.bdat("early") == ["503 5.5.1 Error: need MAIL command"])
        driver.send("MAIL FROM:<s@x.test>", "RCPT TO:<a@b.test>")
        #expect(driver.bdat("Subject: x\r\n") == ["250 2.0.0 Ok, 12 octets received"])
        #expect(driver.send("MAIL FROM:<t@x.test>") == ["503 5.5.1 Error: MAIL after BDAT"])
        #expect(driver.bdat("\r\nbody\r\n", last: true) == ["250 2.0.0 Ok: queued as 4ABC"])
        #expect(driver.text == "Subject: x\r\n\r\nbody\r\n" && driver.began == 1)

        driver.message = []
        driver.send("MAIL FROM:<s@x.test>", "RCPT TO:<a@b.test>")
        driver.bdat("part")
        #expect(driver.send("RSET") == ["250 2.0.0 Ok"])
        #expect(driver.abandoned == [.reset] && driver.engine.transaction == nil)

        driver.send("MAIL FROM:<s@x.test>", "RCPT TO:<a@b.test>")
        #expect(driver.bdat("a\rb", last: true) == ["550 5.5.2 Error: bare <CR> received"])
        driver.send("MAIL FROM:<s@x.test>", "RCPT TO:<a@b.test>")
        driver.bdat("x")
        #expect(driver.bdat("") == ["551 5.7.1 Null BDAT request"])
        #expect(driver.abandoned == [.reset, .bareCarriageReturn, .reset])
    }

    @Test("STARTTLS: what came behind it in plaintext is discarded, and the session starts afresh")
    func startTLS() {
        var driver = Driver()
        driver.send("EHLO c", "MAIL FROM:<s@x.test>")
        #expect(driver.send("STARTTLS").isEmpty && driver.startedTLS)
        #expect(driver.send("RCPT TO:<smuggled@b.test>", "DATA").isEmpty)
        driver.send(frame: .tlsStarted)
        #expect(driver.notes == [.discardedPlaintext(lines: 2)])
        #expect(driver.engine.isTLS && driver.engine.heloName == nil && driver.engine.transaction == nil)
        #expect(driver.send("RCPT TO:<a@b.test>") == ["503 5.5.1 Error: need MAIL command"])
        #expect(!driver.send("EHLO c").contains("250-STARTTLS"))
        #expect(driver.send("STARTTLS") == ["554 5.5.1 Error: TLS already active"])
        #expect(driver.engine.protocolName == "ESMTPS")
    }

    @Test("encrypt: only the greeting commands work before TLS")
    func requiresTLS() {
        var options = Driver.networkOptions
        options.requiresTLS = true
        var driver = Driver(options)
        driver.send("EHLO c", "NOOP")
        #expect(driver.send("MAIL FROM:<s@x.test>") == ["530 5.7.0 Must issue a STARTTLS command first"])
    }

    @Test("AUTH: challenges go on until a success or a failure; * aborts; a login is kept for the protocol name")
    func auth() {
        var driver = Driver(decide: { question in
            switch question {
            case .authenticate(mechanism: "LOGIN", initialResponse: nil): return .challenge("VXNlcm5hbWU6")
            case .authResponse("YWxpY2U="): return .challenge("UGFzc3dvcmQ6")
            case .authResponse("c2VjcmV0"): return .authenticated("alice")
            default: return Driver.acceptAll(question)
            }
        })
        driver.engine.authMechanisms = ["PLAIN", "LOGIN"]
        #expect(driver.send("AUTH LOGIN") == ["503 5.5.1 Error: send HELO/EHLO first"])
        driver.send("EHLO c")
        #expect(driver.send("AUTH LOGIN") == ["334 VXNlcm5hbWU6"])
        #expect(driver.send("*") == ["501 5.7.0 Authentication aborted"])
        #expect(driver.cancelledAuthentications == 1)
        #expect(driver.send("AUTH LOGIN", "YWxpY2U=", "c2VjcmV0") == [
            "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 Authentication successful",
        ])
        #expect(driver.engine.saslUsername == "alice" && driver.engine.protocolName == "ESMTPA")
        #expect(driver.send("AUTH PLAIN") == ["503 5.5.1 Error: already authenticated"])
        #expect(!driver.send("EHLO c").contains { $0.contains("AUTH") })
    }

    @Test("the client leaving mid-message or mid-AUTH is noted; elsewhere it is a plain close")
    func endOfInput() {
        var driver = Driver()
        driver.send("EHLO c", "MAIL FROM:<s@x.test>", "RCPT TO:<a@b.test>", "DATA", "half")
        driver.perform(driver.engine.endOfInput())
        #expect(driver.abandoned == [.connectionLost] && driver.notes == [.lostConnection(inAuth: false)] && driver.closed)

        var idle = Driver()
        idle.send("EHLO c")
        idle.perform(idle.engine.endOfInput())
        #expect(idle.notes.isEmpty && idle.closed)
    }

    @Test("talking ahead where RFC 2920 forbids it is noted, or ends the session when forbidden")
    func pipelining() {
        var driver = Driver()
        var ahead = SMTPLine("HELO c")
        ahead.isFollowedByInput = true
        driver.send(frame: .line(ahead))
        #expect(driver.notes == [.illegalPipelining(verb: "HELO")] && driver.engine.hasIllegalPipelining)
        #expect(!driver.closed)

        var options = Driver.networkOptions
        options.forbidsUnauthPipelining = true
        var strict = Driver(options)
        #expect(strict.send(frame: .line(ahead)) == ["554 5.5.0 Error: SMTP protocol synchronization"])
        #expect(strict.closed)
    }

    @Test("errors past the soft limit come slowly; at the hard limit the session ends with 421")
    func errorLimits() {
        var driver = Driver()
        for _ in 0..<4 { driver.send("BOGUS") }
        #expect(driver.delays == [1, 1])
        #expect(driver.send("BOGUS") == ["421 4.7.0 mx.example.test Error: too many errors"])
        #expect(driver.closed && driver.notes == [.tooManyErrors(verb: "BOGUS")])
    }

    @Test("an over-long command line is answered once, after its last piece")
    func longLine() {
        var driver = Driver()
        #expect(driver.send("MAIL FROM:<" + String(repeating: "x", count: 200) + ">") == ["500 5.5.2 Error: line too long"])
        #expect(driver.send("NOOP") == ["250 2.0.0 Ok"])
    }

    @Test("sendmail's domain qualifies a recipient without one (RCPT TO:<postmaster>)")
    func qualifying() {
        var options = SMTPServerEngine.Options(hostname: "h", banner: "h")
        options.qualifyingDomain = "origin.test"
        var driver = Driver(options)
        driver.send("HELO me", "MAIL FROM:<s@x.test>", "RCPT TO:<postmaster>")
        #expect(driver.engine.transaction?.recipients.map(\.address) == ["postmaster@origin.test"])
    }

    @Test("VRFY asks with the brackets removed, or is refused when disabled")
    func vrfy() {
        var driver = Driver()
        driver.send("VRFY <alice@b.test>")
        #expect(driver.questions == [.verify("alice@b.test")])
        var options = Driver.networkOptions
        options.allowsVRFY = false
        var quiet = Driver(options)
        #expect(quiet.send("VRFY alice") == ["502 5.5.1 VRFY command is disabled"])
    }
}
