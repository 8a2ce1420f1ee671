import AviaryConfig
import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Foundation
import Logging
import Testing

@testable import AviaryPickup

#if canImport(Glibc)
import Glibc
#endif

/// A queue tree in a temporary directory, and a pickup over it.
final class PickupFixture {
    private let directory = TemporaryDirectory("pickup")
    var root: String { directory.path }
    let queue: QueueDirectory
    let pickup: Pickup

    init(mainCf: [String] = []) throws {
        let root = directory.path
        queue = QueueDirectory(root: root + "/q")
        try queue.prepare(owner: nil)
        let config = try MainConfig.parse(
            (["queue_directory = \(root)/q", "myhostname = mail.example.test"] + mainCf).joined(separator: "\n"),
            directory: root
        )
        var logger = Logger(label: "test.pickup")
        logger.logLevel = .critical
        pickup = Pickup(config: config, logger: logger)
    }

    /// A maildrop file as sendmail writes it.
    @discardableResult
    func drop(
        sender: String = "alice@mail.example.test",
        recipients: [String] = ["bob@mail.example.test"],
        message: String = "Subject: test\r\n\r\nhello\r\n",
        attributes: [QueueEnvelope.Attribute] = [],
        notify: String? = nil,
        originalRecipient: String? = nil
    ) throws -> QueueID {
        let writer = try QueueWriter(reservingIn: queue, queue: .maildrop, mode: 0o644)
        writer.begin(
            QueueEnvelope(
                arrivalTime: 1_800_000_000,
                sender: sender,
                attributes: [.init("origin", "sendmail"), .init("uid", "4242"), .init("protocol", "local")]
                    + attributes,
                recipients: recipients.map {
                    QueueRecipient(address: $0, notify: notify, originalRecipient: originalRecipient)
                }
            )
        )
        try writer.append(Array(message.utf8))
        return try writer.commit()
    }

    func files(_ name: QueueName) -> [String] {
        ((try? SafeFile.listDirectory(queue.path(of: name))) ?? []).sorted()
    }

    func message(_ id: QueueID, in name: QueueName) throws -> String {
        String(decoding: try QueueFile(path: queue.path(of: id, in: name)).messageBytes(), as: UTF8.self)
    }
}

@Suite("pickup")
struct PickupTests {
    @Test("a maildrop file moves to incoming/ with the same ID, a Received: header and the owner's uid")
    func moves() throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop()
        #expect(fixture.pickup.scan() == [id])
        #expect(fixture.files(.maildrop).isEmpty)
        #expect(fixture.files(.incoming) == [id.rawValue])
        let file = try QueueFile(path: fixture.queue.path(of: id, in: .incoming))
        #expect(file.envelope.sender == "alice@mail.example.test")
        #expect(file.envelope.recipients.map(\.address) == ["bob@mail.example.test"])
        #expect(file.envelope[attribute: "origin"] == "pickup")
        // The uid comes from the file's owner, not from the uid attribute sendmail wrote.
        #expect(file.envelope[attribute: "uid"] == String(geteuid()))
        #expect(file.envelope.arrivalTime == 1_800_000_000)
        let text = try fixture.message(id, in: .incoming)
        #expect(text.hasPrefix("Received: by mail.example.test (Aviary, from userid \(geteuid()))\r\n\tid \(id); "))
        #expect(text.hasSuffix("\r\nSubject: test\r\n\r\nhello\r\n"))
    }

    @Test("killed after rewriting in maildrop/ and before the move: the next scan moves it once, unchanged")
    func crashAfterRewrite() throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop()
        #expect(fixture.pickup.process(id, stage: .rewrite) == false)
        // The state a kill leaves: pickup's own version in maildrop/, nothing in incoming/.
        #expect(fixture.files(.maildrop) == [id.rawValue])
        #expect(fixture.files(.incoming).isEmpty)
        let rewritten = try fixture.message(id, in: .maildrop)
        #expect(rewritten.hasPrefix("Received: "))
        #expect(fixture.pickup.scan() == [id])
        #expect(fixture.files(.maildrop).isEmpty)
        #expect(fixture.files(.incoming) == [id.rawValue])
        let text = try fixture.message(id, in: .incoming)
        #expect(text == rewritten)
        #expect(text.components(separatedBy: "Received: ").count == 2)
        #expect(fixture.pickup.scan().isEmpty)
    }

    @Test("killed while writing its temporary file: the next scan starts over from the user's file")
    func crashWhileWriting() throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop()
        let temporary = fixture.queue.path(of: .maildrop) + "/." + id.rawValue
        let partial = try SafeFile.createExclusive(temporary)
        try partial.writeAll(Array("AVIARY-QUEUE 1\nT 1".utf8))
        partial.close()
        #expect(fixture.pickup.scan() == [id])
        #expect(fixture.files(.maildrop).isEmpty)
        #expect(fixture.files(.incoming) == [id.rawValue])
    }

    @Test("a file that does not parse goes to corrupt/; dot-files being written are left alone")
    func corrupt() throws {
        let fixture = try PickupFixture()
        let bad = QueueID.make()
        try SafeFile.writeDurably(Array("not a queue file\n".utf8), to: fixture.queue.path(of: bad, in: .maildrop))
        let writing = fixture.queue.path(of: .maildrop) + "/." + QueueID.make().rawValue
        try SafeFile.writeDurably(Array("AVIARY-QUEUE 1\n".utf8), to: writing)
        #expect(fixture.pickup.scan().isEmpty)
        #expect(fixture.files(.corrupt) == [bad.rawValue])
        #expect(SafeFile.exists(writing))
    }

    @Test("a message over message_size_limit is returned to its sender with a DSN")
    func oversize() throws {
        let fixture = try PickupFixture(mainCf: ["message_size_limit = 100"])
        let id = try fixture.drop(message: "Subject: big\r\n\r\n" + String(repeating: "x", count: 500) + "\r\n")
        #expect(fixture.pickup.scan().isEmpty)
        #expect(fixture.files(.maildrop).isEmpty)
        let bounces = fixture.queue.messages(in: .incoming)
        try #require(bounces.count == 1)
        let bounce = try QueueFile(path: fixture.queue.path(of: bounces[0], in: .incoming))
        #expect(bounce.envelope.sender == "")
        #expect(bounce.envelope.recipients.map(\.address) == ["alice@mail.example.test"])
        let text = String(decoding: try bounce.messageBytes(), as: UTF8.self)
        #expect(text.contains("5.3.4"))
        #expect(text.contains(id.rawValue))
    }

    @Test("a message whose Received: fields reach hopcount_limit with pickup's is returned with 5.4.6; one fewer passes")
    func hopCount() throws {
        let fixture = try PickupFixture(mainCf: ["hopcount_limit = 4"])
        let received = "Received: from a by b; Mon, 7 Dec 2026 05:00:00 +0000\r\n"
        let passes = try fixture.drop(message: String(repeating: received, count: 2) + "Subject: ok\r\n\r\nbody\r\n")
        let loops = try fixture.drop(message: String(repeating: received, count: 3) + "Subject: loop\r\n\r\nbody\r\n")
        #expect(fixture.pickup.scan() == [passes])
        #expect(fixture.files(.maildrop).isEmpty)
        let bounces = fixture.queue.messages(in: .incoming).filter { $0 != passes }
        try #require(bounces.count == 1)
        let bounce = try QueueFile(path: fixture.queue.path(of: bounces[0], in: .incoming))
        #expect(bounce.envelope.sender == "")
        let text = String(decoding: try bounce.messageBytes(), as: UTF8.self)
        #expect(text.contains("5.4.6"))
        #expect(text.contains("too many hops"))
        #expect(text.contains(loops.rawValue))
    }

    struct BadDSN: Sendable, CustomStringConvertible {
        var attributes: [QueueEnvelope.Attribute] = []
        var notify: String? = nil
        var originalRecipient: String? = nil
        var description: String { "\(attributes.map { "\($0.name)=\($0.value)" }) \(notify ?? "-") \(originalRecipient ?? "-")" }
    }

    @Test(
        "DSN values a user wrote into a maildrop file are checked as sendmail checks them: bad ones are returned",
        arguments: [
            BadDSN(attributes: [.init("ret", "FULL\r\nRCPT TO:<x@evil.test>")]),
            BadDSN(attributes: [.init("envid", "id\r\nX-Injected: yes")]),
            BadDSN(attributes: [.init("envid", String(repeating: "e", count: 101))]),
            BadDSN(notify: "SUCCESS\r\nRCPT TO:<x@evil.test>"),
            BadDSN(notify: "NEVER,DELAY"),
            BadDSN(originalRecipient: "rfc822;bob@mail.example.test\r\nX-Injected: yes"),
            BadDSN(originalRecipient: "no type"),
        ]
    )
    func badDSNValues(_ bad: BadDSN) throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop(
            attributes: bad.attributes, notify: bad.notify, originalRecipient: bad.originalRecipient)
        #expect(fixture.pickup.scan().isEmpty)
        #expect(fixture.files(.maildrop).isEmpty)
        let bounces = fixture.queue.messages(in: .incoming)
        try #require(bounces.count == 1)
        #expect(bounces[0] != id)
        let bounce = try QueueFile(path: fixture.queue.path(of: bounces[0], in: .incoming))
        #expect(bounce.envelope.sender == "")
        let text = String(decoding: try bounce.messageBytes(), as: UTF8.self)
        #expect(text.contains("5.5.4"))
        #expect(text.contains("bad DSN parameter"), "\(text)")
        // The bad value is quoted in the report with its CR LF as "??", never as a line of its own.
        let lines = text.split(separator: "\r\n")
        #expect(!lines.contains { $0.hasPrefix("X-Injected") || $0.hasPrefix("RCPT TO") }, "\(text)")
    }

    @Test("good DSN values in a maildrop file are passed on")
    func goodDSNValues() throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop(
            attributes: [.init("ret", "HDRS"), .init("envid", "QQ 123+x")], notify: "SUCCESS,DELAY",
            originalRecipient: "rfc822;Bob@mail.example.test")
        #expect(fixture.pickup.scan() == [id])
        let file = try QueueFile(path: fixture.queue.path(of: id, in: .incoming))
        #expect(file.envelope[attribute: "ret"] == "HDRS")
        #expect(file.envelope[attribute: "envid"] == "QQ 123+x")
        #expect(file.envelope.recipients.first?.notify == "SUCCESS,DELAY")
        #expect(file.envelope.recipients.first?.originalRecipient == "rfc822;Bob@mail.example.test")
    }

    @Test("a maildrop file that cannot be read now (EACCES) waits for the next scan instead of going to corrupt/",
          .enabled(if: !Privileges.isRoot, "root reads any file"))
    func unreadableWaits() throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop()
        let path = fixture.queue.path(of: id, in: .maildrop)
        #expect(chmod(path, 0) == 0)
        #expect(fixture.pickup.scan().isEmpty)
        #expect(fixture.files(.corrupt).isEmpty)
        #expect(fixture.files(.maildrop) == [id.rawValue])
        #expect(chmod(path, 0o644) == 0)
        #expect(fixture.pickup.scan() == [id])
    }

    @Test("a bad recipient with the null sender cannot be returned: the file is kept in corrupt/")
    func badRecipientNullSender() throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop(sender: "", recipients: ["not an address"])
        #expect(fixture.pickup.scan().isEmpty)
        #expect(fixture.files(.corrupt) == [id.rawValue])
    }

    @Test("a queue ID already used in another queue is never overwritten")
    func collision() throws {
        let fixture = try PickupFixture()
        let id = try fixture.drop()
        try SafeFile.writeDurably(Array("other".utf8), to: fixture.queue.path(of: id, in: .hold))
        #expect(fixture.pickup.scan().isEmpty)
        #expect(try SafeFile.readText(fixture.queue.path(of: id, in: .hold)) == "other")
        #expect(fixture.files(.maildrop) == [id.rawValue])
    }
}
