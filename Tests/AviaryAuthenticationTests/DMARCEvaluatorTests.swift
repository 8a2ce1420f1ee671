import AviaryAuthentication
import Testing

/// DMARC evaluation over a table DNS: the From: domain, policy discovery, alignment, pct, and the header text.
@Suite("DMARC evaluation: From: domain, discovery, alignment and policy")
struct DMARCEvaluatorTests {
    static let list =
        (try? PublicSuffixList(path: PublicSuffixList.debianPath)) ?? PublicSuffixList(text: "com\nco.uk\n")

    static func evaluator(_ zone: [String: [ZoneDNS.Record]], random: Int = 0) -> DMARCEvaluator {
        DMARCEvaluator(dns: ZoneDNS(zone), publicSuffixes: list, random: { random })
    }

    static func spf(_ domain: String, _ result: SPFResult = .pass) -> SPFOutcome {
        SPFOutcome(result: result, domain: domain)
    }

    static func dkim(_ domain: String, _ result: DKIMResult = .pass) -> DKIMVerification {
        DKIMVerification(
            result: result,
            domain: domain,
            selector: "s",
            algorithm: "ed25519-sha256",
            signaturePrefix: "abcdefgh"
        )
    }

    static func header(_ from: String) -> [UInt8] { Array("From: \(from)\r\nSubject: x\r\n\r\n".utf8) }

    /// (From: domain, record at _dmarc.example.co.uk, SPF, DKIM, result, which aligned)
    static let alignment: [(String, String, SPFOutcome?, [DKIMVerification], DMARCResult, String)] = [
        ("example.co.uk", "v=DMARC1; p=reject", spf("example.co.uk"), [], .pass, "spf"),
        ("example.co.uk", "v=DMARC1; p=reject", spf("bounces.example.co.uk"), [], .pass, "spf"),
        ("example.co.uk", "v=DMARC1; p=reject; aspf=s", spf("bounces.example.co.uk"), [], .fail, ""),
        ("example.co.uk", "v=DMARC1; p=reject; aspf=s", spf("EXAMPLE.co.uk."), [], .pass, "spf"),
        ("example.co.uk", "v=DMARC1; p=reject", spf("example.co.uk", .softfail), [], .fail, ""),
        ("example.co.uk", "v=DMARC1; p=reject", spf("other.co.uk"), [], .fail, ""),
        ("example.co.uk", "v=DMARC1; p=reject", spf("co.uk"), [], .fail, ""),
        ("example.co.uk", "v=DMARC1; p=reject", nil, [dkim("example.co.uk")], .pass, "dkim"),
        ("example.co.uk", "v=DMARC1; p=reject", nil, [dkim("mail.example.co.uk")], .pass, "dkim"),
        ("example.co.uk", "v=DMARC1; p=reject; adkim=s", nil, [dkim("mail.example.co.uk")], .fail, ""),
        ("example.co.uk", "v=DMARC1; p=reject", nil, [dkim("example.co.uk", .fail)], .fail, ""),
        ("example.co.uk", "v=DMARC1; p=reject", nil, [dkim("example.co.uk", .temperror)], .fail, ""),
        ("example.co.uk", "v=DMARC1; p=reject", nil, [dkim("esp.test"), dkim("example.co.uk")], .pass, "dkim"),
        ("example.co.uk", "v=DMARC1; p=reject", spf("esp.test"), [dkim("esp.test")], .fail, ""),
        (
            "example.co.uk", "v=DMARC1; p=reject; adkim=s; aspf=s", spf("example.co.uk"), [dkim("example.co.uk")],
            .pass, "spf dkim"
        ),
        ("news.example.co.uk", "v=DMARC1; p=reject", spf("example.co.uk"), [], .pass, "spf"),
        ("news.example.co.uk", "v=DMARC1; p=reject", nil, [dkim("other.example.co.uk")], .pass, "dkim"),
        ("news.example.co.uk", "v=DMARC1; p=reject; aspf=s", spf("example.co.uk"), [], .fail, ""),
    ]

    @Test("relaxed and strict alignment of SPF and DKIM", arguments: alignment)
    func alignmentTable(
        from: String,
        record: String,
        spf: SPFOutcome?,
        dkim: [DKIMVerification],
        result: DMARCResult,
        aligned: String
    ) {
        let verdict = Self.evaluator(["_dmarc.example.co.uk": [.txt([record])]])
            .evaluate(header: Self.header("A <a@\(from)>"), spf: spf, dkim: dkim)
        #expect(verdict.result == result, "\(verdict)")
        #expect(verdict.fromDomain == from)
        var which: [String] = []
        if verdict.alignedSPFDomain != nil { which.append("spf") }
        if !verdict.alignedDKIMDomains.isEmpty { which.append("dkim") }
        #expect(which.joined(separator: " ") == aligned)
        #expect(verdict.disposition == (result == .fail ? .reject : .none))
    }

    @Test("discovery: the From: domain first, then its organisational domain; sp for subdomains")
    func discovery() {
        let zone: [String: [ZoneDNS.Record]] = [
            "_dmarc.example.com": [.txt(["v=DMARC1; p=reject; sp=quarantine"])],
            "_dmarc.own.example.com": [.txt(["v=DMARC1; p=none"])],
            "_dmarc.spf.example.com": [.txt(["v=spf1 -all"])],
        ]
        let dns = Self.evaluator(zone)
        let top = dns.evaluate(fromDomain: "example.com", spf: nil, dkim: [])
        #expect(
            (top.result, top.recordDomain, top.requestedPolicy, top.disposition) == (
                .fail, "example.com", .reject, .reject
            )
        )
        let sub = dns.evaluate(fromDomain: "a.b.example.com", spf: nil, dkim: [])
        #expect((sub.recordDomain, sub.requestedPolicy, sub.disposition) == ("example.com", .quarantine, .quarantine))
        let own = dns.evaluate(fromDomain: "own.example.com", spf: nil, dkim: [])
        #expect((own.result, own.recordDomain, own.disposition) == (.fail, "own.example.com", DMARCPolicy.none))
        // A TXT record that is not DMARC's does not stop the search.
        #expect(dns.evaluate(fromDomain: "spf.example.com", spf: nil, dkim: []).recordDomain == "example.com")
        let nothing = dns.evaluate(fromDomain: "example.org", spf: nil, dkim: [])
        #expect((nothing.result, nothing.requestedPolicy, nothing.disposition) == (.none, nil, DMARCPolicy.none))
        #expect(nothing.statement == "dmarc=none (no DMARC record) header.from=example.org")
    }

    @Test("two records: none; a DNS failure: temperror; an invalid record: permerror, or p=none with rua")
    func brokenRecords() {
        let dns = Self.evaluator([
            "_dmarc.two.test": [.txt(["v=DMARC1; p=reject"]), .txt(["v=DMARC1; p=none"]), .txt(["other"])],
            "_dmarc.down.test": [.timeout],
            "_dmarc.bad.test": [.txt(["v=DMARC1; p=maybe"])],
            "_dmarc.reported.test": [.txt(["v=DMARC1; p=maybe; rua=mailto:r@reported.test"])],
        ])
        let two = dns.evaluate(fromDomain: "two.test", spf: nil, dkim: [])
        #expect(two.result == .none && two.problem == "2 DMARC records at _dmarc.two.test")
        let down = dns.evaluate(fromDomain: "www.down.test", spf: nil, dkim: [])
        #expect(down.result == .temperror && down.problem == "DNS failure looking up _dmarc.down.test")
        let downTop = dns.evaluate(fromDomain: "down.test", spf: nil, dkim: [])
        #expect((downTop.result, downTop.disposition) == (.temperror, DMARCPolicy.none))
        #expect(downTop.statement == "dmarc=temperror (DNS failure looking up _dmarc.down.test) header.from=down.test")
        let bad = dns.evaluate(fromDomain: "bad.test", spf: nil, dkim: [])
        #expect((bad.result, bad.disposition) == (.permerror, DMARCPolicy.none))
        let reported = dns.evaluate(fromDomain: "reported.test", spf: nil, dkim: [])
        #expect(
            (reported.result, reported.requestedPolicy, reported.disposition) == (
                .fail, DMARCPolicy.none, DMARCPolicy.none
            )
        )
    }

    @Test("pct: sampled-in failures get the policy, the others the next milder one, pct=0 never the policy")
    func percentage() {
        let zone: [String: [ZoneDNS.Record]] = [
            "_dmarc.half.test": [.txt(["v=DMARC1; p=reject; pct=50"])],
            "_dmarc.quarter.test": [.txt(["v=DMARC1; p=quarantine; pct=25"])],
            "_dmarc.zero.test": [.txt(["v=DMARC1; p=reject; pct=0"])],
        ]
        for (draw, reject, quarantine) in [
            (0, DMARCPolicy.reject, DMARCPolicy.quarantine), (24, .reject, .quarantine),
            (25, .reject, .none), (49, .reject, .none), (50, .quarantine, .none), (99, .quarantine, .none),
        ] {
            let dns = Self.evaluator(zone, random: draw)
            #expect(dns.evaluate(fromDomain: "half.test", spf: nil, dkim: []).disposition == reject, "\(draw)")
            #expect(dns.evaluate(fromDomain: "quarter.test", spf: nil, dkim: []).disposition == quarantine, "\(draw)")
            let zero = dns.evaluate(fromDomain: "zero.test", spf: nil, dkim: [])
            #expect(zero.disposition == .quarantine && zero.requestedPolicy == .reject)
            #expect(zero.statement == "dmarc=fail (p=reject dis=quarantine) header.from=zero.test")
        }
    }

    /// (From: fields, the author domain or the problem)
    static let authors: [(String, DMARCAuthor)] = [
        ("From: Alice <alice@Example.COM>\r\n", .domain("example.com")),
        ("From: alice@example.com (Alice)\r\n", .domain("example.com")),
        ("FROM:\r\n \"Smith, Alice\" <alice@example.com>\r\n", .domain("example.com")),
        ("From: a@example.com, b@EXAMPLE.com\r\n", .domain("example.com")),
        ("From: Bücher <info@bücher.example>\r\n", .domain("xn--bcher-kva.example")),
        ("From: team: a@example.com, b@example.com;\r\n", .domain("example.com")),
        ("Subject: none\r\n", .unusable("no From: field")),
        ("From: a@example.com\r\nFrom: a@example.com\r\n", .unusable("2 From: fields")),
        ("From: a@example.com, b@example.net\r\n", .unusable("From: addresses in 2 domains")),
        ("From: undisclosed-recipients:;\r\n", .unusable("From: has no address")),
        ("From: alice\r\n", .unusable("From: address alice has no domain name")),
        ("From: alice@[192.0.2.1]\r\n", .unusable("From: address alice@[192.0.2.1] has no domain name")),
        ("From: \r\n", .unusable("From: has no address")),
    ]

    @Test("the RFC5322.From domain: exactly one field, one domain", arguments: authors)
    func authorDomain(fields: String, expected: DMARCAuthor) {
        #expect(DMARCAuthor(header: Array((fields + "To: b@example.org\r\n\r\nbody\r\n").utf8)) == expected)
    }

    @Test("hostile From: fields: thousands of addresses, a megabyte of Unicode domain, bounded and defined")
    func hostileFrom() {
        let many = (0..<20000).map { "u\($0)@d\($0 % 2).example.com" }.joined(separator: ", ")
        #expect(DMARCAuthor(header: Array("From: \(many)\r\n\r\n".utf8)) == .unusable("From: addresses in 2 domains"))
        let huge = String(repeating: "食狮亜", count: 350_000)
        #expect(
            DMARCAuthor(header: Array("From: a@\(huge).com\r\n\r\n".utf8))
                == .unusable("From: address a@ has no domain name")
        )
        #expect(DomainName.aLabels(huge) == nil)
    }

    @Test("a message without a single From: domain is rejected, whatever DNS says")
    func unusableFrom() {
        let verdict = Self.evaluator([:]).evaluate(
            header: Array("From: a@example.com\r\nFrom: ceo@bank.example\r\n\r\n".utf8),
            spf: nil,
            dkim: []
        )
        #expect((verdict.result, verdict.disposition, verdict.fromDomain) == (.permerror, .reject, nil))
        #expect(verdict.statement == "dmarc=permerror (2 From: fields)")
        #expect(verdict.rejectionText == "Message rejected: 2 From: fields")
    }

    @Test("Authentication-Results: the dmarc= statement after spf= and dkim=, in RFC 8601 form")
    func headerText() {
        let dns = Self.evaluator(["_dmarc.example.com": [.txt(["v=DMARC1; p=quarantine"])]])
        let pass = dns.evaluate(
            header: Self.header("a@example.com"),
            spf: Self.spf("example.com"),
            dkim: [Self.dkim("example.com")]
        )
        #expect(pass.statement == "dmarc=pass (p=quarantine dis=none) header.from=example.com")
        var spf = Self.spf("example.com")
        (spf.sender, spf.clientAddress) = ("a@example.com", "192.0.2.1")
        var results = AuthenticationResults(authservID: "mx.aviary.test")
        results.add(spf)
        results.add([Self.dkim("example.com")])
        results.add(pass)
        #expect(
            results.field == "Authentication-Results: mx.aviary.test;\r\n"
                + "\tspf=pass (mx.aviary.test: domain of a@example.com designates 192.0.2.1 as permitted sender)\r\n"
                + "\tsmtp.mailfrom=a@example.com;\r\n"
                + "\tdkim=pass header.d=example.com header.s=s header.a=ed25519-sha256 header.b=abcdefgh;\r\n"
                + "\tdmarc=pass (p=quarantine dis=none) header.from=example.com\r\n"
        )
        let fail = dns.evaluate(header: Self.header("a@example.com"), spf: nil, dkim: [])
        #expect(fail.rejectionText == "Message rejected by DMARC policy for example.com")
    }
}
