import AviaryCore
import Testing

@Suite("client networks")
struct ClientNetworksTests {
    static let networks = ClientNetworks([
        "127.0.0.0/8", "192.0.2.128/25", "198.51.100.7", "[::1]/128", "2001:db8::/32", "fe80::/10", "10.0.0.0/8",
    ])

    @Test(
        "addresses inside a listed network match, others do not",
        arguments: [
            ("127.0.0.1", true), ("127.255.1.2", true), ("128.0.0.1", false),
            ("192.0.2.128", true), ("192.0.2.200", true), ("192.0.2.127", false), ("192.0.2.1", false),
            ("198.51.100.7", true), ("198.51.100.8", false),
            ("10.1.2.3", true), ("11.0.0.1", false),
            ("::1", true), ("::2", false), ("0:0:0:0:0:0:0:1", true),
            ("2001:db8::1", true), ("2001:DB8:ffff:1::9", true), ("2001:db9::1", false),
            ("fe80::1%eth0", true), ("fec0::1", false),
            ("::ffff:127.0.0.1", true), ("::ffff:7f00:1", true), ("::ffff:192.0.2.130", true), ("::ffff:8.8.8.8", false),
            ("not an address", false), ("", false), ("1.2.3", false), ("256.0.0.1", false),
        ]
    )
    func contains(address: String, expected: Bool) {
        #expect(Self.networks.contains(address) == expected)
    }

    @Test("an IPv4 network never matches an IPv6 address and vice versa")
    func familiesAreSeparate() {
        let any4 = ClientNetworks(["0.0.0.0/0"])
        #expect(any4.contains("203.0.113.9"))
        #expect(any4.contains("::ffff:203.0.113.9"))
        #expect(!any4.contains("2001:db8::1"))
        let any6 = ClientNetworks(["::/0"])
        #expect(any6.contains("2001:db8::1"))
        #expect(!any6.contains("203.0.113.9"))
    }

    @Test("an empty list matches nothing")
    func empty() {
        #expect(!ClientNetworks([]).contains("127.0.0.1"))
    }

    @Test(
        "unreadable entries are collected and the rest still work",
        arguments: [
            "300.1.1.1", "1.2.3", "1.2.3.4/33", "::1/129", "nonsense", "[::1", "1:2:3:4:5:6:7:8:9", "2001:db8:::1",
            "1.2.3.4/-1", "12345::", "1.2.3.4.5",
        ]
    )
    func invalidEntries(entry: String) {
        let networks = ClientNetworks(["127.0.0.0/8", entry])
        #expect(networks.invalidEntries == [entry])
        #expect(networks.contains("127.0.0.1"))
    }

    @Test("a prefix length that is not a number is an invalid entry, not a host address", arguments: ["10.0.0.0/8x", "10.0.0.0/", "[::1]/abc"])
    func malformedPrefix(entry: String) {
        #expect(ClientNetworks([entry]).invalidEntries == [entry])
    }
}
