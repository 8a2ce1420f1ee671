import AviaryConfig
import Testing

@testable import AviaryUsers

@Suite("domain routes")
struct DomainRoutesTests {
    static let config = try! MainConfig.parse(
        """
        myhostname = mail.example.test
        mydestination = $myhostname, localhost, Example.ORG, local.test.
        virtual_mailbox_domains = virtual.test, Shared.test
        relay_domains = relay.test, shared.test
        """, directory: "/test")

    @Test(
        "addresses are classified by domain: local, virtual, relay or remote",
        arguments: [
            ("user@mail.example.test", AddressClass.local),
            ("user@MAIL.Example.TEST", .local),
            ("user@mail.example.test.", .local),
            ("user", .local),
            ("user@", .local),
            ("user@example.org", .local),
            ("user@localhost", .local),
            ("user@local.test", .local),
            ("user@virtual.test", .virtual),
            ("user@VIRTUAL.test..", .virtual),
            ("\"odd@local\"@virtual.test", .virtual),
            ("user@shared.test", .virtual),
            ("user@relay.test", .relay),
            ("user@sub.relay.test", .remote),
            ("user@example.test", .remote),
            ("user@elsewhere.example", .remote),
            ("user@virtual.test.example", .remote),
        ]
    )
    func classify(address: String, expected: AddressClass) {
        #expect(DomainRoutes(config: Self.config).classify(address) == expected)
    }

    @Test("domain sets are lower-cased and lose trailing dots")
    func domainSets() {
        let routes = DomainRoutes(config: Self.config)
        #expect(routes.localDomains == ["mail.example.test", "localhost", "example.org", "local.test"])
        #expect(routes.virtualDomains == ["virtual.test", "shared.test"])
        #expect(routes.relayDomains == ["relay.test", "shared.test"])
    }

    @Test("each class has its transport, from main.cf")
    func transports() throws {
        let routes = DomainRoutes(config: Self.config)
        #expect(routes.transport(for: "a@localhost") == "local")
        #expect(routes.transport(for: "a@virtual.test") == "local")
        #expect(routes.transport(for: "a@relay.test") == "smtp")
        #expect(routes.transport(for: "a@remote.example") == "smtp")
        let custom = try MainConfig.parse(
            "mydestination = localhost\nvirtual_mailbox_domains = v.test\nrelay_domains = r.test\n"
                + "local_transport = mylocal\nvirtual_transport = virtual\nrelay_transport = relay\ndefault_transport = error\n",
            directory: "/test")
        let customRoutes = DomainRoutes(config: custom)
        #expect(customRoutes.transport(for: "a@localhost") == "mylocal")
        #expect(customRoutes.transport(for: "a@v.test") == "virtual")
        #expect(customRoutes.transport(for: "a@r.test") == "relay")
        #expect(customRoutes.transport(for: "a@x.test") == "error")
    }

    @Test(
        "an address splits at its last @, the domain canonical",
        arguments: [
            ("User+Tag@Example.Test.", "User+Tag", "example.test"),
            ("a@b@c.test", "a@b", "c.test"),
            ("\"x@y\"@Z.test", "\"x@y\"", "z.test"),
            ("plain", "plain", ""),
            ("@only.test", "", "only.test"),
            // The doc comment promises that a quoted local part keeps the @ inside its quotes.
            ("\"a@b\"", "\"a@b\"", ""),
        ]
    )
    func addressParts(address: String, localPart: String, domain: String) {
        let parts = AddressParts(address)
        #expect(parts.localPart == localPart)
        #expect(parts.domain == domain)
    }

    @Test(
        "recipient_delimiter strips an extension from the local part",
        arguments: [
            ("user+tag@x", "+", "user" as String?),
            ("User+a+b@x", "+", "User"),
            ("user+@x", "+", "user"),
            ("user@x", "+", nil),
            ("+tag@x", "+", nil),
            ("user+tag@x", "", nil),
            ("a-b+c@x", "+-", "a"),
            ("a-b@x", "+", nil),
        ]
    )
    func extensions(address: String, delimiters: String, base: String?) {
        #expect(AddressParts(address).localPartWithoutExtension(delimiters: delimiters) == base)
    }
}
