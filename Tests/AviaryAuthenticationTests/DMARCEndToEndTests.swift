import AviaryAuthentication
import AviaryCore
import AviaryTestSupport
import Testing

/// DMARC as smtpd will run it: messages signed by Aviary's own DKIM signer, SPF, DKIM and the DMARC records
/// all answered by a real dnsmasq, through the real resolver.
@Suite("DMARC end to end: dnsmasq, Aviary's DKIM signatures, SPF")
struct DMARCEndToEndTests {
    static func message(from: String, body: String = "Hello\r\n") -> [UInt8] {
        Array(
            ("From: Alice <alice@\(from)>\r\nTo: bob@aviary.test\r\nSubject: quarterly figures\r\n"
                + "Date: Tue, 8 Dec 2026 01:00:00 +0000\r\nMessage-ID: <1@\(from)>\r\n\r\n\(body)").utf8
        )
    }

    @Test("aligned DKIM or SPF passes; forged, tampered and unaligned mail fails with the domain's policy")
    func endToEnd() async throws {
        let directory = TemporaryDirectory("dmarc-e2e")
        let ownKey = try await DKIMSignerTests.key("ED25519", in: directory)
        let espKey = try await DKIMSignerTests.key("ED25519", in: directory)
        let own = DKIMSigner(domain: "example.test", selector: "ed", key: ownKey)
        let esp = DKIMSigner(domain: "esp.test", selector: "ed", key: espKey)
        let records = [
            "--txt-record=ed._domainkey.example.test,\(own.keyRecord)",
            "--txt-record=ed._domainkey.esp.test,\(esp.keyRecord)",
            "--txt-record=example.test,v=spf1 ip4:192.0.2.0/24 -all",
            "--txt-record=esp.test,v=spf1 ip4:198.51.100.0/24 -all",
            "--txt-record=_dmarc.example.test,v=DMARC1; p=reject; sp=quarantine; adkim=r; aspf=r",
            // dnsmasq reads quotes (which keep a comma in one string) only in a configuration file.
            "--conf-file=\(directory.path)/quoted.conf",
            "--txt-record=_dmarc.two.test,v=DMARC1; p=reject",
            "--txt-record=_dmarc.two.test,v=DMARC1; p=none",
        ]
        try SafeFile.writeDurably(
            Array(
                "txt-record=_dmarc.lists.test,\"v=DMARC1; p=none; rua=mailto:a@lists.test,mailto:b@lists.test!10m\"\n"
                    .utf8
            ),
            to: directory.path + "/quoted.conf"
        )
        try await Dnsmasq.serving(records) { dns in
            let resolver = dns.resolver
            let list = try PublicSuffixList(path: PublicSuffixList.debianPath)
            let evaluator = DMARCEvaluator(dns: resolver, publicSuffixes: list, random: { 0 })
            let spf = SPFChecker(dns: resolver, receiver: "mx.aviary.test")
            let dkim = DKIMVerifier(dns: resolver)

            func verdict(_ message: [UInt8], sender: String, client: String) -> DMARCVerdict {
                let header = Array(message[..<(message.firstRange(of: [13, 10, 13, 10])?.upperBound ?? message.count)])
                return evaluator.evaluate(
                    header: header,
                    spf: spf.checkMailFrom(sender: sender, helo: "mail.client.test", client: client),
                    dkim: dkim.verify(message: message)
                )
            }
            func signed(_ signer: DKIMSigner, _ message: [UInt8]) throws -> [UInt8] {
                Array(try #require(signer.signature(for: message)).utf8) + message
            }

            let plain = Self.message(from: "example.test")
            let ownSigned = try signed(own, plain)
            // Signed and sent from the domain's own servers: both align.
            let both = verdict(ownSigned, sender: "bounce@example.test", client: "192.0.2.7")
            #expect(
                both.result == .pass && both.alignedSPFDomain == "example.test"
                    && both.alignedDKIMDomains == ["example.test"],
                "\(both)"
            )
            #expect(both.statement == "dmarc=pass (p=reject dis=none) header.from=example.test")
            // Forwarded (SPF fails at the forwarder's address): the signature carries it.
            let forwarded = verdict(ownSigned, sender: "bounce@example.test", client: "203.0.113.9")
            #expect(forwarded.result == .pass && forwarded.alignedSPFDomain == nil, "\(forwarded)")
            // Forged: unsigned, from a stranger's address.
            let forged = verdict(plain, sender: "bounce@example.test", client: "203.0.113.9")
            #expect((forged.result, forged.disposition) == (.fail, .reject), "\(forged)")
            #expect(forged.rejectionText == "Message rejected by DMARC policy for example.test")
            // Tampered in transit: the signature fails, SPF is the ESP's: nothing aligns.
            var tampered = ownSigned
            tampered.replaceSubrange(tampered.count - 7..<tampered.count - 2, with: Array("Adieu".utf8))
            let changed = verdict(tampered, sender: "bounce@esp.test", client: "198.51.100.4")
            #expect((changed.result, changed.disposition) == (.fail, .reject), "\(changed)")
            // An ESP that signs with its own domain and its own bounce address: authenticated, not aligned.
            let unaligned = verdict(try signed(esp, plain), sender: "bounce@esp.test", client: "198.51.100.4")
            #expect(unaligned.result == .fail && unaligned.alignedDKIMDomains.isEmpty, "\(unaligned)")
            // A subdomain without its own record: the organisational domain's sp=, relaxed alignment.
            let news = Self.message(from: "news.example.test")
            let subdomainSigned = verdict(try signed(own, news), sender: "", client: "203.0.113.9")
            #expect(
                subdomainSigned.result == .pass && subdomainSigned.recordDomain == "example.test",
                "\(subdomainSigned)"
            )
            let subdomainForged = verdict(news, sender: "x@news.example.test", client: "203.0.113.9")
            #expect((subdomainForged.requestedPolicy, subdomainForged.disposition) == (.quarantine, .quarantine))
            // Quoted commas in the TXT record: two report addresses; p=none: a failure is only reported.
            let lists = verdict(Self.message(from: "lists.test"), sender: "x@lists.test", client: "203.0.113.9")
            #expect((lists.result, lists.disposition) == (.fail, .none), "\(lists)")
            #expect(lists.record?.aggregateReports.map(\.uri) == ["mailto:a@lists.test", "mailto:b@lists.test"])
            // Two records: no policy. No record anywhere: none.
            #expect(verdict(Self.message(from: "two.test"), sender: "", client: "203.0.113.9").result == .none)
            let nothing = verdict(Self.message(from: "nothing.test"), sender: "", client: "203.0.113.9")
            #expect(nothing.result == .none && nothing.problem == "no DMARC record")
        }
    }
}
