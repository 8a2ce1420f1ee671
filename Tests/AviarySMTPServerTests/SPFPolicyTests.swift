import AviaryAuthentication
import AviaryConfig
import AviaryTestSupport
import AviaryUsers
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import AviarySMTPServer

/// SPF in smtpd through the restriction lists, against a real dnsmasq serving TXT records; the client is
/// 127.0.0.1 and mynetworks leaves it out, so it is judged like any client on the internet.
@Suite("smtpd SPF: reject_spf_fail and the verdict fields")
struct SPFPolicyTests {
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
        let fields = String(decoding: policy.spfHeaderFields(outcome), as: UTF8.self)
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
        #expect(off.spfHeaderFields(outcome).isEmpty)
        #expect(off.removingForgedVerdicts(forged) == Array("Subject: hi\r\n\r\nbody\r\n".utf8))
    }
}
