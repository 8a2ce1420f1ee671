import AviaryTestSupport
import AviaryCore
import AviaryIPC
import AviaryQueue
import Testing

@Suite("smtp agent against Aviary's smtpd: per-recipient results, STARTTLS, AUTH")
struct SMTPDDeliveryTests {
    @Test("2xx, 4xx and 5xx per recipient, with the remote's text; only the accepted recipient is delivered")
    func perRecipient() async throws {
        try await AviarySMTPD.run { remote in
            let instance = try ClientInstance()
            let request = try instance.enqueue(
                ["alice@virtual.test", "bob@virtual.test", "carol@virtual.test"], nextHop: "[127.0.0.1]:\(remote.port)")
            let outcomes = try await instance.deliver(request)
            await instance.shutdown()
            #expect(outcomes.map(\.status) == [.sent, .bounced, .deferred], "\(outcomes)")
            #expect(outcomes[0].text.hasPrefix("250 2.0.0 Ok: queued as "))
            #expect(outcomes[1].dsn == "5.1.1")
            #expect(outcomes[1].text.hasPrefix("host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <bob@virtual.test>"))
            #expect(outcomes[1].text.hasSuffix("(in reply to RCPT TO command)"))
            #expect(outcomes[2].text.contains("450"), "\(outcomes[2])")
            #expect(try instance.statuses(request) == [.delivered, .pending, .pending])
            #expect(remote.received().map(\.0) == [["alice@virtual.test"]])
        }
    }

    @Test("the message arrives byte-exact (CRLF, dots unstuffed by the server as sent); SIZE over the server's limit bounces 5.3.4")
    func byteExactAndSize() async throws {
        // A peer on loopback counts as a local client: no Message-ID: or Date: added, to compare bytes.
        try await AviarySMTPD.run(extra: "message_size_limit = 400\nlocal_header_rewrite_clients =") { remote in
            let instance = try ClientInstance()
            let hop = "[127.0.0.1]:\(remote.port)"
            let message = "Subject: dots\n\n.leading dot\n..two dots\nbare LF\r\n.\nlast line without end"
            let sent = try await instance.deliver(try instance.enqueue(["alice@virtual.test"], message: message, nextHop: hop))
            #expect(sent.first?.status == .sent, "\(sent)")
            let received = remote.received().first?.1 ?? ""
            #expect(received.hasSuffix("Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nbare LF\r\n.\r\nlast line without end\r\n"), "\(received.debugDescription)")
            let big = String(repeating: "x", count: 70) + "\r\n"
            let large = try instance.enqueue(
                ["alice@virtual.test"], message: "Subject: big\r\n\r\n" + String(repeating: big, count: 10), nextHop: hop)
            let refused = try await instance.deliver(large)
            await instance.shutdown()
            #expect(refused.first?.status == .bounced)
            #expect(refused.first?.dsn == "5.3.4")
            #expect(refused.first?.text.hasPrefix("message size") == true, "\(refused)")
        }
    }

    @Test("STARTTLS: encrypt delivers (untrusted), verify with smtp_tls_CAfile delivers (trusted), verify without the CA defers")
    func starttls() async throws {
        try await AviarySMTPD.run(extra: "smtpd_tls_cert_file = CERTS/server-chain.pem\nsmtpd_tls_key_file = CERTS/server.key") {
            remote in
            let hop = "[127.0.0.1]:\(remote.port)"
            let encrypt = try ClientInstance(extra: "smtp_tls_security_level = encrypt")
            let sent = try await encrypt.deliver(try encrypt.enqueue(["alice@virtual.test"], nextHop: hop))
            await encrypt.shutdown()
            #expect(sent.first?.status == .sent, "\(sent)")
            #expect(encrypt.log.contains("Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:\(remote.port)"))

            let verify = try ClientInstance(
                extra: "smtp_tls_security_level = verify\nsmtp_tls_CAfile = \(remote.certificates.caCertificate)")
            let verified = try await verify.deliver(try verify.enqueue(["alice@virtual.test"], nextHop: hop))
            await verify.shutdown()
            #expect(verified.first?.status == .sent, "\(verified)")
            #expect(verify.log.contains("Trusted TLS connection established"))

            let untrusted = try ClientInstance(extra: "smtp_tls_security_level = verify\nsmtp_tls_use_system_store = yes")
            let refused = try await untrusted.deliver(try untrusted.enqueue(["alice@virtual.test"], nextHop: hop))
            await untrusted.shutdown()
            #expect(refused.first?.status == .deferred)
            #expect(refused.first?.dsn == "4.7.5")
            #expect(refused.first?.text.hasPrefix("TLS with 127.0.0.1[127.0.0.1]:\(remote.port) failed") == true, "\(refused)")
            #expect(remote.received().count == 2)
        }
    }

    @Test("relayhost [127.0.0.1]:port with AUTH PLAIN over TLS relays for an authenticated client")
    func authenticatedRelay() async throws {
        let extra = """
            smtpd_tls_cert_file = CERTS/server-chain.pem
            smtpd_tls_key_file = CERTS/server.key
            smtpd_sasl_auth_enable = yes
            mynetworks = 10.255.255.0/24
            """
        try await AviarySMTPD.run(extra: extra) { remote in
            let hop = "[127.0.0.1]:\(remote.port)"
            let instance = try ClientInstance(
                extra: """
                    smtp_tls_security_level = encrypt
                    smtp_sasl_auth_enable = yes
                    smtp_sasl_password_maps = texthash:ROOT/sasl_passwd
                    """)
            try SafeFile.writeDurably(Array("\(hop) alice@virtual.test:secret\n".utf8), to: instance.root + "/sasl_passwd")
            let outcomes = try await instance.deliver(try instance.enqueue(["someone@elsewhere.example"], nextHop: hop))
            await instance.shutdown()
            #expect(outcomes.first?.status == .sent, "\(outcomes)")
            #expect(remote.received().map(\.0) == [["someone@elsewhere.example"]])
            #expect(instance.log.contains("> 127.0.0.1[127.0.0.1]: ***"))
        }
    }

    @Test("credentials are not sent without TLS: the delivery defers and no AUTH goes out")
    func noPlaintextAuth() async throws {
        try await AviarySMTPD.run(extra: "smtpd_sasl_auth_enable = yes\nsmtpd_tls_auth_only = no") { remote in
            let hop = "[127.0.0.1]:\(remote.port)"
            let instance = try ClientInstance(
                extra: "smtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = texthash:ROOT/sasl_passwd")
            try SafeFile.writeDurably(Array("\(hop) alice@virtual.test:secret\n".utf8), to: instance.root + "/sasl_passwd")
            let outcomes = try await instance.deliver(try instance.enqueue(["someone@elsewhere.example"], nextHop: hop))
            await instance.shutdown()
            #expect(outcomes.first?.status == .deferred)
            #expect(outcomes.first?.dsn == "4.7.0")
            #expect(outcomes.first?.text.contains("no compatible authentication mechanisms") == true, "\(outcomes)")
            #expect(!instance.log.contains("***"))
            #expect(remote.received().isEmpty)
        }
    }
}
