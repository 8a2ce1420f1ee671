import AviaryAuthentication
import Testing

/// SPF evaluation against hostile and broken records: every case ends with a defined result after a bounded
/// number of DNS queries.
@Suite("SPF: bad records, limits and macros")
struct SPFCheckerTests {
    static func check(
        _ zone: [String: [ZoneDNS.Record]], sender: String = "user@a.test", helo: String = "mail.client.test",
        client: String = "192.0.2.1", limits: SPFLimits = SPFLimits()
    ) -> (SPFOutcome, queries: Int) {
        let dns = ZoneDNS(zone)
        let outcome = SPFChecker(dns: dns, limits: limits, receiver: "mx.aviary.test", now: { 1_700_000_000 })
            .checkMailFrom(sender: sender, helo: helo, client: client)
        return (outcome, dns.queries)
    }

    static func spf(_ text: String) -> [ZoneDNS.Record] { [.txt([text])] }

    @Test("an include loop is a permerror after at most 10 DNS terms")
    func includeLoop() {
        let (outcome, queries) = Self.check([
            "a.test": Self.spf("v=spf1 include:b.test -all"), "b.test": Self.spf("v=spf1 include:a.test -all"),
        ])
        #expect(outcome.result == .permerror)
        #expect(queries <= 12, "\(queries) queries")
    }

    @Test("a redirect to itself and a redirect cycle are permerrors, bounded")
    func redirectLoops() {
        let (selfRedirect, queries) = Self.check(["a.test": Self.spf("v=spf1 redirect=a.test")])
        #expect(selfRedirect.result == .permerror)
        #expect(queries <= 12)
        let (cycle, _) = Self.check([
            "a.test": Self.spf("v=spf1 redirect=b.test"), "b.test": Self.spf("v=spf1 redirect=c.test"),
            "c.test": Self.spf("v=spf1 redirect=a.test"),
        ])
        #expect(cycle.result == .permerror)
    }

    @Test("a record of 5000 mechanisms: ip4 terms cost no look-up, a: terms stop at the eleventh")
    func thousandsOfMechanisms() {
        let ip4 = (0..<5000).map { "ip4:198.51.\($0 / 250).\($0 % 250)" }.joined(separator: " ")
        let (pass, noQueries) = Self.check(["a.test": Self.spf("v=spf1 \(ip4) ip4:192.0.2.1 -all")])
        #expect(pass.result == .pass)
        #expect(noQueries == 1)
        let names = (0..<5000).map { "a:h\($0).a.test" }.joined(separator: " ")
        var zone = ["a.test": Self.spf("v=spf1 \(names) -all")]
        for index in 0..<20 { zone["h\(index).a.test"] = [.a("198.51.100.\(index)")] }
        let (limited, queries) = Self.check(zone)
        #expect(limited.result == .permerror)
        #expect(limited.problem?.contains("more than 10") == true, "\(limited)")
        #expect(queries == 11)
    }

    @Test("a third void look-up is a permerror")
    func voidLookups() {
        let (two, _) = Self.check(["a.test": Self.spf("v=spf1 a:x1.a.test a:x2.a.test ip4:192.0.2.1 -all")])
        #expect(two.result == .pass)
        let (three, _) = Self.check(["a.test": Self.spf("v=spf1 a:x1.a.test a:x2.a.test mx:x3.a.test ip4:192.0.2.1 -all")])
        #expect(three.result == .permerror)
    }

    @Test("more than 10 MX records: permerror; more than 10 PTR names: the rest ignored")
    func nameLimits() {
        var zone = ["a.test": Self.spf("v=spf1 mx -all")]
        zone["a.test"]! += (0..<11).map { .mx($0, "mx\($0).a.test") }
        for index in 0..<11 { zone["mx\(index).a.test"] = [.a("192.0.2.1")] }
        #expect(Self.check(zone).0.result == .permerror)
        var ptr: [String: [ZoneDNS.Record]] = ["a.test": Self.spf("v=spf1 ptr -all")]
        ptr["1.2.0.192.in-addr.arpa"] = (0..<20).map { .ptr("h\($0).a.test") }
        for index in 0..<20 { ptr["h\(index).a.test"] = [.a(index == 15 ? "192.0.2.1" : "198.51.100.1")] }
        let (outcome, queries) = Self.check(ptr)
        #expect(outcome.result == .fail)
        #expect(queries == 12)
    }

    @Test("a DNS failure is temperror, and so is running out of time")
    func temporaryFailures() {
        #expect(Self.check(["a.test": [.timeout]]).0.result == .temperror)
        #expect(Self.check(["a.test": Self.spf("v=spf1 a:error.a.test -all")]).0.result == .temperror)
        var limits = SPFLimits()
        limits.timeLimit = .zero
        #expect(Self.check(["a.test": Self.spf("v=spf1 -all")], limits: limits).0.result == .temperror)
    }

    @Test("absurd macros: huge transformers, names past 253 octets, %{p} many times, malformed ones")
    func absurdMacros() {
        let huge = Self.check(["a.test": Self.spf("v=spf1 exists:%{d99999999999999999999r}.x.a.test -all"), "test.a.x.a.test": [.a("127.0.0.2")]])
        #expect(huge.0.result == .pass, "\(huge.0)")
        let long = String(repeating: "%{s}", count: 2000)
        let (truncated, _) = Self.check(["a.test": Self.spf("v=spf1 exists:\(long).a.test -all")])
        #expect(truncated.result == .fail)
        let manyP = String(repeating: "%{p}.", count: 1000)
        let (pointers, queries) = Self.check(["a.test": Self.spf("v=spf1 exists:\(manyP)a.test -all")])
        #expect(pointers.result == .fail)
        #expect(queries <= 4, "%{p} is looked up once: \(queries)")
        for bad in ["%{l0}", "%{x}", "%", "%{d", "%a", "%{c}", "%{d2q}"] {
            let (outcome, _) = Self.check(["a.test": Self.spf("v=spf1 exists:\(bad).a.test -all")])
            #expect(outcome.result == .permerror, "\(bad)")
        }
    }

    @Test("explanations: expanded with c, r and t, cut to a bounded length, ignored when broken")
    func explanations() {
        let (fail, _) = Self.check([
            "a.test": Self.spf("v=spf1 -all exp=why.a.test"),
            "why.a.test": [.txt(["%{c} not allowed by %{o} (asked by %{r} at %{t})"])],
        ])
        #expect(fail.explanation == "192.0.2.1 not allowed by a.test (asked by mx.aviary.test at 1700000000)")
        let (long, _) = Self.check([
            "a.test": Self.spf("v=spf1 -all exp=why.a.test"), "why.a.test": [.txt([String(repeating: "%{s}", count: 500)])],
        ])
        #expect(long.result == .fail)
        #expect(long.explanation?.count == 512)
        let (broken, _) = Self.check([
            "a.test": Self.spf("v=spf1 -all exp=why.a.test"), "why.a.test": [.txt(["%{"]), .txt(["two"])],
        ])
        #expect(broken.result == .fail)
        #expect(broken.explanation == nil)
    }

    @Test("records: none without one, permerror with two or with a syntax error anywhere, non-SPF TXT ignored")
    func recordSelection() {
        #expect(Self.check(["a.test": [.txt(["google-site-verification=x"])]]).0.result == .none)
        #expect(Self.check(["a.test": Self.spf("v=spf1 -all") + Self.spf("v=spf1 +all")]).0.result == .permerror)
        #expect(Self.check(["a.test": Self.spf("v=spf1 ip4:192.0.2.1 ip4:192.0.2.300")]).0.result == .permerror)
        #expect(Self.check(["a.test": Self.spf("v=spf10 +all")]).0.result == .none)
        #expect(Self.check(["a.test": [.txt(["v=spf1 ", "ip4:192.0.2.1", " -all"])]]).0.result == .pass)
        let oversized = "v=spf1 " + String(repeating: "x", count: 65000)
        #expect(Self.check(["a.test": Self.spf(oversized)]).0.result == .permerror)
    }

    @Test("null sender: the HELO identity; a HELO that is no domain: none")
    func identities() {
        let zone = ["client.test": Self.spf("v=spf1 ip4:192.0.2.0/24 -all")]
        let (helo, _) = Self.check(zone, sender: "", helo: "client.test")
        #expect(helo.result == .pass)
        #expect(helo.domain == "client.test")
        #expect(Self.check(zone, sender: "", helo: "[192.0.2.1]").0.result == .none)
        #expect(Self.check(zone, sender: "", helo: "localhost").0.result == .none)
        let (ipv6, _) = Self.check(["a.test": Self.spf("v=spf1 ip6:2001:db8::/32 -all")], client: "2001:db8::25")
        #expect(ipv6.result == .pass)
        let (mapped, _) = Self.check(["a.test": Self.spf("v=spf1 ip4:192.0.2.1 -all")], client: "::ffff:192.0.2.1")
        #expect(mapped.result == .pass)
    }
}
