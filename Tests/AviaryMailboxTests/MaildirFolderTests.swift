import AviaryCore
import AviaryTestSupport
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

@Suite("Maildir++ folders and subscriptions for IMAP")
struct MaildirFolderTests {
    let directory = TemporaryDirectory("maildir-folders")
    var maildir: Maildir { Maildir(path: directory.path + "/Maildir") }

    func makeFolder(_ maildirName: String) throws -> Maildir {
        let folder = try maildir.folder(named: maildirName)
        try folder.create()
        return folder
    }

    @Test("IMAP names map to Maildir++ names and back; a level with a dot is refused")
    func names() throws {
        #expect(try Maildir.maildirFolderName(imapName: "Archive/2024") == "Archive.2024")
        #expect(Maildir.imapFolderName(maildirName: "Archive.2024") == "Archive/2024")
        for bad in ["", "a//b", "a.b", "/a", "a/"] {
            #expect(throws: MailboxError.self) { try Maildir.maildirFolderName(imapName: bad) }
        }
    }

    @Test("Deleting a folder removes its tree with its messages and leaves subfolders")
    func delete() throws {
        try maildir.create()
        let archive = try makeFolder("Archive")
        try makeFolder("Archive.2024").deliver(.bytes(Array("x\n".utf8)))
        try archive.deliver(.bytes(Array("y\n".utf8)))
        _ = try archive.synchronize()
        try maildir.deleteFolder(named: "Archive")
        #expect(try maildir.folderNames() == ["Archive.2024"])
        #expect(try SafeFile.listDirectory(maildir.path).sorted() == [".Archive.2024", "cur", "new", "tmp"])
        #expect(throws: MailboxError.self) { try maildir.deleteFolder(named: "Archive") }
        #expect(throws: MailboxError.self) { try maildir.deleteFolder(named: "INBOX") }
    }

    @Test("Renaming a folder renames its subfolders and keeps its messages and UIDs")
    func rename() throws {
        try maildir.create()
        let archive = try makeFolder("A")
        _ = try makeFolder("A.x")
        _ = try makeFolder("A.x.y")
        _ = try makeFolder("Ab")
        let appended = try archive.append(Array("m\n".utf8), flags: [.seen], internalDate: nil)
        try maildir.renameFolder(named: "A", to: "B/c")
        #expect(try maildir.folderNames() == ["Ab", "B.c", "B.c.x", "B.c.x.y"])
        let moved = try maildir.folder(named: "B.c")
        #expect(try moved.synchronize().messages.map(\.uid) == [appended.uid])
        #expect(SafeFile.exists(moved.path + "/maildirfolder"))
    }

    @Test("Renaming onto an existing folder fails with exists and changes nothing")
    func renameOntoExisting() throws {
        try maildir.create()
        _ = try makeFolder("A")
        _ = try makeFolder("A.x")
        _ = try makeFolder("B.x")
        let error = #expect(throws: MailboxError.self) { try maildir.renameFolder(named: "A", to: "B") }
        #expect(error?.code == .exists)
        #expect(try maildir.folderNames() == ["A", "A.x", "B.x"])
        #expect(throws: MailboxError.self) { try maildir.renameFolder(named: "Missing", to: "C") }
        #expect(throws: MailboxError.self) { try maildir.renameFolder(named: "A", to: "A/inner") }
    }

    @Test("Subscriptions are written in Dovecot's plain format and read back")
    func subscriptions() throws {
        try maildir.create()
        #expect(try maildir.subscriptions() == [])
        try maildir.setSubscriptions(["INBOX", "Archive/2024", "Sent", "Sent"])
        #expect(try contents(of: maildir.path + "/subscriptions") == "INBOX\nArchive.2024\nSent\n")
        #expect(try maildir.subscriptions() == ["INBOX", "Archive/2024", "Sent"])
        #expect(!SafeFile.exists(maildir.path + "/subscriptions.lock"))
        #expect(throws: MailboxError.self) { try maildir.setSubscriptions(["a.b"]) }
    }

    @Test("Dovecot's version 2 subscriptions file with TAB-separated, escaped levels is read")
    func subscriptionsVersion2() throws {
        try maildir.create()
        let text = "V\t2\n\nINBOX\nArchive\t2024\nOdd\u{1}tname\n"
        try SafeFile.writeDurably(Array(text.utf8), to: maildir.path + "/subscriptions")
        #expect(try maildir.subscriptions() == ["INBOX", "Archive/2024", "Odd\tname"])
    }
}
