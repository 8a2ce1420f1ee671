import AviaryCore
import AviaryMailbox
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A delivery killed between tmp/ and new/ leaves its file in tmp/; the Maildir convention allows removing
/// tmp/ files nobody has touched for 36 hours.
@Suite("Maildir tmp/ clean-up")
struct MaildirTmpCleanupTests {
    static func age(_ path: String, seconds: Int, now: Int) {
        var times = [timespec(tv_sec: now - seconds, tv_nsec: 0), timespec(tv_sec: now - seconds, tv_nsec: 0)]
        precondition(utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0, "utimensat \(path)")
    }

    @Test("tmp/ files untouched for 36 hours go; younger ones, other entries and new/ stay")
    func removesOldFiles() throws {
        let directory = TemporaryDirectory("maildir-tmp")
        let maildir = Maildir(path: directory.path + "/Maildir/")
        try maildir.create()
        let now = Int(time(nil))
        let tmp = maildir.path(of: .tmp)
        try SafeFile.writeDurably(Array("left".utf8), to: tmp + "/1600000000.M1P1Q1.host")
        Self.age(tmp + "/1600000000.M1P1Q1.host", seconds: 36 * 3600 + 60, now: now)
        try SafeFile.writeDurably(Array("writing".utf8), to: tmp + "/1600000000.M2P2Q2.host")
        Self.age(tmp + "/1600000000.M2P2Q2.host", seconds: 35 * 3600, now: now)
        mkdir(tmp + "/subdirectory", 0o700)
        Self.age(tmp + "/subdirectory", seconds: 40 * 3600, now: now)
        try SafeFile.writeDurably(Array("mail".utf8), to: maildir.path(of: .new) + "/1600000000.M3P3Q3.host")
        Self.age(maildir.path(of: .new) + "/1600000000.M3P3Q3.host", seconds: 40 * 3600, now: now)

        let removed = maildir.removeStaleTemporaryFiles(now: now)
        #expect(removed == ["1600000000.M1P1Q1.host"])
        #expect(try SafeFile.listDirectory(tmp).sorted() == ["1600000000.M2P2Q2.host", "subdirectory"])
        #expect(SafeFile.exists(maildir.path(of: .new) + "/1600000000.M3P3Q3.host"))
    }

    @Test("a look at tmp/ is recorded in the Maildir, and another process within the interval does not look again")
    func lookIsRecorded() throws {
        let directory = TemporaryDirectory("maildir-tmp-stamp")
        let maildir = Maildir(path: directory.path + "/Maildir/")
        try maildir.create()
        let now = Int(time(nil))
        let tmp = maildir.path(of: .tmp)
        func leave(_ name: String) throws {
            try SafeFile.writeDurably(Array("left".utf8), to: tmp + "/" + name)
            Self.age(tmp + "/" + name, seconds: 36 * 3600 + 60, now: now)
        }
        try leave("1600000000.M1P1Q1.host")
        #expect(maildir.removeStaleTemporaryFilesIfDue(now: now, interval: 3600) == ["1600000000.M1P1Q1.host"])
        try leave("1600000000.M2P2Q2.host")
        #expect(maildir.removeStaleTemporaryFilesIfDue(now: now + 3599, interval: 3600).isEmpty)
        #expect(SafeFile.exists(tmp + "/1600000000.M2P2Q2.host"))
        #expect(maildir.removeStaleTemporaryFilesIfDue(now: now + 3600, interval: 3600) == ["1600000000.M2P2Q2.host"])
        // A stamp from the future (a clock set back) does not stop the looks.
        try leave("1600000000.M3P3Q3.host")
        #expect(maildir.removeStaleTemporaryFilesIfDue(now: now, interval: 3600) == ["1600000000.M3P3Q3.host"])
    }
}
