import AviaryTestSupport
import AviaryCore
import Testing

@testable import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// Writes a queue file with `envelope` and the message given in `pieces`, returning its path and ID.
func writeQueueFile(
    _ queue: QueueDirectory, envelope: QueueEnvelope, pieces: [[UInt8]], in name: QueueName = .incoming
) throws -> (id: QueueID, path: String) {
    let writer = try QueueWriter(directory: queue, queue: name, envelope: envelope)
    for piece in pieces { try writer.append(piece) }
    let id = try writer.commit()
    return (id, queue.path(of: id, in: name))
}

func sampleEnvelope(recipients: [QueueRecipient] = [QueueRecipient(address: "bob@example.test")]) -> QueueEnvelope {
    QueueEnvelope(
        arrivalTime: 1_700_000_000.25, sender: "alice@example.test",
        attributes: [.init("client_address", "127.0.0.1")], recipients: recipients)
}

@Suite("queue file codec")
struct QueueFileTests {
    @Test("the file layout is exactly as documented")
    func exactBytes() throws {
        let temporary = try TemporaryQueue()
        let envelope = QueueEnvelope(
            arrivalTime: 1_700_000_000.25, sender: "a@b.test",
            attributes: [.init("helo_name", "x y"), .init("ret", "HDRS")],
            recipients: [
                QueueRecipient(address: "c@d.test"),
                QueueRecipient(address: "e@f.test", notify: "SUCCESS,FAILURE", originalRecipient: "rfc822;E@F.test"),
            ])
        let (_, path) = try writeQueueFile(temporary.queue, envelope: envelope, pieces: [Array("hi\r\n".utf8)])
        let expected = """
            AVIARY-QUEUE 1
            T 1700000000.250000
            S a@b.test
            A helo_name=x%20y
            A ret=HDRS
            R P - - c@d.test
            R P SUCCESS,FAILURE rfc822;E@F.test e@f.test
            M
            hi\r
            E 00000000000000000004

            """
        #expect(try SafeFile.readText(path) == expected)
    }

    @Test("sender, attributes and recipients survive a round trip, including awkward bytes")
    func roundTrip() throws {
        let temporary = try TemporaryQueue()
        let attributes: [QueueEnvelope.Attribute] = [
            .init("helo_name", "with space\tand tab"),
            .init("client_name", "line\nbreak\r\n"),
            .init("envid", "100% sure=yes"),
            .init("subject", "Grüße, 日本語 🐦"),
            .init("empty", ""),
            .init("control", "\u{7F}\u{01}-"),
        ]
        let recipients = [
            QueueRecipient(address: "plain@example.test"),
            QueueRecipient(address: "\"a b\"@example.test", notify: "NEVER"),
            QueueRecipient(address: "dash@example.test", notify: "-", originalRecipient: "-"),
            QueueRecipient(address: "orcpt@example.test", notify: "SUCCESS,DELAY", originalRecipient: "rfc822;Old Name@x"),
            QueueRecipient(address: "ünïcode@exämple.test", status: .bounced),
            QueueRecipient(address: "", notify: "", originalRecipient: ""),
        ]
        let envelope = QueueEnvelope(
            arrivalTime: 1_712_345_678.123456, sender: "percent%sign space@example.test", attributes: attributes,
            recipients: recipients)
        let (_, path) = try writeQueueFile(temporary.queue, envelope: envelope, pieces: [Array("x\r\n".utf8)])
        let file = try QueueFile(path: path)
        #expect(file.envelope.sender == envelope.sender)
        #expect(file.envelope.attributes == attributes)
        #expect(abs(file.envelope.arrivalTime - envelope.arrivalTime) < 0.00001)
        #expect(file.envelope.recipients.count == recipients.count)
        for (read, written) in zip(file.envelope.recipients, recipients) {
            #expect(read.address == written.address)
            #expect(read.status == written.status)
            #expect(read.notify == written.notify)
            #expect(read.originalRecipient == written.originalRecipient)
        }
        #expect(file.envelope[attribute: "envid"] == "100% sure=yes")
        #expect(file.envelope[attribute: "missing"] == nil)
        #expect(!file.envelope.isBounce)
        // Every record is one line: the only raw LFs are record ends (the message is "x\r\n").
        let bytes = try SafeFile.readAll(path)
        #expect(bytes.filter { $0 == 10 }.count == 3 + attributes.count + recipients.count + 3)
    }

    @Test("the null sender round-trips as the empty string and marks a bounce")
    func nullSender() throws {
        let temporary = try TemporaryQueue()
        var envelope = sampleEnvelope()
        envelope.sender = ""
        let (_, path) = try writeQueueFile(temporary.queue, envelope: envelope, pieces: [])
        let file = try QueueFile(path: path)
        #expect(file.envelope.sender == "")
        #expect(file.envelope.isBounce)
    }

    @Test(
        "message bytes are kept exactly: 8-bit, binary, bare CR/LF, empty",
        arguments: [
            [UInt8](),
            Array("Subject: t\r\n\r\nbody\r\n".utf8),
            Array("Subject: Grüße\r\n\r\n8-bit body é\r\n".utf8),
            (0...255).map { UInt8($0) } + (0...255).reversed().map { UInt8($0) },
            Array("no final newline".utf8),
            Array("\n\r\n\r.\r\nM\nE 00000000000000000005\n".utf8),
        ]
    )
    func messageBytes(message: [UInt8]) throws {
        let temporary = try TemporaryQueue()
        let (_, path) = try writeQueueFile(temporary.queue, envelope: sampleEnvelope(), pieces: [message])
        let file = try QueueFile(path: path)
        #expect(file.messageLength == Int64(message.count))
        #expect(try file.messageBytes() == message)
    }

    @Test("a 3 MB message written in uneven pieces reads back identically, in bounded chunks")
    func largeMessage() throws {
        let temporary = try TemporaryQueue()
        let total = 3 * 1024 * 1024 + 17
        let message = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        var pieces: [[UInt8]] = []
        var offset = 0
        let sizes = [1, 2, 65535, 65536, 65537, 100_000, 7, 300_000]
        var which = 0
        while offset < total {
            let size = min(sizes[which % sizes.count], total - offset)
            pieces.append(Array(message[offset..<(offset + size)]))
            offset += size
            which += 1
        }
        let writer = try QueueWriter(directory: temporary.queue, envelope: sampleEnvelope())
        for piece in pieces { try writer.append(piece) }
        #expect(writer.messageLength == Int64(total))
        let id = try writer.commit()
        let file = try QueueFile(path: temporary.queue.path(of: id, in: .incoming))
        #expect(file.messageLength == Int64(total))
        var chunks = 0
        var read: [UInt8] = []
        try file.readMessage(chunkSize: 100_000) { chunk in
            #expect(chunk.count <= 100_000)
            chunks += 1
            read += chunk
        }
        #expect(chunks == (total + 99_999) / 100_000)
        #expect(read == message)
    }

    @Test("a recipient's status is updated in place and seen after reopening")
    func setStatus() throws {
        let temporary = try TemporaryQueue()
        let recipients = ["a@x.test", "b@x.test", "c@x.test"].map { QueueRecipient(address: $0) }
        let (_, path) = try writeQueueFile(
            temporary.queue, envelope: sampleEnvelope(recipients: recipients), pieces: [Array("m\r\n".utf8)])
        let sizeBefore = try SafeFile.readAll(path).count
        let file = try QueueFile(path: path, forUpdate: true)
        try file.setStatus(.delivered, ofRecipient: 1)
        try file.setStatus(.bounced, ofRecipient: 2)
        #expect(file.envelope.recipients.map(\.status) == [.pending, .delivered, .bounced])
        let reopened = try QueueFile(path: path)
        #expect(reopened.envelope.recipients.map(\.status) == [.pending, .delivered, .bounced])
        #expect(reopened.envelope.recipients.map(\.address) == recipients.map(\.address))
        #expect(try reopened.messageBytes() == Array("m\r\n".utf8))
        #expect(try SafeFile.readAll(path).count == sizeBefore)
        #expect(RecipientStatus.pending.isFinal == false)
        #expect(RecipientStatus.delivered.isFinal && RecipientStatus.bounced.isFinal)
    }

    @Test("refreshStatuses picks up another open file's updates")
    func refreshStatuses() throws {
        let temporary = try TemporaryQueue()
        let recipients = ["a@x.test", "b@x.test"].map { QueueRecipient(address: $0) }
        let (_, path) = try writeQueueFile(temporary.queue, envelope: sampleEnvelope(recipients: recipients), pieces: [])
        let reader = try QueueFile(path: path)
        let writer = try QueueFile(path: path, forUpdate: true)
        try writer.setStatus(.delivered, ofRecipient: 0)
        #expect(reader.envelope.recipients[0].status == .pending)
        try reader.refreshStatuses()
        #expect(reader.envelope.recipients.map(\.status) == [.delivered, .pending])
    }

    @Test("a file opened read-only cannot record a status")
    func setStatusReadOnly() throws {
        let temporary = try TemporaryQueue()
        let (_, path) = try writeQueueFile(temporary.queue, envelope: sampleEnvelope(), pieces: [])
        let file = try QueueFile(path: path)
        #expect(throws: SystemError.self) { try file.setStatus(.delivered, ofRecipient: 0) }
    }

    @Test("isStillAt follows the file, not the name")
    func isStillAt() throws {
        let temporary = try TemporaryQueue()
        let (id, path) = try writeQueueFile(temporary.queue, envelope: sampleEnvelope(), pieces: [])
        let file = try QueueFile(path: path)
        #expect(file.isStillAt(path))
        try temporary.queue.move(id, from: .incoming, to: .active)
        #expect(!file.isStillAt(path))
        #expect(file.isStillAt(temporary.queue.path(of: id, in: .active)))
    }

    @Test("a missing queue file fails with ENOENT")
    func missingFile() throws {
        let temporary = try TemporaryQueue()
        do {
            _ = try QueueFile(path: temporary.queue.path(of: .incoming) + "/0T4ZQ3K1A2B3CDE")
            Issue.record("opened a missing file")
        } catch {
            #expect(error.systemError?.code == ENOENT)
        }
    }

    @Test("an unfinished writer leaves only a dot-file, and abort removes it")
    func abortRemovesTemporary() throws {
        let temporary = try TemporaryQueue()
        let writer = try QueueWriter(directory: temporary.queue, envelope: sampleEnvelope())
        try writer.append(Array("partial".utf8))
        let names = try SafeFile.listDirectory(temporary.queue.path(of: .incoming))
        #expect(names == ["." + writer.id.rawValue])
        #expect(temporary.queue.messages(in: .incoming).isEmpty)
        writer.abort()
        #expect(try SafeFile.listDirectory(temporary.queue.path(of: .incoming)).isEmpty)
    }

    @Test("a writer dropped without commit removes its temporary file")
    func deinitAborts() throws {
        let temporary = try TemporaryQueue()
        do {
            let writer = try QueueWriter(directory: temporary.queue, envelope: sampleEnvelope())
            try writer.append([1, 2, 3])
        }
        #expect(try SafeFile.listDirectory(temporary.queue.path(of: .incoming)).isEmpty)
    }

    @Test("a chosen ID is used; if its temporary name is taken a fresh ID is picked")
    func chosenID() throws {
        let temporary = try TemporaryQueue()
        let chosen = QueueID.make()
        let writer = try QueueWriter(directory: temporary.queue, queue: .active, id: chosen, envelope: sampleEnvelope())
        #expect(writer.id == chosen)
        #expect(try writer.commit() == chosen)
        #expect(SafeFile.exists(temporary.queue.path(of: chosen, in: .active)))
        let taken = QueueID.make()
        try SafeFile.createExclusive(temporary.queue.path(of: .incoming) + "/." + taken.rawValue).close()
        let other = try QueueWriter(directory: temporary.queue, id: taken, envelope: sampleEnvelope())
        #expect(other.id != taken)
        other.abort()
    }

    @Test("percent-encoding escapes %, space, controls and DEL only, and bad escapes do not decode")
    func recordEncoding() {
        #expect(QueueRecord.encodeBytes("a b%c\t\r\n\u{7F}é") == Array("a%20b%25c%09%0D%0A%7Fé".utf8))
        #expect(QueueRecord.decode(Array("a%20b%25".utf8)) == "a b%")
        #expect(QueueRecord.decode(Array("%2".utf8)) == nil)
        #expect(QueueRecord.decode(Array("%ZZ".utf8)) == nil)
        #expect(QueueRecord.optional(nil) == Array("-".utf8))
        #expect(QueueRecord.optional("-") == Array("%2D".utf8))
    }
}

@Suite("corrupt queue files")
struct CorruptQueueFileTests {
    /// A good file's bytes.
    func goodBytes() throws -> [UInt8] {
        let temporary = try TemporaryQueue()
        let envelope = sampleEnvelope(recipients: [
            QueueRecipient(address: "one@example.test"),
            QueueRecipient(address: "two@example.test", notify: "FAILURE", originalRecipient: "rfc822;two@example.test"),
        ])
        let (_, path) = try writeQueueFile(
            temporary.queue, envelope: envelope, pieces: [Array("Subject: hi\r\n\r\nbody line\r\n.\r\n".utf8)])
        return try SafeFile.readAll(path)
    }

    /// Parses `bytes` as a queue file: the error, or nil when it parsed.
    func parse(_ bytes: [UInt8], in directory: TemporaryDirectory, name: String = "f") -> QueueFileError? {
        let path = directory.path + "/" + name
        unlink(path)
        do {
            try SafeFile.writeDurably(bytes, to: path)
            _ = try QueueFile(path: path)
            return nil
        } catch let error as QueueFileError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    func replacing(_ bytes: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self)
        return Array(text.replacingOccurrences(old, new).utf8)
    }

    @Test("the good file parses")
    func goodFileParses() throws {
        let directory = TemporaryDirectory()
        #expect(parse(try goodBytes(), in: directory) == nil)
    }

    @Test("a file cut short at any offset is corrupt")
    func truncatedEverywhere() throws {
        let directory = TemporaryDirectory()
        let good = try goodBytes()
        var accepted: [Int] = []
        for length in 0..<good.count where parse(Array(good[..<length]), in: directory) == nil {
            accepted.append(length)
        }
        #expect(accepted == [])
    }

    @Test("a padded file is corrupt", arguments: [[UInt8(0)], [10], Array("E 00000000000000000000\n".utf8)])
    func padded(extra: [UInt8]) throws {
        let directory = TemporaryDirectory()
        let error = parse(try goodBytes() + extra, in: directory)
        #expect(error?.reason.contains("truncated or padded") == true)
    }

    @Test("a bad magic line is refused", arguments: ["AVIARY-QUEUE 2", "aviary-queue 1", "AVIARY-QUEUE 1 ", "X"])
    func badMagic(magic: String) throws {
        let directory = TemporaryDirectory()
        let error = parse(replacing(try goodBytes(), "AVIARY-QUEUE 1\n", magic + "\n"), in: directory)
        #expect(error?.reason.contains("bad first line") == true)
    }

    @Test("a file without its end record is corrupt")
    func missingEndRecord() throws {
        let directory = TemporaryDirectory()
        let good = try goodBytes()
        let error = parse(Array(good.dropLast(QueueRecord.endRecordLength)), in: directory)
        #expect(error != nil)
        let lying = replacing(good, "E 00000000000000000029\n", "E 00000000000000000028\n")
        #expect(lying != good)
        #expect(parse(lying, in: directory)?.reason.contains("end record") == true)
    }

    @Test(
        "malformed envelope records are refused with a reason",
        arguments: [
            ("M\n", "X something\nM\n", "unknown record type X"),
            ("M\n", "\nM\n", "empty record"),
            ("M\n", "Rx\nM\n", "malformed record"),
            ("R P - - one@", "R Q - - one@", "bad recipient record"),
            ("R P - - one@", "R PP - - one@", "bad recipient record"),
            ("R P - - one@", "R P - one@", "bad recipient record"),
            ("T 1700000000.250000", "T soon", "bad arrival time"),
            ("A client_address=127.0.0.1", "A noequals", "bad attribute record"),
            ("A client_address=127.0.0.1", "A bad%escape", "bad attribute record"),
            ("S alice@example.test", "S bad%G0", "bad sender record"),
            ("S alice@example.test\n", "", "missing arrival time or sender"),
            ("T 1700000000.250000\n", "", "missing arrival time or sender"),
        ]
    )
    func malformedRecords(old: String, new: String, reason: String) throws {
        let directory = TemporaryDirectory()
        let good = try goodBytes()
        let bad = replacing(good, old, new)
        #expect(bad != good)
        let error = parse(bad, in: directory)
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
    }

    @Test(
        "an arrival time that is not a finite number in Int range is refused (qmgr and local convert it with Int())",
        arguments: ["nan", "inf", "-inf", "1e300", "-1e300"]
    )
    func unusableArrivalTime(value: String) throws {
        let directory = TemporaryDirectory()
        let bad = replacing(try goodBytes(), "T 1700000000.250000", "T " + value)
        let error = parse(bad, in: directory)
        #expect(error?.reason.contains("bad arrival time") == true, "T \(value) was accepted")
    }

    @Test("a file without recipients is corrupt")
    func noRecipients() throws {
        let directory = TemporaryDirectory()
        var text = String(decoding: try goodBytes(), as: UTF8.self)
        text = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("R ") }
            .joined(separator: "\n")
        #expect(parse(Array(text.utf8), in: directory)?.reason.contains("no recipients") == true)
    }

    @Test("an empty file is corrupt")
    func emptyFile() {
        let directory = TemporaryDirectory()
        #expect(parse([], in: directory) != nil)
    }
}

extension String {
    func replacingOccurrences(_ old: String, _ new: String) -> String {
        guard !old.isEmpty else { return self }
        return self.replacing(old, with: new, maxReplacements: 1)
    }
}
