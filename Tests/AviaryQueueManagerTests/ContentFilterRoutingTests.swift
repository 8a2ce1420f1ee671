import AviaryConfig
import AviaryCore
import AviaryIPC
import AviaryQueue
import AviaryTestSupport
import AviaryUsers
import Testing

@testable import AviaryQueueManager

/// qmgr's delivery plan for a message with a content filter: every pending recipient goes to the filter,
/// whatever transport_maps and relayhost say, in one request when the filter names its next hop.
@Suite("content filter routing")
struct ContentFilterRoutingTests {
    /// A router with a local domain, a virtual domain, a relayhost and a transport_maps entry.
    static func router(in directory: String) throws -> DeliveryRouter {
        try SafeFile.writeDurably(
            Array("special.test smtp:[special.example]:2525\n".utf8),
            to: directory + "/transport"
        )
        let config = try MainConfig.parse(
            """
            myhostname = mail.example.test
            mydestination = localhost
            virtual_mailbox_domains = virtual.test
            relayhost = [smarthost.example]:587
            transport_maps = texthash:\(directory)/transport
            """,
            directory: directory
        )
        return DeliveryRouter(config: config, directory: UserDirectory(config: config))
    }

    static let addresses = [
        "bob@localhost", "a@virtual.test", "x@special.test", "y@elsewhere.example", "done@elsewhere.example",
    ]

    static func envelope(filter: String?) -> QueueEnvelope {
        var recipients = addresses.map { QueueRecipient(address: $0) }
        recipients[4].status = .delivered
        return QueueEnvelope(arrivalTime: 1, sender: "s@example.test", recipients: recipients, contentFilter: filter)
    }

    static func summary(_ groups: [DeliveryRoute: [DeliveryRequest.Recipient]]) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: groups.map { ($0.key.description, $0.value.map(\.index)) })
    }

    @Test("with a filter, every pending recipient is in one request to the filter's transport and next hop")
    func filtered() throws {
        let temporary = TemporaryDirectory("filter-routes")
        let router = try Self.router(in: temporary.path)
        let plan = MessageDelivery.plan(
            envelope: Self.envelope(filter: "smtp:[127.0.0.1]:10024"),
            recipients: [0, 1, 2, 3],
            router: router
        )
        #expect(Self.summary(plan.groups) == ["smtp:[127.0.0.1]:10024": [0, 1, 2, 3]])
        #expect(plan.unrouted.isEmpty)
    }

    @Test("without a filter (an older file, or mail given back by the filter) each recipient takes its own route")
    func unfiltered() throws {
        let temporary = TemporaryDirectory("filter-routes")
        let router = try Self.router(in: temporary.path)
        let plan = MessageDelivery.plan(envelope: Self.envelope(filter: nil), recipients: [0, 1, 2, 3], router: router)
        #expect(
            Self.summary(plan.groups) == [
                "local": [0, 1], "smtp:[special.example]:2525": [2], "smtp:[smarthost.example]:587": [3],
            ]
        )
    }

    @Test("a filter without a next hop goes to each recipient's domain; one without a transport defers, never bypasses")
    func filterForms() throws {
        let temporary = TemporaryDirectory("filter-routes")
        let router = try Self.router(in: temporary.path)
        for filter in ["scan:", "scan"] {
            let plan = MessageDelivery.plan(
                envelope: Self.envelope(filter: filter),
                recipients: [0, 3],
                router: router
            )
            #expect(Self.summary(plan.groups) == ["scan:localhost": [0], "scan:elsewhere.example": [3]], "\(filter)")
        }
        let broken = MessageDelivery.plan(
            envelope: Self.envelope(filter: ":[127.0.0.1]:10024"),
            recipients: [0, 3],
            router: router
        )
        #expect(broken.groups.isEmpty)
        #expect(broken.unrouted.map(\.index) == [0, 3])
        #expect(broken.unrouted.allSatisfy { $0.status == .deferred && $0.text.contains("bad content_filter") })
    }
}
