import AviaryCore
import AviaryTestSupport
import Testing

@testable import AviaryMailbox

@Suite("mbox index, unquoting and removal")
struct MboxIndexTests {
    let directory = TemporaryDirectory("mbox-index")

    static let text = bytes(
        "junk before\nFrom a@x Sat Nov 21 23:48:01 2026\nSubject: 1\n\n>From quoted\n>>From twice\n\nFrom b@x Sat Nov 21 23:48:02 2026\nSubject: 2\n\nbody\n\nFrom c@x Sat Nov 21 23:48:03 2026\nno separator at end"
    )

    @Test("Entries cover From line, content and separator; parse agrees with them")
    func entries() {
        let entries = Mbox.index(Self.text)
        #expect(entries.count == 3)
        #expect(Self.text[entries[0].fromLine].starts(with: bytes("From a@x")))
        #expect(Array(Self.text[entries[0].content]) == bytes("Subject: 1\n\n>From quoted\n>>From twice\n"))
        #expect(entries[0].whole.upperBound == entries[1].whole.lowerBound)
        #expect(Array(Self.text[entries[2].content]) == bytes("no separator at end"))
        #expect(Mbox.unquote(Self.text[entries[0].content]) == bytes("Subject: 1\n\nFrom quoted\n>From twice\n"))
        #expect(Mbox.parse(Self.text).map(\.content) == entries.map { Mbox.unquote(Self.text[$0.content]) })
    }

    @Test("remove rewrites the mailbox without the chosen messages and keeps what was appended since")
    func remove() throws {
        let mbox = Mbox(path: directory.path + "/user")
        try SafeFile.writeDurably(Self.text, to: mbox.path)
        let snapshot = try SafeFile.readAll(mbox.path)
        let appended = bytes("\nFrom d@x Sat Nov 21 23:48:04 2026\nlate\n\n")
        let file = try SafeFile.openForAppend(mbox.path)
        try file.writeAll(appended)
        file.close()
        let entries = Mbox.index(snapshot)
        try mbox.remove([entries[1]], from: snapshot, locking: MboxLocking(attempts: 2, retryDelay: .milliseconds(1)))
        let after = try SafeFile.readAll(mbox.path)
        #expect(after == Array(snapshot[..<entries[1].whole.lowerBound]) + Array(snapshot[entries[2].whole]) + appended)
        #expect(!SafeFile.exists(mbox.path + ".lock"))
    }

    @Test("remove refuses when another program changed the part that was read")
    func removeRefusesChangedMailbox() throws {
        let mbox = Mbox(path: directory.path + "/user")
        try SafeFile.writeDurably(Self.text, to: mbox.path)
        let snapshot = Self.text
        var changed = Self.text
        changed[20] = UInt8(ascii: "Z")
        try SafeFile.writeDurably(changed, to: mbox.path)
        #expect(throws: MailboxError.self) {
            try mbox.remove(
                [Mbox.index(snapshot)[0]],
                from: snapshot,
                locking: MboxLocking(attempts: 2, retryDelay: .milliseconds(1))
            )
        }
        #expect(try SafeFile.readAll(mbox.path) == changed)
    }
}
