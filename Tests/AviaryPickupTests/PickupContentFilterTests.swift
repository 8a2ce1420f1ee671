import AviaryCore
import AviaryQueue
import Testing

@testable import AviaryPickup

/// pickup's part of the after-queue content filter: the filter in the files it writes is its own
/// `content_filter`, never one a maildrop file names.
@Suite("pickup and content_filter")
struct PickupContentFilterTests {
    /// Drops a maildrop file that names `filter` itself, picks it up, and returns the filter of the result.
    static func pickedUpFilter(mainCf: [String], droppedFilter: String?) throws -> String? {
        let fixture = try PickupFixture(mainCf: mainCf)
        let writer = try QueueWriter(reservingIn: fixture.queue, queue: .maildrop, mode: 0o644)
        writer.begin(
            QueueEnvelope(
                arrivalTime: 1_800_000_000,
                sender: "alice@mail.example.test",
                attributes: [.init("origin", "sendmail"), .init("uid", "4242"), .init("protocol", "local")],
                recipients: [QueueRecipient(address: "bob@mail.example.test")],
                contentFilter: droppedFilter
            )
        )
        try writer.append(Array("Subject: test\r\n\r\nhello\r\n".utf8))
        let id = try writer.commit()
        #expect(fixture.pickup.scan() == [id])
        return try QueueFile(path: fixture.queue.path(of: id, in: .incoming)).envelope.contentFilter
    }

    @Test("pickup records its content_filter; without one, none")
    func recorded() throws {
        #expect(
            try Self.pickedUpFilter(mainCf: ["content_filter = smtp:[127.0.0.1]:10024"], droppedFilter: nil)
                == "smtp:[127.0.0.1]:10024"
        )
        #expect(try Self.pickedUpFilter(mainCf: [], droppedFilter: nil) == nil)
    }

    @Test("a filter named in the maildrop file is not taken: a local user does not choose where qmgr sends mail")
    func notFromTheFile() throws {
        #expect(try Self.pickedUpFilter(mainCf: [], droppedFilter: "pipe:anything") == nil)
        #expect(
            try Self.pickedUpFilter(mainCf: ["content_filter = smtp:[127.0.0.1]:10024"], droppedFilter: "pipe:x")
                == "smtp:[127.0.0.1]:10024"
        )
    }
}
