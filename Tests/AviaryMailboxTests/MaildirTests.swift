import AviaryTestSupport
import AviaryCore
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

@Suite("Maildir delivery and reading")
struct MaildirTests {
    let directory = TemporaryDirectory("maildir")
    var maildir: Maildir { Maildir(path: directory.path + "/Maildir/") }

    @Test("create makes tmp, new and cur and may be repeated")
    func create() throws {
        try maildir.create()
        try maildir.create()
        for subdirectory in Maildir.Subdirectory.allCases {
            #expect(SafeFile.isDirectory(maildir.path(of: subdirectory)))
        }
        #expect(maildir.path == directory.path + "/Maildir")
        #expect(!SafeFile.exists(maildir.path + "/maildirfolder"))
    }

    @Test("A delivered message is in new/ under a unique name with its size, LF line ends and the prefix first")
    func deliver() throws {
        try maildir.create()
        let message = "Subject: hi\r\n\r\nbody\r\nFrom here\r\n"
        let name = try maildir.deliver(
            .bytes(bytes(message)),
            prefix: "Delivered-To: a@example.org\r\nReturn-Path: <b@example.org>\n",
            hostname: "mx.example.org"
        )
        let expected = "Delivered-To: a@example.org\nReturn-Path: <b@example.org>\nSubject: hi\n\nbody\nFrom here\n"
        let pattern = #/^(\d+)\.M(\d+)P(\d+)Q(\d+)\.mx\.example\.org,S=(\d+),W=(\d+)$/#
        let match = try #require(name.wholeMatch(of: pattern))
        #expect(Int(match.3) == Int(getpid()))
        #expect(Int(match.5) == expected.utf8.count)
        // W: the size POP3 and IMAP announce, every line end as CR LF (the prefix's LF-only one too).
        #expect(Int(match.6) == expected.utf8.count + expected.utf8.filter { $0 == 10 }.count)
        #expect(try contents(of: maildir.path(of: .new) + "/" + name) == expected)
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
        var info = stat()
        #expect(stat(maildir.path(of: .new) + "/" + name, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test("A message file over sizeLimit is refused as full and leaves nothing in tmp/ or new/; one at the limit arrives")
    func sizeLimit() throws {
        try maildir.create()
        let message = bytes("Subject: x\r\n\r\n" + String(repeating: "y", count: 100) + "\r\n")
        let stored = message.count - 3  // as stored: LF line ends
        let error = #expect(throws: MailboxError.self) {
            try maildir.deliver(.bytes(message), hostname: "h", sizeLimit: Int64(stored - 1))
        }
        #expect(error?.code == .full)
        #expect("\(error.map { "\($0)" } ?? "")" == "message file would exceed mailbox_size_limit = \(stored - 1) in maildir \(maildir.path)")
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
        #expect(try SafeFile.listDirectory(maildir.path(of: .new)).isEmpty)
        let name = try maildir.deliver(.bytes(message), hostname: "h", sizeLimit: Int64(stored))
        #expect(name.hasSuffix(",S=\(stored),W=\(message.count)"))
    }

    @Test("An oversized message is refused as soon as it passes the limit, not read and written whole")
    func sizeLimitStopsEarly() throws {
        try maildir.create()
        let chunk = [UInt8](repeating: UInt8(ascii: "z"), count: 99_999) + [10]
        var pulled = 0
        let chunks = (0..<100).lazy.map { _ in
            pulled += 1
            return chunk
        }
        #expect(throws: MailboxError.self) {
            try maildir.deliver(.chunks(chunks), hostname: "h", sizeLimit: 250_000)
        }
        #expect(pulled <= 4, "read \(pulled) of 100 chunks of 100 KB for a limit of 250 KB")
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
    }

    @Test("Two deliveries in one process get different names")
    func uniqueNames() throws {
        try maildir.create()
        var names: Set<String> = []
        for _ in 0..<20 { names.insert(try maildir.deliver(.bytes(bytes("x\r\n")), hostname: "h")) }
        #expect(names.count == 20)
        #expect(try SafeFile.listDirectory(maildir.path(of: .new)).count == 20)
    }

    @Test("A host name with / and : cannot break the file name")
    func hostnameEscaped() throws {
        try maildir.create()
        let name = try maildir.deliver(.bytes(bytes("x\r\n")), hostname: "bad/host:name")
        #expect(name.contains(".bad\\057host\\072name,S=2,W=3"))
        #expect(SafeFile.exists(maildir.path(of: .new) + "/" + name))
    }

    @Test("A large message in odd-sized chunks arrives intact and S= is the file size")
    func largeChunkedMessage() throws {
        try maildir.create()
        var message: [UInt8] = []
        var expected: [UInt8] = []
        for line in 0..<20000 {
            let text = "line \(line) " + String(repeating: "x", count: line % 90)
            message += bytes(text + "\r\n")
            expected += bytes(text + "\n")
        }
        // Chunks of 4093 bytes put some boundaries between a CR and its LF.
        let chunks = stride(from: 0, to: message.count, by: 4093).map { message[$0..<min($0 + 4093, message.count)] }
        let name = try maildir.deliver(.chunks(chunks), hostname: "h")
        let path = maildir.path(of: .new) + "/" + name
        #expect(try SafeFile.readAll(path) == expected)
        #expect(MaildirFileName(name).size == expected.count)
    }

    @Test("A message can come straight from a part of a file, as from a queue file")
    func fileSource() throws {
        try maildir.create()
        let queueFile = directory.path + "/queuefile"
        try SafeFile.writeDurably(bytes("HEADER-RECORDS|Subject: q\r\n\r\nbody\r\n|TRAILER"), to: queueFile)
        let file = try SafeFile.openForReading(queueFile)
        let name = try maildir.deliver(.file(file, offset: 15, length: 20, chunkSize: 5), hostname: "h")
        #expect(try contents(of: maildir.path(of: .new) + "/" + name) == "Subject: q\n\nbody\n")

        let error = try #require(throws: MailboxError.self) {
            try maildir.deliver(.file(file, offset: 15, length: 1000), hostname: "h")
        }
        #expect(error.code == .messageUnreadable)
        #expect(try maildir.messages().count == 1)
    }

    @Test("A message that fails while being read leaves nothing in tmp/ or new/")
    func sourceFailureCleansUp() throws {
        try maildir.create()
        var sent = 0
        let failing = MessageSource {
            sent += 1
            if sent > 3 { throw InjectedFailure() }
            return ArraySlice(repeating: UInt8(ascii: "a"), count: 50_000)
        }
        let error = try #require(throws: MailboxError.self) { try maildir.deliver(failing, hostname: "h") }
        #expect(error.code == .messageUnreadable)
        #expect(error.cause is InjectedFailure)
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
        #expect(try SafeFile.listDirectory(maildir.path(of: .new)).isEmpty)
    }

    @Test("A failure to move into new/ removes the tmp/ file")
    func moveFailureCleansUp() throws {
        try maildir.create()
        #expect(rmdir(maildir.path(of: .new)) == 0)
        let error = try #require(throws: MailboxError.self) {
            try maildir.deliver(.bytes(bytes("x\r\n")), hostname: "h")
        }
        #expect(error.code == .io)
        #expect((error.cause as? SystemError)?.code == ENOENT)
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
    }

    @Test("Delivering into a Maildir that does not exist fails without creating it")
    func missingMaildir() throws {
        #expect(throws: MailboxError.self) { try maildir.deliver(.bytes(bytes("x\r\n"))) }
        #expect(!SafeFile.exists(maildir.path))
    }

    @Test("Maildir++ folders are dot-directories with a maildirfolder marker")
    func folders() throws {
        try maildir.create()
        let sent = try maildir.folder(named: "Sent")
        #expect(sent.path == maildir.path + "/.Sent")
        #expect(sent.isFolder)
        try sent.create()
        try maildir.folder(named: "Archive.2024").create()
        #expect(SafeFile.exists(sent.path + "/maildirfolder"))
        #expect(SafeFile.isDirectory(sent.path(of: .cur)))
        #expect(try maildir.folderNames() == ["Archive.2024", "Sent"])
        try sent.deliver(.bytes(bytes("x\r\n")))
        #expect(try sent.messages().count == 1)
        #expect(try maildir.messages().isEmpty)
    }

    @Test(
        "Folder names that would escape or confuse the layout are refused",
        arguments: [
            "", ".Sent", "a..b", "Sent.", "a/b", "../x", "tab\tname",
        ]
    )
    func invalidFolderNames(name: String) throws {
        let error = try #require(throws: MailboxError.self) { try maildir.folder(named: name) }
        #expect(error.code == .invalidName)
    }

    @Test("Listing finds new/ and cur/ messages with unique names, flags and sizes, in delivery order")
    func listing() throws {
        try maildir.create()
        let delivered = try maildir.deliver(.bytes(bytes("hello\r\n")), hostname: "h")
        // Written by Dovecot (size in the name) and by a writer that records no size.
        let dovecot = "1600000000.M123P45.host,S=100,W=102:2,S"
        try SafeFile.writeDurably(bytes("abc\n"), to: maildir.path(of: .cur) + "/" + dovecot)
        let plain = "1650000000.M1P2.other:2,RF"
        try SafeFile.writeDurably(bytes("12345\n"), to: maildir.path(of: .cur) + "/" + plain)
        try SafeFile.writeDurably(bytes("junk"), to: maildir.path(of: .cur) + "/.hidden")

        let messages = try maildir.messages()
        #expect(messages.map(\.fileName) == [dovecot, plain, delivered])
        #expect(messages.map(\.size) == [100, 6, 6])
        #expect(messages.map(\.subdirectory) == [.cur, .cur, .new])
        #expect(messages[0].uniqueName == "1600000000.M123P45.host,S=100,W=102")
        #expect(messages[0].flags == .seen)
        #expect(messages[1].flags == [.replied, .flagged])
        #expect(messages[2].flags.isEmpty)
    }

    @Test("Within one second the microseconds order the messages as numbers (M966 before M7761)")
    func orderWithinASecond() {
        let names = [
            "1795328476.M7761P22058Q42.host", "1795328476.M966P22058Q41.host", "1795328475.M999999P1.host",
            "1795328476.M966P22058Q40.host", "1795328476.other", "1795328477.M1P1.host",
        ]
        #expect(names.sorted(by: Maildir.deliveryOrder) == [
            "1795328475.M999999P1.host", "1795328476.other", "1795328476.M966P22058Q40.host",
            "1795328476.M966P22058Q41.host", "1795328476.M7761P22058Q42.host", "1795328477.M1P1.host",
        ])
    }

    @Test("setFlags moves a message to cur/ keeping its unique name; remove deletes it")
    func flagsAndRemoval() throws {
        try maildir.create()
        try maildir.deliver(.bytes(bytes("hello\r\n")), hostname: "h")
        let message = try #require(try maildir.messages().first)
        let seen = try maildir.setFlags([.seen], of: message)
        #expect(seen.subdirectory == .cur)
        #expect(seen.fileName == message.fileName + ":2,S")
        #expect(seen.uniqueName == message.uniqueName)
        let answered = try maildir.setFlags([.seen, .replied], of: seen)
        #expect(try maildir.messages() == [answered])
        #expect(try maildir.open(answered).readToEnd() == bytes("hello\n"))

        let gone = try #require(throws: MailboxError.self) { try maildir.setFlags([], of: seen) }
        #expect(gone.code == .notFound)
        try maildir.remove(answered)
        try maildir.remove(answered)
        #expect(try maildir.messages().isEmpty)
    }

    @Test(
        "Python's mailbox module reads what Aviary writes and Aviary reads what Python writes",
        .enabled(if: python3Path != nil)
    )
    func pythonInterop() throws {
        try maildir.create()
        try maildir.deliver(.bytes(bytes("Subject: from aviary\r\n\r\nbody\r\n")), hostname: "h")
        let script = """
            import mailbox, sys
            box = mailbox.Maildir(sys.argv[1], create=False)
            print([m['Subject'] for m in box])
            message = mailbox.MaildirMessage('Subject: from python\\n\\nbody\\n')
            message.set_subdir('cur')
            message.set_flags('RS')
            box.add(message)
            """
        let output = try runPython(script, [maildir.path])
        #expect(output == "['from aviary']\n")
        let messages = try maildir.messages()
        #expect(messages.count == 2)
        let python = try #require(messages.first { $0.subdirectory == .cur })
        #expect(python.flags == [.replied, .seen])
        #expect(
            String(decoding: try maildir.open(python).readToEnd(), as: UTF8.self) == "Subject: from python\n\nbody\n"
        )
    }
}
