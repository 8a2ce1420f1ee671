import AviaryAuthentication
import AviaryConfig
import AviaryTestSupport
import AviaryUsers
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import AviarySMTPServer

/// SPF in smtpd through the restriction lists, against a real dnsmasq serving TXT records; the client is
/// 127.0.0.1 and mynetworks leaves it out, so it is judged like any client on the internet.
@Suite("smtpd sender authentication: reject_spf_fail, DKIM and the verdict fields")
struct SenderAuthenticationTests {
    static let records = [
        "--txt-record=fail.test,v=spf1 ip4:192.0.2.0/24 -all",
        "--txt-record=explained.test,v=spf1 -all exp=why.explained.test",
        "--txt-record=why.explained.test,%{i} is not a mail server of %{d}",
        "--txt-record=pass.test,v=spf1 ip4:127.0.0.1 -all",
        "--txt-record=soft.test,v=spf1 ~all",
        "--txt-record=broken.test,v=spf1 ip4:300.1.1.1 -all",
        // dnsmasq answers names outside test/ with REFUSED (it has no upstream): a DNS failure.
        "--txt-record=temp.test,v=spf1 include:nowhere.invalid -all",
    ]

    static func transaction(_ harness: SMTPServerHarness, helo: String = "client.test", sender: String) async throws -> Reply {
        try await harness.transcript { client, _ in
            _ = try client.command("EHLO \(helo)")
            _ = try client.command("MAIL FROM:<\(sender)>")
            return try client.command("RCPT TO:<alice@virtual.test>")
        }
    }

    @Test("fail: 550 5.7.23 (with the domain's explanation); temperror: 451 4.7.24; pass, softfail, permerror: accepted")
    func rejectSPFFail() async throws {
        let dns = try await Dnsmasq(Self.records)
        try await SMTPServerHarness.run(
            mynetworks: "10.0.0.0/8",
            extra: """
                smtpd_spf_enable = yes
                smtp_dns_resolver_address = 127.0.0.1:\(dns.port)
                smtpd_sender_restrictions = permit_mynetworks, reject_spf_fail
                """
        ) { harness in
            let fail = try await Self.transaction(harness, sender: "x@fail.test")
            #expect(fail.code == 550)
            #expect(fail.text == "5.7.23 <x@fail.test>: Sender address rejected: SPF fail: fail.test does not designate 127.0.0.1 as permitted sender")
            let explained = try await Self.transaction(harness, sender: "x@explained.test")
            #expect(explained.text == "5.7.23 <x@explained.test>: Sender address rejected: SPF fail: 127.0.0.1 is not a mail server of explained.test")
            let temporary = try await Self.transaction(harness, sender: "x@temp.test")
            #expect(temporary.code == 451)
            #expect(temporary.text == "4.7.24 <x@temp.test>: Sender address rejected: SPF temporary error looking up temp.test; try again later")
            for sender in ["x@pass.test", "x@soft.test", "x@broken.test", "x@nospf.test"] {
                #expect(try await Self.transaction(harness, sender: sender).code == 250, "\(sender)")
            }
            let bounce = try await Self.transaction(harness, helo: "fail.test", sender: "")
            #expect(bounce.text == "5.7.23 <fail.test>: Helo command rejected: SPF fail: fail.test does not designate 127.0.0.1 as permitted sender")
            #expect(try await Self.transaction(harness, helo: "pass.test", sender: "").code == 250)
        }
        await dns.stop()
    }

    @Test("reject_spf_fail without smtpd_spf_enable is a configuration error, not a restriction silently skipped")
    func restrictionNeedsTheCheck() async throws {
        try await SMTPServerHarness.run(
            mynetworks: "10.0.0.0/8", extra: "smtpd_recipient_restrictions = reject_spf_fail"
        ) { harness in
            let reply = try await Self.transaction(harness, sender: "x@fail.test")
            #expect(reply.code == 451)
            #expect(reply.text == "4.3.5 Server configuration error")
        }
    }

    @Test("with SPF off, a whole transaction sends not one DNS query")
    func offMeansNoTraffic() async throws {
        let socket = SilentUDPSocket()
        defer { socket.close() }
        try await SMTPServerHarness.run(
            mynetworks: "10.0.0.0/8", extra: "smtp_dns_resolver_address = 127.0.0.1:\(socket.port)"
        ) { harness in
            let reply = try await Self.transaction(harness, sender: "x@fail.test")
            #expect(reply.code == 250)
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        #expect(recv(socket.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) < 0, "a DNS query arrived")
    }

    static func policy(_ lines: String, dnsPort: Int) throws -> SMTPPolicy {
        let config = try MainConfig.parse(
            """
            myhostname = mx.aviary.test
            mynetworks = 10.0.0.0/8
            smtp_dns_resolver_address = 127.0.0.1:\(dnsPort)
            \(lines)
            """, directory: "/nonexistent")
        return SMTPPolicy(config: config, directory: UserDirectory(config: config))
    }

    static func request(address: String = "127.0.0.1", sender: String, login: String? = nil) -> PolicyRequest {
        PolicyRequest(
            client: ClientIdentity(name: "client.test", address: address), heloName: "client.test", sender: sender,
            recipient: "alice@virtual.test", saslUsername: login, hasIllegalPipelining: false)
    }

    @Test("the session's calls: a verdict for outside clients only, the fields to prepend, forged verdicts removed")
    func sessionCalls() async throws {
        let dns = try await Dnsmasq(Self.records)
        let policy = try Self.policy("smtpd_spf_enable = yes", dnsPort: dns.port)
        let outcome = try #require(policy.spfOutcome(for: Self.request(sender: "x@fail.test")))
        #expect(outcome.result == .fail)
        #expect(policy.spfOutcome(for: Self.request(address: "10.1.2.3", sender: "x@fail.test")) == nil)
        #expect(policy.spfOutcome(for: Self.request(sender: "x@fail.test", login: "alice")) == nil)
        let fields = String(decoding: policy.authenticationFields(spf: outcome, dkim: nil), as: UTF8.self)
        #expect(fields.hasPrefix("Received-SPF: fail (mx.aviary.test: domain of x@fail.test does not designate 127.0.0.1 as permitted sender)\r\n"))
        #expect(fields.contains("\r\nAuthentication-Results: mx.aviary.test;\r\n\tspf=fail "))
        #expect(fields.hasSuffix("\tsmtp.mailfrom=x@fail.test\r\n"))
        // A verdict the session already has is used as it is: no second look-up.
        var request = Self.request(sender: "x@fail.test")
        request.spf = SPFOutcome(result: .pass, domain: "fail.test")
        #expect(policy.rejectSPFFail(request) == .dunno)
        await dns.stop()

        let forged = Array("Authentication-Results: MX.AVIARY.TEST; spf=pass\r\nSubject: hi\r\n\r\nbody\r\n".utf8)
        let off = try Self.policy("authserv_id = mx.aviary.test", dnsPort: 9)
        #expect(off.spf == nil)
        #expect(off.spfOutcome(for: Self.request(sender: "x@fail.test")) == nil)
        #expect(off.authenticationFields(spf: off.spfOutcome(for: Self.request(sender: "x@fail.test")), dkim: nil).isEmpty)
        #expect(off.dkimVerification(for: Self.request(sender: "x@fail.test"), header: []).map { _ in true } == nil)
        #expect(off.removingForgedVerdicts(forged) == Array("Subject: hi\r\n\r\nbody\r\n".utf8))
    }

    @Test("DKIM through the policy: a key served by dnsmasq, a dkimpy Ed25519 signature, one Authentication-Results with spf= and dkim=")
    func dkimThroughPolicy() async throws {
        let directory = TemporaryDirectory("dkim-policy")
        let signed = try await runPythonClient(
            """
            import base64, sys, dkim, nacl.signing
            key = nacl.signing.SigningKey.generate()
            message = b"From: news@pass.test\\r\\nSubject: hi\\r\\n\\r\\nhello\\r\\n"
            signature = dkim.sign(message, b"sel", b"pass.test", base64.b64encode(bytes(key)),
                                  signature_algorithm=b"ed25519-sha256", canonicalize=(b"relaxed", b"relaxed"))
            print(base64.b64encode(bytes(key.verify_key)).decode())
            print(base64.b64encode(signature + message).decode())
            """, in: directory.path, port: 0)
        let lines = signed.split(separator: "\n").map(String.init)
        let dns = try await Dnsmasq(Self.records + ["--txt-record=sel._domainkey.pass.test,v=DKIM1; k=ed25519; p=\(lines[0])"])
        let policy = try Self.policy("smtpd_spf_enable = yes\nsmtpd_dkim_verify = yes", dnsPort: dns.port)
        let message = Array(Data(base64Encoded: lines[1]) ?? Data())
        let split = try #require(message.firstRange(of: [13, 10, 13, 10])).upperBound
        let request = Self.request(sender: "news@pass.test")
        var verification = try #require(policy.dkimVerification(for: request, header: Array(message[..<split])))
        verification.update(body: message[split...])
        let signatures = verification.finish()
        #expect(signatures.map(\.result) == [.pass], "\(signatures)")
        let fields = String(decoding: policy.authenticationFields(spf: policy.spfOutcome(for: request), dkim: signatures), as: UTF8.self)
        #expect(fields.hasPrefix("Received-SPF: pass "), "\(fields)")
        #expect(fields.contains("\r\nAuthentication-Results: mx.aviary.test;\r\n\tspf=pass "), "\(fields)")
        #expect(fields.contains("smtp.mailfrom=news@pass.test;\r\n\tdkim=pass header.d=pass.test header.s=sel header.a=ed25519-sha256 header.b="), "\(fields)")
        #expect(policy.dkimVerification(for: Self.request(address: "10.0.0.1", sender: "news@pass.test"), header: []).map { _ in true } == nil)
        await dns.stop()
    }
}
