import AviaryCore
import AviaryTestSupport
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

@Suite("Maildir stamps and the index cache")
struct MaildirIndexCacheTests {
    let directory = TemporaryDirectory("maildir-stamp")
    var maildir: Maildir { Maildir(path: directory.path + "/Maildir") }

    func put(_ name: String, in subdirectory: Maildir.Subdirectory = .new) throws {
        let file = try SafeFile.createExclusive(maildir.path(of: subdirectory) + "/" + name)
        try file.writeAll(Array("Subject: x\n\nbody\n".utf8))
    }

    /// Sets the times of new/ and cur/ to one fixed time in the past, so that their part of the stamp is
    /// settled at once, and waits until the control files' change times (which cannot be set) are settled too.
    func ageDirectories() {
        usleep(UInt32(MaildirStamp.settlingTime / 1000 + 30_000))
        for subdirectory in [Maildir.Subdirectory.new, .cur] {
            var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 5), timespec(tv_sec: 1_700_000_000, tv_nsec: 5)]
            utimensat(AT_FDCWD, maildir.path(of: subdirectory), &times, 0)
        }
    }

    @Test("A stamp is settled only once the directories' times are behind the coarse clock")
    func settling() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        #expect(!MaildirStamp.take(maildir).isSettled)
        ageDirectories()
        #expect(MaildirStamp.take(maildir).isSettled)
        #expect(!MaildirStamp.take(Maildir(path: directory.path + "/missing")).isSettled)
    }

    @Test("Any delivery, flag change, expunge or control-file rewrite changes the stamp")
    func stampMoves() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        let index = try maildir.synchronize()
        ageDirectories()
        var stamp = MaildirStamp.take(maildir)
        try maildir.setFlags([.seen], of: index.messages[0].message)
        #expect(MaildirStamp.take(maildir) != stamp)
        ageDirectories()
        stamp = MaildirStamp.take(maildir)
        try put("1700000002.M1P1.h")
        #expect(MaildirStamp.take(maildir) != stamp)
        ageDirectories()
        stamp = MaildirStamp.take(maildir)
        _ = try maildir.keywordLetters(for: ["$Important"])
        #expect(MaildirStamp.take(maildir) != stamp)
        stamp = MaildirStamp.take(maildir)
        _ = try maildir.synchronize()  // gives the new file a UID: the uidlist is rewritten
        #expect(MaildirStamp.take(maildir) != stamp)
    }

    @Test("An unchanged Maildir is answered from the cache; a change is seen at once")
    func cacheUsedAndRefreshed() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        try put("1700000002.M1P1.h")
        _ = try maildir.synchronize()
        ageDirectories()
        let cached = try maildir.synchronize()
        #expect(cached.messages.map(\.uid) == [1, 2])
        // A rename behind the stamp's back (the directory time put back as it was) is not seen: the
        // answer comes from the cache, not from the directories.
        let renamed = try maildir.setFlags([.flagged], of: cached.messages[0].message)
        ageDirectories()
        #expect(try maildir.synchronize().messages[0].message.flags == [])
        // A real change moves the time, and the next call reads the Maildir again.
        try maildir.setFlags([.flagged, .seen], of: renamed)
        #expect(try maildir.synchronize().messages[0].message.flags == [.flagged, .seen])
        try maildir.remove(cached.messages[1].message)
        #expect(try maildir.synchronize().messages.map(\.uid) == [1])
    }

    @Test("A uidlist rewritten in place with its old times is still read again: its change time moved")
    func uidListWrittenInPlace() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        let first = try maildir.synchronize()
        ageDirectories()
        _ = try maildir.synchronize()
        // The uidlist replaced behind the stamp's back (same inode, size and times) is not read again ...
        let path = maildir.path + "/dovecot-uidlist"
        var before = stat()
        stat(path, &before)
        let text = try contents(of: path)
        let altered = text.replacingOccurrences(of: "1 :1700000001", with: "7 :1700000001")
        #expect(altered.utf8.count == text.utf8.count)
        let file = open(path, O_WRONLY)
        _ = altered.withCString { write(file, $0, strlen($0)) }
        var times = [before.st_atim, before.st_mtim]
        futimens(file, &times)
        close(file)
        // ... but its ctime moved, so it is read again: an in-place write is never missed.
        try maildir.setFlags([.seen], of: first.messages[0].message)
        #expect(try maildir.synchronize().messages.map(\.uid) == [7])
    }

    @Test("\\Recent is still claimed once when the index comes from the cache")
    func recentThroughCache() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        _ = try maildir.synchronize()
        ageDirectories()
        _ = try maildir.synchronize()
        #expect(try maildir.synchronize(claimingRecent: true).firstRecentUID == 1)
        #expect(try maildir.synchronize(claimingRecent: true).firstRecentUID == 2)
        #expect(try maildir.synchronize().firstRecentUID == 2)
    }

    @Test("The cache keeps at most its limits, dropping the least recently used")
    func bounded() throws {
        let cache = MaildirIndexCache(messageLimit: 5, entryLimit: 3)
        try maildir.create()
        try put("1700000001.M1P1.h")
        try put("1700000002.M1P1.h")
        let index = try maildir.synchronize()
        ageDirectories()
        let stamp = MaildirStamp.take(maildir)
        let files = MaildirIndexCache.ControlFiles(uidList: try #require(try maildir.readUIDList()), keywords: .init())
        func store(_ index: MaildirIndex, for path: String, stamp: MaildirStamp) {
            var files = files
            files.uidList.entries = Array(files.uidList.entries.prefix(index.messages.count))
            cache.store(index, files, for: path, stamp: stamp)
        }
        store(index, for: "a", stamp: stamp)
        store(index, for: "b", stamp: stamp)
        #expect(cache.index(for: "a", stamp: stamp) != nil)
        store(index, for: "c", stamp: stamp)  // 6 messages: b, the least recently used, goes
        #expect(cache.index(for: "b", stamp: stamp) == nil)
        #expect(cache.index(for: "a", stamp: stamp) != nil)
        #expect(cache.index(for: "c", stamp: stamp) != nil)
        var empty = index
        empty.messages = []
        store(empty, for: "d", stamp: stamp)
        store(empty, for: "e", stamp: stamp)  // a fourth entry: the oldest (a) goes
        #expect(cache.index(for: "a", stamp: stamp) == nil)
        #expect(cache.index(for: "e", stamp: stamp) != nil)
        // An unsettled stamp is not kept, and drops what was kept for that path.
        try put("1700000003.M1P1.h")
        store(index, for: "c", stamp: MaildirStamp.take(maildir))
        #expect(cache.index(for: "c", stamp: stamp) == nil)
    }
}
