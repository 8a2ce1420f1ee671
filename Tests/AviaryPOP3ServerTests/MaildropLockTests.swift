import AviaryMailbox
import AviaryTestSupport
import Glibc
import Testing

@testable import AviaryPOP3Server

@Suite("Maildrop lock")
struct MaildropLockTests {
    @Test("ending a session frees the mailbox even while a copy of the lock's descriptor lives on (a child between fork and exec)")
    func releaseWithCopyOutstanding() throws {
        let directory = TemporaryDirectory("maildrop-lock")
        let maildir = Maildir(path: directory.path + "/Maildir")
        try maildir.create()
        let (_, held) = try Maildrop.open(.maildir(maildir.path))
        let lock = try #require(held)
        #expect(throws: MaildropError.self) { try Maildrop.open(.maildir(maildir.path)) }
        let copy = dup(lock.descriptor)
        defer { close(copy) }
        lock.release()
        let (_, again) = try Maildrop.open(.maildir(maildir.path))
        #expect(again != nil)
        again?.release()
    }
}
