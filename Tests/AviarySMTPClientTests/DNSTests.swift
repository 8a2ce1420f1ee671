import AviaryTestSupport
import AviaryDNS
import Testing

@Suite("MX and address lookups against dnsmasq")
struct DNSTests {
    @Test("MX records, null MX, A/AAAA, NODATA and NXDOMAIN come back as Swift values")
    func lookups() async throws {
        let dns = try await Dnsmasq([
            "--mx-host=two.test,mx1.two.test,10", "--mx-host=two.test,mx2.two.test,20",
            "--host-record=mx1.two.test,127.0.0.2", "--host-record=mx2.two.test,127.0.0.1,::1",
            "--mx-host=nullmx.test,.,0", "--host-record=plain.test,127.0.0.3",
        ])
        let resolver = dns.resolver
        let mx = resolver.mxRecords("two.test")
        guard case .found(let records) = mx else {
            Issue.record("two.test MX: \(mx)")
            return
        }
        #expect(Set(records) == [MXRecord(preference: 10, host: "mx1.two.test"), MXRecord(preference: 20, host: "mx2.two.test")])
        #expect(resolver.addresses("mx2.two.test") == .found(["127.0.0.1", "::1"]))
        #expect(resolver.mxRecords("nullmx.test") == .found([MXRecord(preference: 0, host: "")]))
        #expect(resolver.mxRecords("plain.test") == .noData)
        #expect(resolver.addresses("plain.test") == .found(["127.0.0.3"]))
        #expect(resolver.mxRecords("nowhere.test") == .notFound)
        #expect(resolver.addresses("nowhere.test") == .notFound)
        await dns.stop()
    }

    @Test("a client's host name counts only when forward-confirmed: its PTR name's A or AAAA records lead back to it")
    func confirmedHostName() async throws {
        let dns = try await Dnsmasq([
            "--host-record=good.test,192.0.2.1", "--host-record=six.test,2001:db8::1",
            // A PTR that claims a name whose address is another one, and one whose name has no address.
            "--ptr-record=2.2.0.192.in-addr.arpa,liar.test", "--host-record=liar.test,192.0.2.99",
            "--ptr-record=3.2.0.192.in-addr.arpa,bank.test",
        ])
        let resolver = dns.resolver
        #expect(resolver.confirmedHostName(of: "192.0.2.1") == "good.test")
        #expect(resolver.confirmedHostName(of: "::ffff:192.0.2.1") == "good.test")
        #expect(resolver.confirmedHostName(of: "2001:db8::1") == "six.test")
        #expect(resolver.confirmedHostName(of: "192.0.2.2") == nil)
        #expect(resolver.confirmedHostName(of: "192.0.2.3") == nil)
        #expect(resolver.confirmedHostName(of: "192.0.2.4") == nil)
        #expect(resolver.confirmedHostName(of: "not an address") == nil)
        await dns.stop()
    }

    @Test("a resolver that does not answer is a temporary failure")
    func silentResolver() {
        let resolver = DNSResolver(serverAddress: ("127.0.0.1", freePort(udp: true)), timeoutSeconds: 1, attempts: 1)
        #expect(resolver.mxRecords("two.test") == .temporaryFailure)
    }
}
