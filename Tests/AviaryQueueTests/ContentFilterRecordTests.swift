import AviaryCore
import AviaryTestSupport
import Testing

@testable import AviaryQueue

/// The content filter record (`F`): written only when a message has a filter, read back exactly, and absent
/// from every file written before it existed, which still reads as "no filter".
@Suite("queue file content filter record")
struct ContentFilterRecordTests {
    @Test("a filter is one F record after the attributes and reads back as written")
    func written() throws {
        let temporary = try TemporaryQueue()
        var envelope = sampleEnvelope()
        envelope.contentFilter = "smtp:[127.0.0.1]:10024"
        let (_, path) = try writeQueueFile(temporary.queue, envelope: envelope, pieces: [Array("hi\r\n".utf8)])
        let text = try SafeFile.readText(path)
        #expect(text.contains("A client_address=127.0.0.1\nF smtp:[127.0.0.1]:10024\nR P - - bob@example.test\n"))
        let file = try QueueFile(path: path)
        #expect(file.envelope.contentFilter == "smtp:[127.0.0.1]:10024")
        #expect(file.envelope.attributes == envelope.attributes && file.envelope.sender == envelope.sender)
        #expect(try file.messageBytes() == Array("hi\r\n".utf8))
    }

    @Test("without a filter no F record is written: the file is byte for byte what older versions wrote")
    func absent() throws {
        let temporary = try TemporaryQueue()
        let (_, path) = try writeQueueFile(temporary.queue, envelope: sampleEnvelope(), pieces: [Array("hi\r\n".utf8)])
        #expect(!(try SafeFile.readText(path)).contains("\nF "))
        #expect(try QueueFile(path: path).envelope.contentFilter == nil)
    }

    @Test("a file written before the record existed reads as having no filter, recipients' status offsets intact")
    func olderFile() throws {
        let directory = TemporaryDirectory("filter-record")
        // Exactly what Aviary wrote before content_filter (QueueFileTests.exactBytes's layout).
        let old =
            "AVIARY-QUEUE 1\nT 1700000000.250000\nS a@b.test\nA helo_name=x%20y\nR P - - c@d.test\nM\nhi\r\nE 00000000000000000004\n"
        try SafeFile.writeDurably(Array(old.utf8), to: directory.path + "/old")
        let file = try QueueFile(path: directory.path + "/old", forUpdate: true)
        #expect(file.envelope.contentFilter == nil)
        #expect(file.envelope.recipients.map(\.address) == ["c@d.test"])
        try file.setStatus(.delivered, ofRecipient: 0)
        #expect((try SafeFile.readText(directory.path + "/old")).contains("\nR D - - c@d.test\n"))
    }

    @Test("awkward filter text is encoded on one line; an empty or repeated F record makes the file corrupt")
    func malformed() throws {
        let temporary = try TemporaryQueue()
        var envelope = sampleEnvelope()
        envelope.contentFilter = "filter:host with space\n"
        let (_, path) = try writeQueueFile(temporary.queue, envelope: envelope, pieces: [[]])
        #expect(try QueueFile(path: path).envelope.contentFilter == "filter:host with space\n")

        let directory = TemporaryDirectory("filter-record")
        for (name, records) in [("empty", "F \n"), ("twice", "F smtp:[127.0.0.1]:10024\nF smtp:[127.0.0.1]:10025\n")] {
            let text = "AVIARY-QUEUE 1\nT 1.000000\nS a@b.test\n\(records)R P - - c@d.test\nM\nE 00000000000000000000\n"
            try SafeFile.writeDurably(Array(text.utf8), to: directory.path + "/" + name)
            #expect(throws: QueueFileError.self, "\(name)") { try QueueFile(path: directory.path + "/" + name) }
        }
    }
}
