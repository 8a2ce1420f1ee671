import AviaryTestSupport
import AviaryDNS
import AviaryIPC
import AviaryQueue
import Testing

@Suite("smtp agent against Postfix's smtp-sink and dnsmasq")
struct SinkDeliveryTests {
    static let tricky = "Subject: dots\n\n.leading dot\n..two dots\nbare LF line\r\nCRLF line\n.\nlast line without end"

    @Test("delivery to [127.0.0.1]:port: sent with the remote text, recorded in the queue file, dot-stuffing byte-exact, pipelined")
    func literalNextHop() async throws {
        let sink = try await SMTPSink()
        let instance = try ClientInstance()
        let request = try instance.enqueue(
            ["a@example.test", "b@example.test"], message: Self.tricky, nextHop: "[127.0.0.1]:\(sink.port)")
        let outcomes = try await instance.deliver(request)
        await sink.stop()
        // The same request again (qmgr restarted) finds both delivered in the queue file and connects nowhere.
        let again = try await instance.deliver(request)
        await instance.shutdown()
        #expect(again.map(\.text) == ["already delivered", "already delivered"])
        #expect(outcomes.map(\.status) == [.sent, .sent], "\(outcomes)")
        #expect(outcomes.first?.text.hasPrefix("250 2.0.0 Ok") == true, "\(outcomes)")
        #expect(outcomes.first?.relay == "127.0.0.1[127.0.0.1]:\(sink.port)")
        #expect(try instance.statuses(request) == [.delivered, .delivered])
        // smtp-sink's dump shows the message unstuffed with LF line ends (and one more LF at the end); the
        // CRLF bytes are checked against Aviary's smtpd, which keeps them.
        let expected = "Subject: dots\n\n.leading dot\n..two dots\nbare LF line\nCRLF line\n.\nlast line without end\n\n"
        let dumped = sink.messages()
        #expect(dumped.count == 1)
        #expect(dumped.first?.hasSuffix(expected) == true, "\(dumped)")
        #expect(instance.log.contains("(pipelined)"))
        #expect(instance.log.contains("to=<a@example.test>, relay=127.0.0.1[127.0.0.1]:\(sink.port), delay="))
    }

    @Test("a server without PIPELINING gets one command at a time; 4xx and 5xx to RCPT defer and bounce")
    func rejectedCommands() async throws {
        let sink = try await SMTPSink(["-r", "RCPT"])
        let instance = try ClientInstance()
        let request = try instance.enqueue(["a@example.test"], nextHop: "[127.0.0.1]:\(sink.port)")
        let outcomes = try await instance.deliver(request)
        await sink.stop()
        #expect(outcomes.first?.status == .deferred)
        #expect(
            outcomes.first?.text
                == "host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed (in reply to RCPT TO command)")
        #expect(!instance.log.contains("(pipelined)"))
        #expect(try instance.statuses(request) == [.pending])

        let hard = try await SMTPSink(["-f", "MAIL"])
        let second = try instance.enqueue(["a@example.test"], nextHop: "[127.0.0.1]:\(hard.port)")
        let bounced = try await instance.deliver(second)
        await hard.stop()
        await instance.shutdown()
        #expect(bounced.first?.status == .bounced)
        #expect(bounced.first?.dsn == "5.3.0")
        #expect(bounced.first?.text.hasSuffix("(in reply to MAIL FROM command)") == true, "\(bounced)")
    }

    @Test("SMTPUTF8 required but not offered bounces 5.6.7")
    func refusedBeforeMail() async throws {
        let sink = try await SMTPSink()
        let instance = try ClientInstance()
        let utf8 = try instance.enqueue(
            ["a@example.test"], nextHop: "[127.0.0.1]:\(sink.port)", attributes: [.init("smtputf8", "yes")])
        let outcomes = try await instance.deliver(utf8)
        await sink.stop()
        await instance.shutdown()
        // smtp-sink offers no SMTPUTF8.
        #expect(outcomes.first?.status == .bounced)
        #expect(outcomes.first?.dsn == "5.6.7")
        #expect(outcomes.first?.text.hasPrefix("SMTPUTF8 is required, but was not offered by host") == true)
    }

    static let eightBit = "Subject: 8-bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCafé = crème  \r\n.dot\r\n"

    @Test("a server without 8BITMIME gets 8-bit bodies quoted-printable, without BODY=; one with it gets them as they are")
    func eightBitDowngrade() async throws {
        let sink = try await SMTPSink(["-8"])
        let instance = try ClientInstance()
        let request = try instance.enqueue(
            ["a@example.test"], message: Self.eightBit, nextHop: "[127.0.0.1]:\(sink.port)",
            attributes: [.init("body", "8BITMIME")])
        let outcomes = try await instance.deliver(request)
        await sink.stop()
        #expect(outcomes.first?.status == .sent, "\(outcomes)")
        let dumped = sink.messages().first ?? ""
        #expect(!dumped.utf8.contains { $0 >= 128 }, "\(dumped)")
        #expect(!dumped.contains("BODY="), "\(dumped)")
        #expect(dumped.hasSuffix("""
            Subject: 8-bit
            Content-Type: text/plain; charset=utf-8
            MIME-Version: 1.0
            Content-Transfer-Encoding: quoted-printable

            Caf=C3=A9 =3D cr=C3=A8me =20
            .dot


            """), "\(dumped)")

        let eightBitSink = try await SMTPSink()
        let again = try instance.enqueue(
            ["a@example.test"], message: Self.eightBit, nextHop: "[127.0.0.1]:\(eightBitSink.port)",
            attributes: [.init("body", "8BITMIME")])
        let sent = try await instance.deliver(again)
        await eightBitSink.stop()
        await instance.shutdown()
        #expect(sent.first?.status == .sent, "\(sent)")
        let unconverted = eightBitSink.messages().first ?? ""
        #expect(unconverted.contains("BODY=8BITMIME"), "\(unconverted)")
        #expect(unconverted.hasSuffix("\n\nCafé = crème  \n.dot\n\n"), "\(unconverted)")
    }

    @Test("MX walk: the first MX is down, the second takes the mail")
    func mxWalk() async throws {
        let sink = try await SMTPSink()
        let dns = try await Dnsmasq([
            "--mx-host=two.test,mx1.two.test,10", "--mx-host=two.test,mx2.two.test,20",
            "--host-record=mx1.two.test,127.0.0.2", "--host-record=mx2.two.test,127.0.0.1",
            "--mx-host=nullmx.test,.,0",
        ])
        let instance = try ClientInstance()
        let request = try instance.enqueue(["a@two.test"], nextHop: "two.test:\(sink.port)")
        let outcomes = try await instance.deliver(request, resolver: dns.resolver)
        #expect(outcomes.first?.status == .sent, "\(outcomes)")
        #expect(outcomes.first?.relay == "mx2.two.test[127.0.0.1]:\(sink.port)")

        let null = try await instance.deliver(try instance.enqueue(["a@nullmx.test"], nextHop: nil), resolver: dns.resolver)
        #expect(null.first?.status == .bounced)
        #expect(null.first?.dsn == "5.1.10")
        #expect(null.first?.text == "Domain nullmx.test does not accept mail (nullMX)")

        let missing = try await instance.deliver(try instance.enqueue(["a@nowhere.test"], nextHop: nil), resolver: dns.resolver)
        #expect(missing.first?.status == .bounced)
        #expect(missing.first?.dsn == "5.4.4")
        #expect(
            missing.first?.text
                == "Host or domain name not found. Name service error for name=nowhere.test type=MX: Host not found")
        await dns.stop()

        let silent = Dnsmasq.silentResolver()
        let deferred = try await instance.deliver(try instance.enqueue(["a@two.test"], nextHop: nil), resolver: silent)
        #expect(deferred.first?.status == .deferred)
        #expect(deferred.first?.dsn == "4.4.3")
        await sink.stop()
        await instance.shutdown()
    }

    @Test("nothing listening anywhere: deferred with the connect error, relay none")
    func unreachable() async throws {
        let instance = try ClientInstance()
        let port = freePort()
        let outcomes = try await instance.deliver(try instance.enqueue(["a@example.test"], nextHop: "[127.0.0.1]:\(port)"))
        await instance.shutdown()
        #expect(outcomes.first?.status == .deferred)
        #expect(outcomes.first?.text == "connect to 127.0.0.1[127.0.0.1]:\(port): Connection refused")
        #expect(outcomes.first?.relay == nil)
    }
}

extension Dnsmasq {
    static func silentResolver() -> AviaryDNS.DNSResolver {
        AviaryDNS.DNSResolver(serverAddress: ("127.0.0.1", freePort(udp: true)), timeoutSeconds: 1, attempts: 1)
    }
}
