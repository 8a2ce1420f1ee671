import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

@Suite("Maildir UIDs, keywords, recent, append and copy")
struct MaildirUIDTests {
    let directory = TemporaryDirectory("maildir-uid")
    var maildir: Maildir { Maildir(path: directory.path + "/Maildir") }
    /// Short waits for the lock tests.
    static let quickLock = DotLock.Settings(staleAge: 120, timeout: .milliseconds(300), retryDelay: .milliseconds(10))

    /// Puts a file into new/ (or cur/) under `name`, as another delivery agent would.
    func put(_ name: String, in subdirectory: Maildir.Subdirectory = .new, _ text: String = "Subject: x\n\nbody\n") throws {
        let file = try SafeFile.createExclusive(maildir.path(of: subdirectory) + "/" + name)
        try file.writeAll(Array(text.utf8))
    }

    func uidList() throws -> String { try contents(of: maildir.path + "/dovecot-uidlist") }

    @Test("The first synchronize creates dovecot-uidlist and numbers files in delivery order")
    func firstSynchronize() throws {
        try maildir.create()
        try put("1700000002.M5P1.h")
        try put("1700000001.M900P1.h", in: .cur)
        try put("1700000001.M70P1.h")
        let before = time(nil)
        let index = try maildir.synchronize()
        #expect(index.messages.map(\.uid) == [1, 2, 3])
        #expect(index.messages.map(\.message.uniqueName) == ["1700000001.M70P1.h", "1700000001.M900P1.h", "1700000002.M5P1.h"])
        #expect(index.uidNext == 4)
        #expect(index.uidValidity >= UInt32(before))
        let text = try uidList()
        let header = try #require(text.split(separator: "\n").first)
        #expect(header.wholeMatch(of: #/3 V\d+ N4 G[0-9a-f]{32}/#) != nil)
        #expect(text.hasSuffix("1 :1700000001.M70P1.h\n2 :1700000001.M900P1.h\n3 :1700000002.M5P1.h\n"))
    }

    @Test("UIDs stay across synchronize calls and flag renames; expunged UIDs are never reused")
    func stableUIDs() throws {
        try maildir.create()
        for second in 1...4 { try put("170000000\(second).M1P1.h") }
        let first = try maildir.synchronize()
        let validity = first.uidValidity
        // A flag change moves the file to cur/ under another name; an expunge removes one.
        try maildir.setFlags([.seen], of: first.messages[1].message)
        try maildir.remove(first.messages[3].message)
        let second = try maildir.synchronize()
        #expect(second.uidValidity == validity)
        #expect(second.messages.map(\.uid) == [1, 2, 3])
        #expect(second.messages[1].message.fileName == "1700000002.M1P1.h:2,S")
        #expect(second.uidNext == 5)
        try put("1700000009.M1P1.h")
        let third = try maildir.synchronize()
        #expect(third.messages.map(\.uid) == [1, 2, 3, 5])
        #expect(third.uidNext == 6)
        let fourth = try maildir.synchronize()
        #expect(fourth.messages == third.messages)
    }

    @Test("A uidlist written by Dovecot keeps its UIDVALIDITY, UIDs and unknown fields when Aviary adds a message")
    func dovecotFileKept() throws {
        try maildir.create()
        try put("1700000001.M1P1.h,S=17,W=20:2,S", in: .cur)
        try put("1700000005.M1P1.h")
        let fixture = "3 V1234 N43 G5a1b6f8c0d2e4f60718293a4b5c6d7e8 P1\n41 W20 :1700000001.M1P1.h,S=17,W=20\n"
        try SafeFile.writeDurably(Array(fixture.utf8), to: maildir.path + "/dovecot-uidlist")
        let index = try maildir.synchronize()
        #expect(index.uidValidity == 1234)
        #expect(index.messages.map(\.uid) == [41, 43])
        #expect(
            try uidList()
                == "3 V1234 N44 G5a1b6f8c0d2e4f60718293a4b5c6d7e8 P1\n41 W20 :1700000001.M1P1.h,S=17,W=20\n43 :1700000005.M1P1.h\n")
    }

    @Test("A version 1 uidlist is read and, at the next change, rewritten as version 3 with the same UIDs")
    func version1Converted() throws {
        try maildir.create()
        try put("1600000000.123.host:2,S", in: .cur)
        try SafeFile.writeDurably(Array("1 1600000000 8\n3 1600000000.123.host:2,S\n".utf8), to: maildir.path + "/dovecot-uidlist")
        let index = try maildir.synchronize()
        #expect(index.uidValidity == 1_600_000_000)
        #expect(index.messages.map(\.uid) == [3])
        // Read as it is; written (as version 3) at the first change.
        try put("1600000009.1.host")
        #expect(try maildir.synchronize().messages.map(\.uid) == [3, 8])
        let text = try uidList()
        #expect(text.wholeMatch(of: #/3 V1600000000 N9 G[0-9a-f]{32}\n3 :1600000000.123.host\n8 :1600000009.1.host\n/#) != nil, "\(text)")
    }

    @Test("A uidlist that cannot be parsed is an error and is left as it was")
    func corruptNotReset() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        let garbage = "3 V1234 N10\n5 :a\nnot a line\n"
        try SafeFile.writeDurably(Array(garbage.utf8), to: maildir.path + "/dovecot-uidlist")
        let error = #expect(throws: MailboxError.self) { try maildir.synchronize() }
        #expect(error?.code == .corrupt)
        #expect("\(error.map { "\($0)" } ?? "")".contains("line 3"))
        #expect(try uidList() == garbage)
    }

    @Test("Nothing is written when nothing changed")
    func noNeedlessWrites() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        _ = try maildir.synchronize()
        var before = stat()
        stat(maildir.path + "/dovecot-uidlist", &before)
        _ = try maildir.synchronize()
        var after = stat()
        stat(maildir.path + "/dovecot-uidlist", &after)
        #expect(before.st_ino == after.st_ino)
    }

    @Test("Recent messages are claimed by exactly one synchronize")
    func recentClaimedOnce() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        try put("1700000002.M1P1.h")
        let peek = try maildir.synchronize()
        #expect(peek.firstRecentUID == 1)
        let first = try maildir.synchronize(claimingRecent: true)
        #expect(first.firstRecentUID == 1)
        let second = try maildir.synchronize(claimingRecent: true)
        #expect(second.firstRecentUID == 3)
        try put("1700000003.M1P1.h")
        let third = try maildir.synchronize(claimingRecent: true)
        #expect(third.firstRecentUID == 3)
        #expect(third.messages.filter { $0.uid >= third.firstRecentUID }.count == 1)
        #expect(try contents(of: maildir.path + "/aviary-recent") == "4\n")
    }

    @Test("Keyword letters are given in order, persist in dovecot-keywords, match ignoring case, and stop at 26")
    func keywords() throws {
        try maildir.create()
        #expect(try maildir.keywordLetters(for: ["$Forwarded", "Work"]) == ["$Forwarded": "a", "Work": "b"])
        #expect(try contents(of: maildir.path + "/dovecot-keywords") == "0 $Forwarded\n1 Work\n")
        #expect(try maildir.keywordLetters(for: ["work"]) == ["work": "b"])
        let many = (0..<30).map { "k\($0)" }
        let letters = try maildir.keywordLetters(for: many)
        #expect(letters.count == 24)
        #expect(letters["k23"] == "z")
        #expect(letters["k24"] == nil)
        #expect(try maildir.synchronize().keywords.count == 26)
        #expect(throws: MailboxError.self) { try maildir.keywordLetters(for: ["two words"]) }
    }

    @Test("An appended message is stored with LF line ends, sizes, flags and its date, and has the next UID")
    func append() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        _ = try maildir.synchronize()
        let letters = try maildir.keywordLetters(for: ["Work"])
        let flags = MaildirFlags([.seen, .flagged]).union(MaildirFlags(letter: letters["Work"]!)!)
        let appended = try maildir.append(Array("Subject: a\r\n\r\nbody\r\n".utf8), flags: flags, internalDate: 1_000_000_000)
        #expect(appended.uid == 2)
        #expect(appended.message.subdirectory == .cur)
        #expect(appended.message.fileName.hasSuffix(",S=17,W=20:2,FSa"))
        let path = maildir.path(of: appended.message)
        #expect(try contents(of: path) == "Subject: a\n\nbody\n")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mtim.tv_sec == 1_000_000_000)
        let plain = try maildir.append(Array("x\n".utf8), flags: [], internalDate: nil)
        #expect(plain.uid == 3)
        #expect(plain.message.subdirectory == .new)
        let index = try maildir.synchronize()
        #expect(index.messages.map(\.uid) == [1, 2, 3])
        #expect(index.messages[1].message.flags.letters == "FSa")
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
    }

    @Test("Copied messages get consecutive UIDs in the order given, keep their date, and take the given flags")
    func copy() throws {
        try maildir.create()
        let target = try maildir.folder(named: "Archive")
        try target.create()
        try put("1700000001.M1P1.h,S=18")
        try put("1700000002.M1P1.h")
        try put("1700000003.M1P1.h")
        let source = try maildir.synchronize()
        var times = [timespec(tv_sec: 1_100_000_000, tv_nsec: 0), timespec(tv_sec: 1_100_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, maildir.path(of: source.messages[0].message), &times, 0)
        _ = try target.append(Array("first\n".utf8), flags: [], internalDate: nil)
        // Another session renames one of them (a flag change) after our listing.
        try maildir.setFlags([.replied], of: source.messages[2].message)
        let copied = try target.copy(
            [source.messages[2].message, source.messages[0].message], from: maildir, flags: [[.seen], []])
        #expect(copied.map(\.uid) == [2, 3])
        #expect(copied[0].message.fileName.hasSuffix(":2,S"))
        #expect(copied[1].message.subdirectory == .new)
        #expect(copied[1].message.fileName.contains(",S=18"))
        var info = stat()
        #expect(stat(target.path(of: copied[1].message), &info) == 0)
        #expect(info.st_mtim.tv_sec == 1_100_000_000)
        #expect(try target.synchronize().messages.map(\.uid) == [1, 2, 3])
        #expect(try maildir.synchronize().messages.count == 3)
    }

    @Test("Copying a message that has gone fails with notFound and leaves the target as it was")
    func copyGone() throws {
        try maildir.create()
        let target = try maildir.folder(named: "Archive")
        try target.create()
        try put("1700000001.M1P1.h")
        try put("1700000002.M1P1.h")
        let source = try maildir.synchronize()
        try maildir.remove(source.messages[1].message)
        let error = #expect(throws: MailboxError.self) {
            try target.copy(source.messages.map(\.message), from: maildir, flags: [[], []])
        }
        #expect(error?.code == .notFound)
        #expect(try target.messages().isEmpty)
    }

    @Test("A lock whose holder is gone is taken over")
    func staleLockTakenOver() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        let lockPath = maildir.path + "/dovecot-uidlist.lock"
        // A pid above pid_max names no process.
        try SafeFile.writeDurably(Array("2147483000:\(LocalSystem.hostname())".utf8), to: lockPath)
        var times = [timespec(tv_sec: time(nil) - 10, tv_nsec: 0), timespec(tv_sec: time(nil) - 10, tv_nsec: 0)]
        utimensat(AT_FDCWD, lockPath, &times, 0)
        #expect(try maildir.synchronize(claimingRecent: false, locking: Self.quickLock).index.messages.count == 1)
        #expect(!SafeFile.exists(lockPath))

        // A lock without content whose holder cannot be told is stale after two minutes untouched.
        try SafeFile.writeDurably([], to: lockPath)
        times = [timespec(tv_sec: time(nil) - 300, tv_nsec: 0), timespec(tv_sec: time(nil) - 300, tv_nsec: 0)]
        utimensat(AT_FDCWD, lockPath, &times, 0)
        try put("1700000002.M1P1.h")
        #expect(try maildir.synchronize(claimingRecent: false, locking: Self.quickLock).index.messages.count == 2)
    }

    @Test("Messages appended at once get consecutive UIDs in order; when the UIDs cannot be recorded none stays")
    func appendSeveral() throws {
        try maildir.create()
        let appended = try maildir.append([
            MaildirAppend(Array("Subject: 1\r\n\r\none\r\n".utf8), flags: .seen, internalDate: 837_596_665),
            MaildirAppend(Array("Subject: 2\r\n\r\ntwo\r\n".utf8)),
        ])
        #expect(appended.map(\.uid) == [1, 2])
        #expect(appended[0].message.subdirectory == .cur && appended[1].message.subdirectory == .new)
        #expect(appended[0].message.fileName.hasSuffix(",S=16,W=19:2,S"))

        // The uidlist lock is held by a live process: the UIDs cannot be recorded, so neither file stays.
        let lockPath = maildir.path + "/dovecot-uidlist.lock"
        try SafeFile.writeDurably(Array("\(getppid()):\(LocalSystem.hostname())".utf8), to: lockPath)
        let error = #expect(throws: MailboxError.self) {
            let messages = [MaildirAppend(Array("Subject: 3\n\nx\n".utf8)), MaildirAppend([120])]
            try maildir.append(messages, locking: Self.quickLock)
        }
        #expect(error?.code == .lockTimeout)
        unlink(lockPath)
        let files = ["new", "cur", "tmp"].flatMap {
            (try? FileManager.default.contentsOfDirectory(atPath: maildir.path + "/" + $0)) ?? []
        }
        #expect(files.count == 2, "\(files)")
        let index = try maildir.synchronize(claimingRecent: false, locking: Self.quickLock).index
        #expect(index.messages.map(\.uid) == [1, 2])
    }

    @Test("A lock held by a live process is waited for, within a bound, and nothing changes")
    func freshLockWaitedFor() throws {
        try maildir.create()
        try put("1700000001.M1P1.h")
        let lockPath = maildir.path + "/dovecot-uidlist.lock"
        try SafeFile.writeDurably(Array("\(getppid()):\(LocalSystem.hostname())".utf8), to: lockPath)
        let error = #expect(throws: MailboxError.self) {
            try maildir.synchronize(claimingRecent: false, locking: Self.quickLock)
        }
        #expect(error?.code == .lockTimeout)
        #expect(!SafeFile.exists(maildir.path + "/dovecot-uidlist"))
        #expect(SafeFile.exists(lockPath))

        // Released while we wait: the waiter goes on.
        let patient = DotLock.Settings(staleAge: 120, timeout: .seconds(30), retryDelay: .milliseconds(10))
        let remover = Thread { usleep(100_000); unlink(lockPath) }
        remover.start()
        #expect(try maildir.synchronize(claimingRecent: false, locking: patient).index.messages.count == 1)
    }

    @Test("Threads synchronizing and appending at once never give a UID twice or lose one")
    func concurrentThreads() async throws {
        try maildir.create()
        let maildir = self.maildir
        let appended = try await withThrowingTaskGroup(of: [IndexedMessage].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var mine: [IndexedMessage] = []
                    for round in 0..<15 {
                        if worker % 2 == 0 {
                            mine.append(try maildir.append(Array("w\(worker) r\(round)\n".utf8), flags: [.seen], internalDate: nil))
                        } else {
                            try maildir.deliver(.bytes(Array("d\(worker) r\(round)\n".utf8)))
                            let index = try maildir.synchronize(claimingRecent: round % 3 == 0)
                            #expect(Set(index.messages.map(\.uid)).count == index.messages.count)
                        }
                    }
                    return mine
                }
            }
            var all: [IndexedMessage] = []
            for try await batch in group { all += batch }
            return all
        }
        let index = try maildir.synchronize()
        #expect(index.messages.count == 60)
        #expect(Set(index.messages.map(\.uid)).count == 60)
        #expect(index.messages.map(\.uid) == index.messages.map(\.uid).sorted())
        let byName = Dictionary(uniqueKeysWithValues: index.messages.map { ($0.message.uniqueName, $0.uid) })
        for message in appended { #expect(byName[message.message.uniqueName] == message.uid) }
        #expect(Set(appended.map(\.uid)).count == 30)
    }

    @Test("A second process renaming and adding files while we synchronize never makes a UID change or repeat")
    func concurrentProcess() throws {
        guard python3Path != nil else {
            print("skipped: no python3")
            return
        }
        try maildir.create()
        for number in 0..<40 { try put("17000000\(10 + number).M1P1.h") }
        let first = try maildir.synchronize()
        let script = """
            import os, sys
            root = sys.argv[1]
            cur, new = os.path.join(root, "cur"), os.path.join(root, "new")
            for round in range(6):
                for name in sorted(os.listdir(new)) + sorted(os.listdir(cur)):
                    base = name.split(":")[0]
                    src = os.path.join(new if ":" not in name else cur, name)
                    flags = "S" if round % 2 == 0 else "RS"
                    try:
                        os.rename(src, os.path.join(cur, base + ":2," + flags))
                    except FileNotFoundError:
                        pass
                tmp = os.path.join(root, "tmp", "py%d" % round)
                with open(tmp, "w") as f:
                    f.write("x\\n")
                os.rename(tmp, os.path.join(new, "18000000%02d.M1P9.py" % round))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python3Path!)
        process.arguments = ["-c", script, maildir.path]
        try process.run()
        var rounds = 0
        var lastIndex = first
        while process.isRunning && rounds < 2000 {
            let index = try maildir.synchronize()
            #expect(Set(index.messages.map(\.uid)).count == index.messages.count)
            let byName = Dictionary(uniqueKeysWithValues: index.messages.map { ($0.message.uniqueName, $0.uid) })
            for message in first.messages { #expect(byName[message.message.uniqueName] == message.uid) }
            lastIndex = index
            rounds += 1
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let final = try maildir.synchronize()
        #expect(final.messages.count == 46)
        #expect(Set(final.messages.map(\.uid)).count == 46)
        #expect(final.uidValidity == lastIndex.uidValidity)
        for (offset, message) in first.messages.enumerated() { #expect(final.messages[offset].uid == message.uid) }
    }
}
