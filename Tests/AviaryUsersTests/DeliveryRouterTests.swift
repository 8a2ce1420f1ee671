import AviaryConfig
import AviaryCore
import AviaryTestSupport
import Testing

@testable import AviaryUsers

@Suite("delivery routes")
struct DeliveryRouterTests {
    static func router(_ extra: String, in directory: String) throws -> DeliveryRouter {
        let config = try MainConfig.parse(
            """
            myhostname = mail.example.test
            mydestination = localhost
            virtual_mailbox_domains = virtual.test
            relay_domains = relay.test
            \(extra)
            """, directory: directory)
        return DeliveryRouter(config: config, directory: UserDirectory(config: config))
    }

    @Test("by address class: local and virtual have no next hop; remote and relay go to their domain or relayhost")
    func byClass() throws {
        let temporary = TemporaryDirectory("routes")
        let directory = temporary.path
        do {
            let direct = try Self.router("", in: directory)
            #expect(try direct.route(for: "bob@localhost").get() == DeliveryRoute(transport: "local", nextHop: nil))
            #expect(try direct.route(for: "a@virtual.test").get() == DeliveryRoute(transport: "local", nextHop: nil))
            #expect(try direct.route(for: "a@Example.COM").get() == DeliveryRoute(transport: "smtp", nextHop: "example.com"))
            #expect(try direct.route(for: "a@relay.test").get() == DeliveryRoute(transport: "smtp", nextHop: "relay.test"))
            let relayed = try Self.router("relayhost = [smarthost.example]:587", in: directory)
            #expect(try relayed.route(for: "a@example.com").get().nextHop == "[smarthost.example]:587")
            #expect(try relayed.route(for: "bob@localhost").get().nextHop == nil)
        }
    }

    @Test("transport_maps: address, domain, .subdomain and * keys; transport:nexthop, transport:, :nexthop values")
    func transportMaps() throws {
        let temporary = TemporaryDirectory("routes")
        let directory = temporary.path
        do {
            try SafeFile.writeDurably(
                Array(
                    """
                    special@example.com   smtp:[special.example]:2525
                    example.com           :[mx.example.com]
                    .sub.example.org      relay:
                    example.net           local
                    """.utf8), to: directory + "/transport")
            let router = try Self.router("transport_maps = texthash:\(directory)/transport", in: directory)
            #expect(try router.route(for: "special@example.com").get() == DeliveryRoute(transport: "smtp", nextHop: "[special.example]:2525"))
            #expect(try router.route(for: "other@example.com").get() == DeliveryRoute(transport: "smtp", nextHop: "[mx.example.com]"))
            #expect(try router.route(for: "x@a.sub.example.org").get() == DeliveryRoute(transport: "relay", nextHop: "a.sub.example.org"))
            #expect(try router.route(for: "x@example.net").get() == DeliveryRoute(transport: "local", nextHop: nil))
            #expect(try router.route(for: "x@elsewhere.example").get() == DeliveryRoute(transport: "smtp", nextHop: "elsewhere.example"))
            let missing = try Self.router("transport_maps = texthash:\(directory)/nonexistent", in: directory)
            #expect(throws: RouteError.self) { try missing.route(for: "x@elsewhere.example").get() }
        }
    }
}
