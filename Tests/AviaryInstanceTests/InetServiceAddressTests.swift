import AviaryInstance
import Testing

@Suite("inet service names")
struct InetServiceAddressTests {
    @Test(
        "host, bracketed IPv6, bare port and /etc/services names parse",
        arguments: [
            ("127.0.0.1:2525", "127.0.0.1", UInt16(2525)),
            ("[::1]:587", "::1", 587),
            ("25", nil, 25),
            ("smtp", nil, 25),
            ("localhost:submission", "localhost", 587),
            ("127.0.0.1:0", "127.0.0.1", 0),
            ("*:110", nil, 110),
        ] as [(String, String?, UInt16)]
    )
    func parses(name: String, host: String?, port: UInt16) throws {
        let address = try InetServiceAddress(parsing: name)
        #expect(address.host == host)
        #expect(address.port == port)
    }

    @Test(
        "a bad port or a malformed IPv6 address is refused",
        arguments: ["127.0.0.1:nosuchservice", "[::1", "[::1]25", "70000", ""]
    )
    func refuses(name: String) {
        #expect(throws: MasterError.self) { try InetServiceAddress(parsing: name) }
    }
}
