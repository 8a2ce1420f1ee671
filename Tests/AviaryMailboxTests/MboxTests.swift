import AviaryTestSupport
import AviaryCore
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

@Suite("mbox delivery, locking and reading")
struct MboxTests {
    let directory = TemporaryDirectory("mbox")
    var mbox: Mbox { Mbox(path: directory.path + "/user") }
    /// Short waits so that tests of a busy mailbox finish quickly; still bounded.
    static let quickLocking = MboxLocking(attempts: 3, retryDelay: .milliseconds(2))
    /// A minute of tries: polling is not fair, so one writer may wait through most of the others' deliveries.
    static let patientLocking = MboxLocking(attempts: 30_000, retryDelay: .milliseconds(2))

    static func date(
        _ year: Int32,
        _ month: Int32,
        _ day: Int32,
        _ hour: Int32,
        _ minute: Int32,
        _ second: Int32,
        weekday: Int32
    ) -> tm {
        var value = tm()
        value.tm_year = year - 1900
        value.tm_mon = month - 1
        value.tm_mday = day
        value.tm_hour = hour
        value.tm_min = minute
        value.tm_sec = second
        value.tm_wday = weekday
        return value
    }

    @Test("The From line has the sender and an asctime date; the null sender is MAILER-DAEMON")
    func fromLine() {
        let date = Self.date(2026, 11, 21, 23, 48, 1, weekday: 6)
        #expect(
            Mbox.fromLine(sender: "alice@example.org", date: date) == "From alice@example.org Sat Nov 21 23:48:01 2026"
        )
        #expect(Mbox.fromLine(sender: "", date: date) == "From MAILER-DAEMON Sat Nov 21 23:48:01 2026")
        let early = Self.date(2027, 1, 3, 4, 5, 6, weekday: 0)
        #expect(
            Mbox.fromLine(sender: "a b@example.org", date: early) == "From \"a b\"@example.org Sun Jan  3 04:05:06 2027"
        )
        #expect(Mbox.quoteLocalPart("o'hara+tag@example.org") == "o'hara+tag@example.org")
        #expect(Mbox.quoteLocalPart("we\"ird@x") == "\"we\\\"ird\"@x")
        #expect(Mbox.quoteLocalPart("jörg@example.org") == "jörg@example.org")
    }

    @Test("A delivery appends From line, prefix, quoted LF text and a blank line")
    func exactBytes() throws {
        var now = time(nil)
        var local = tm()
        localtime_r(&now, &local)
        try mbox.deliver(
            .bytes(bytes("Subject: x\r\n\r\nFrom me\r\n>From you\r\nend")),
            sender: "a@example.org",
            prefix: "Delivered-To: u@example.org\r\n",
            date: now
        )
        let expected =
            Mbox.fromLine(sender: "a@example.org", date: local) + "\n"
            + "Delivered-To: u@example.org\nSubject: x\n\n>From me\n>>From you\nend\n\n"
        #expect(try contents(of: mbox.path) == expected)
        #expect(!SafeFile.exists(mbox.path + ".lock"))
        var info = stat()
        #expect(stat(mbox.path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    static let roundTripMessages = [
        "Subject: plain\r\n\r\nHello\r\n",
        "From the start\r\n>From quoted\r\n>>From twice\r\n  From indented\r\nFrom\r\n",
        "",
        "no line end at all",
        "\r\n\r\nblank lines\r\n\r\n\r\n",
        "bare\rCR and >>>>From deep\r\n",
    ]

    @Test("Messages read back are the messages written, whatever lines they hold")
    func roundTrip() throws {
        for (index, message) in Self.roundTripMessages.enumerated() {
            try mbox.deliver(.bytes(bytes(message)), sender: index == 0 ? "" : "s\(index)@example.org")
        }
        let read = try mbox.messages()
        #expect(read.count == Self.roundTripMessages.count)
        for (index, message) in read.enumerated() {
            var expected = Self.roundTripMessages[index].replacingOccurrences(of: "\r\n", with: "\n")
            if !expected.isEmpty && !expected.hasSuffix("\n") { expected += "\n" }
            #expect(String(decoding: message.content, as: UTF8.self) == expected)
            #expect(message.sender == (index == 0 ? "MAILER-DAEMON" : "s\(index)@example.org"))
            #expect(message.date.wholeMatch(of: #/\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}/#) != nil)
        }
    }

    @Test("parse skips text before the first From line and accepts mailboxes without blank separators")
    func parseForeignMailbox() {
        let text = "junk\nFrom a@x Mon Jan  1 00:00:00 2024\nline\nFrom \"b c\"@y Tue Jan  2 00:00:00 2024\n>From q\n"
        let messages = Mbox.parse(bytes(text))
        #expect(messages.map(\.sender) == ["a@x", "\"b c\"@y"])
        #expect(messages.map(\.date) == ["Mon Jan  1 00:00:00 2024", "Tue Jan  2 00:00:00 2024"])
        #expect(messages.map { String(decoding: $0.content, as: UTF8.self) } == ["line\n", "From q\n"])
        #expect(Mbox.parse([]).isEmpty)
    }

    @Test("A failure in the middle of a delivery truncates the mailbox back to its size before it")
    func truncateOnFailure() throws {
        try mbox.deliver(.bytes(bytes("first\r\n")), sender: "a@x")
        let before = try SafeFile.readAll(mbox.path)
        var chunks = 0
        // Far more than the writer buffers, so part of the message really reaches the file before the failure.
        let failing = MessageSource {
            chunks += 1
            if chunks > 10 { throw InjectedFailure() }
            return ArraySlice(bytes(String(repeating: "From line that is quoted\r\n", count: 1000)))
        }
        let error = try #require(throws: MailboxError.self) { try mbox.deliver(failing, sender: "b@x") }
        #expect(error.code == .messageUnreadable)
        #expect(chunks == 11)
        #expect(try SafeFile.readAll(mbox.path) == before)
        #expect(!SafeFile.exists(mbox.path + ".lock"))
        try mbox.deliver(.bytes(bytes("third\r\n")), sender: "c@x")
        #expect(try mbox.messages().map(\.sender) == ["a@x", "c@x"])
    }

    @Test("A delivery that would take the mailbox over its size limit is refused and leaves it as it was")
    func sizeLimit() throws {
        try mbox.deliver(.bytes(bytes("first\r\n")), sender: "a@x", sizeLimit: 1000)
        let before = try SafeFile.readAll(mbox.path)
        let large = bytes(String(repeating: "x", count: 990) + "\r\n")
        let error = try #require(throws: MailboxError.self) {
            try mbox.deliver(.bytes(large), sender: "b@x", sizeLimit: 1000)
        }
        #expect(error.code == .full)
        #expect("\(error)" == "mailbox \(mbox.path) is full (mailbox_size_limit = 1000)")
        #expect(try SafeFile.readAll(mbox.path) == before)
        // Exactly at the limit is allowed: measure the growth on a copy, then deliver with that limit.
        let copy = Mbox(path: directory.path + "/copy")
        try SafeFile.writeDurably(before, to: copy.path, mode: 0o600)
        try copy.deliver(.bytes(large), sender: "b@x", date: 0)  // 0: no limit
        let exact = Int64(try SafeFile.readAll(copy.path).count)
        #expect(throws: MailboxError.self) {
            try mbox.deliver(.bytes(large), sender: "b@x", date: 0, sizeLimit: exact - 1)
        }
        try mbox.deliver(.bytes(large), sender: "b@x", date: 0, sizeLimit: exact)
        #expect(try mbox.messages().map(\.sender) == ["a@x", "b@x"])
        #expect(try SafeFile.readAll(mbox.path) == SafeFile.readAll(copy.path))
    }

    @Test("A symbolic link or a hard-linked file is refused as a mailbox")
    func unsafeMailboxes() throws {
        let target = directory.path + "/target"
        try SafeFile.writeDurably([], to: target)
        #expect(symlink(target, mbox.path) == 0)
        let viaSymlink = try #require(throws: MailboxError.self) { try mbox.deliver(.bytes([]), sender: "") }
        #expect(viaSymlink.code == .unsafeMailbox)
        let hardLinked = Mbox(path: directory.path + "/hard")
        #expect(link(target, hardLinked.path) == 0)
        let viaHardLink = try #require(throws: MailboxError.self) { try hardLinked.deliver(.bytes([]), sender: "") }
        #expect(viaHardLink.code == .unsafeMailbox)
        #expect(try SafeFile.readAll(target).isEmpty)
        #expect(!SafeFile.exists(mbox.path + ".lock") && !SafeFile.exists(hardLinked.path + ".lock"))
    }

    @Test("A delivery waits a bounded time for a dot-lock held by someone else, then reports the mailbox busy")
    func dotLockTimeout() throws {
        try SafeFile.writeDurably([], to: mbox.path + ".lock")
        let error = try #require(throws: MailboxError.self) {
            try mbox.deliver(.bytes(bytes("x\r\n")), sender: "", locking: Self.quickLocking)
        }
        #expect(error.code == .lockTimeout)
        #expect(SafeFile.exists(mbox.path + ".lock"))
        #expect(try mbox.messages().isEmpty)
    }

    @Test("A stale dot-lock is removed and the delivery goes ahead")
    func staleDotLock() throws {
        try SafeFile.writeDurably([], to: mbox.path + ".lock")
        // A lock's age comes from its ctime, which cannot be set back; a negative limit makes any lock stale.
        var locking = Self.quickLocking
        locking.staleDotLockAge = -1
        try mbox.deliver(.bytes(bytes("x\r\n")), sender: "", locking: locking)
        #expect(try mbox.messages().count == 1)
        #expect(!SafeFile.exists(mbox.path + ".lock"))
    }

    @Test("The fcntl lock of a reader keeps a delivery out, even within one process")
    func fcntlLockTimeout() throws {
        try mbox.deliver(.bytes(bytes("first\r\n")), sender: "")
        let fcntlOnly = MboxLocking(usesDotLock: false, attempts: 3, retryDelay: .milliseconds(2))
        let error = try mbox.withLock(fcntlOnly) { _ throws(MailboxError) -> MailboxError? in
            do throws(MailboxError) {
                try mbox.deliver(.bytes(bytes("x\r\n")), sender: "", locking: fcntlOnly)
                return nil
            } catch {
                return error
            }
        }
        #expect(error?.code == .lockTimeout)
        #expect(try mbox.messages().count == 1)
    }

    @Test("Concurrent deliveries from several threads never interleave", arguments: [true, false])
    func concurrentThreads(usesDotLock: Bool) async throws {
        var patient = Self.patientLocking
        patient.usesDotLock = usesDotLock
        let locking = patient
        let mbox = self.mbox
        let failures = try await onOwnThread {
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 4) { writer in
                for round in 0..<6 {
                    let line = "writer \(writer) round \(round)\r\n"
                    let message = bytes("Subject: \(writer)-\(round)\r\n\r\n" + String(repeating: line, count: 5000))
                    do {
                        try mbox.deliver(Self.slowSource(message), sender: "w\(writer)@x", locking: locking)
                    } catch {
                        failures.withLock { $0.append("\(writer)-\(round): \(error)") }
                    }
                }
            }
            return failures.withLock { $0 }
        }
        #expect(failures == [])
        try Self.expectIntact(mbox, count: 24)
    }

    /// A message arriving in small pieces with pauses, so that one delivery spans several write(2) calls
    /// (it is bigger than the write buffer) with time in between for another writer to cut in.
    static func slowSource(_ message: [UInt8]) -> MessageSource {
        var offset = 0
        return MessageSource {
            guard offset < message.count else { return nil }
            usleep(100)
            let end = min(offset + 8192, message.count)
            defer { offset = end }
            return message[offset..<end]
        }
    }

    /// Every message must consist of its subject and 5000 copies of one line naming the same writer.
    static func expectIntact(_ mbox: Mbox, count: Int) throws {
        let messages = try mbox.messages()
        #expect(messages.count == count)
        for message in messages {
            let lines = String(decoding: message.content, as: UTF8.self).split(separator: "\n")
            let subject = try #require(lines.first)
            let id = subject.dropFirst("Subject: ".count)
            let parts = id.split(separator: "-")
            let expectedLine = "writer \(parts[0]) round \(parts[1])"
            #expect(lines.count == 5001)
            #expect(lines.dropFirst().allSatisfy { $0 == expectedLine }, "message \(id) is mixed with another")
        }
    }

    @Test(
        "Deliveries and another process holding classic fcntl locks exclude each other",
        .enabled(if: python3Path != nil)
    )
    func concurrentWithOtherProcess() async throws {
        // The other process appends messages in many small writes under lockf (F_SETLKW), the way classic
        // mail programs lock; its writes must never land inside one of ours or ours inside its.
        let script = """
            import fcntl, os, sys, time
            path = sys.argv[1]
            for round in range(6):
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                fcntl.lockf(fd, fcntl.LOCK_EX)
                line = 'writer 9 round %d\\n' % round
                os.write(fd, ('From other@x Mon Jan  1 00:00:00 2024\\nSubject: 9-%d\\n\\n' % round).encode())
                for chunk in range(50):
                    os.write(fd, (line * 100).encode())
                    time.sleep(0.001)
                os.write(fd, b'\\n')
                fcntl.lockf(fd, fcntl.LOCK_UN)
                os.close(fd)
            """
        let mbox = self.mbox
        let failures = try await onOwnThread {
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { worker in
                if worker == 0 {
                    do { try runPython(script, [mbox.path]) } catch { failures.withLock { $0.append("python: \(error)") } }
                    return
                }
                for round in 0..<6 {
                    let line = "writer 1 round \(round)\r\n"
                    let message = bytes("Subject: 1-\(round)\r\n\r\n" + String(repeating: line, count: 5000))
                    do {
                        try mbox.deliver(.bytes(message), sender: "w1@x", locking: Self.patientLocking)
                    } catch {
                        failures.withLock { $0.append("1-\(round): \(error)") }
                    }
                }
            }
            return failures.withLock { $0 }
        }
        #expect(failures == [])
        try Self.expectIntact(mbox, count: 12)
    }

    @Test("Python's mailbox module reads the mbox Aviary writes", .enabled(if: python3Path != nil))
    func pythonReadsMbox() throws {
        try mbox.deliver(.bytes(bytes("Subject: one\r\n\r\nFrom inside\r\n")), sender: "a@example.org")
        try mbox.deliver(.bytes(bytes("Subject: two\r\n\r\nbody\r\n")), sender: "")
        let script = """
            import mailbox, sys
            for m in mailbox.mbox(sys.argv[1]):
                print(m['Subject'], m.get_from().split(' ')[0], repr(m.get_payload()))
            """
        let output = try runPython(script, [mbox.path])
        #expect(output == "one a@example.org '>From inside\\n'\ntwo MAILER-DAEMON 'body\\n'\n")
    }
}
