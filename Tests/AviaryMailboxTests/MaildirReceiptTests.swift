import AviaryCore
import AviaryMailbox
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A delivery killed after the message reached new/ but before the queue heard of it is retried; the
/// receipt it left in tmp/ makes the retry deliver nothing.
@Suite("Maildir delivery receipts")
struct MaildirReceiptTests {
    static var message: MessageSource { .chunks([Array("Subject: once\r\n\r\nbody\r\n".utf8)]) }

    @Test("a delivery with a receipt is seen by wasDelivered in new/ and after a reader moved it to cur/; not before, not with another receipt")
    func receiptSeen() throws {
        let directory = TemporaryDirectory("maildir-receipt")
        let maildir = Maildir(path: directory.path + "/Maildir/")
        try maildir.create()
        #expect(!maildir.wasDelivered(receipt: "Q1.0.abc"))
        let name = try maildir.deliver(Self.message, hostname: "host", receipt: "Q1.0.abc")
        #expect(maildir.wasDelivered(receipt: "Q1.0.abc"))
        #expect(!maildir.wasDelivered(receipt: "Q1.1.abc"))
        #expect(try SafeFile.listDirectory(maildir.path(of: .new)) == [name])
        // A reader moves it to cur/ with flags: the same inode, still two links.
        let seen = maildir.path(of: .cur) + "/" + name + ":2,S"
        #expect(rename(maildir.path(of: .new) + "/" + name, seen) == 0)
        #expect(maildir.wasDelivered(receipt: "Q1.0.abc"))
        // Deleted by the user: the receipt alone does not count (one link).
        #expect(unlink(seen) == 0)
        #expect(!maildir.wasDelivered(receipt: "Q1.0.abc"))
    }

    @Test("a receipt left by a write that never reached new/ is replaced: the retry delivers, once")
    func staleReceipt() throws {
        let directory = TemporaryDirectory("maildir-receipt")
        let maildir = Maildir(path: directory.path + "/Maildir/")
        try maildir.create()
        // What a delivery killed before the link leaves behind.
        try SafeFile.writeDurably(Array("Subject: half".utf8), to: maildir.path(of: .tmp) + "/aviary-receipt.Q2.0.abc")
        #expect(!maildir.wasDelivered(receipt: "Q2.0.abc"))
        try maildir.deliver(Self.message, hostname: "host", receipt: "Q2.0.abc")
        #expect(maildir.wasDelivered(receipt: "Q2.0.abc"))
        let files = try SafeFile.listDirectory(maildir.path(of: .new))
        #expect(files.count == 1)
        #expect(try SafeFile.readText(maildir.path(of: .new) + "/" + files[0]) == "Subject: once\n\nbody\n")
        // Receipts are removed with other tmp/ files after 36 hours, without a log line.
        let later = Int(time(nil)) + Maildir.staleTemporaryAge + 3600
        #expect(maildir.removeStaleTemporaryFiles(now: later).isEmpty)
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
    }
}
