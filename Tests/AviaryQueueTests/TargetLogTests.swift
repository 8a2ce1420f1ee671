import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("target log")
struct TargetLogTests {
    @Test("outcomes round-trip in order; tabs, newlines and % in fields are encoded")
    func roundTrip() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let id = QueueID.make()
        #expect(try queue.targetOutcomes(for: id) == [])
        let outcomes = [
            TargetOutcome(recipientIndex: 0, target: "maildir:/var/mail/a b/Maildir"),
            TargetOutcome(
                recipientIndex: 2, target: "command:nobody:/bin/sh -c 'exit\t1'",
                failure: .init(dsn: "5.3.0", text: "command died with status 1: 100%\nbad")),
            TargetOutcome(recipientIndex: 0, target: "forward:x@example.test"),
        ]
        for outcome in outcomes { try queue.record(outcome, for: id) }
        #expect(try queue.targetOutcomes(for: id) == outcomes)
        let text = try SafeFile.readText(queue.path(of: id, in: .targets))
        #expect(text.split(separator: "\n").count == 3)
        #expect(text.contains("2\tB\t5.3.0\tcommand:nobody:/bin/sh%20-c%20'exit%091'\t"))
    }

    @Test("a last line cut short by a kill, and lines that do not parse, count as nothing")
    func tornAndMalformed() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let id = QueueID.make()
        try SafeFile.writeDurably(
            Array("0\tD\tfile:/a\nx\tD\tfile:/b\n1\tQ\tfile:/c\n1\tB\t5.0.0\tfile:/d\n0\tD\tfile:/torn".utf8),
            to: queue.path(of: id, in: .targets))
        #expect(try queue.targetOutcomes(for: id) == [TargetOutcome(recipientIndex: 0, target: "file:/a")])
    }

    @Test("removing a message removes its target log")
    func removedWithMessage() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let writer = try QueueWriter(
            directory: queue, envelope: QueueEnvelope(arrivalTime: 1, sender: "", recipients: [QueueRecipient(address: "a@b")]))
        let id = try writer.commit()
        try queue.record(TargetOutcome(recipientIndex: 0, target: "file:/a"), for: id)
        try queue.remove(id, from: .incoming)
        #expect(!SafeFile.exists(queue.path(of: id, in: .targets)))
    }
}
