import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

@Suite("Mod-sequences (aviary-modseq): CONDSTORE and QRESYNC state beside the Maildir")
struct ModSeqTests {
    let directory = TemporaryDirectory("maildir-modseq")
    var maildir: Maildir { Maildir(path: directory.path + "/Maildir") }

    func put(_ name: String, in subdirectory: Maildir.Subdirectory = .new) throws {
        let file = try SafeFile.createExclusive(maildir.path(of: subdirectory) + "/" + name)
        try file.writeAll(Array("Subject: x\n\nbody\n".utf8))
    }

    func log() throws -> String { try contents(of: maildir.path + "/aviary-modseq") }

    @Test("The format: header, message lines, expunge lines, a later line replacing an earlier one, a torn last line ignored")
    func parsing() throws {
        let text = "1 V77 H100 E90\n5 95 FS\n6 96 -\n7 97 a\nX 98 3:4,9\n6 99 T\n8 120 S"
        let log = try ModSeqLog(parsing: Array(text.utf8))
        #expect(log.uidValidity == 77)
        #expect(log.highest == 100)  // not 120: a torn last line is never used
        #expect(log.forgottenThrough == 90)
        #expect(log.messages[5] == .init(modSeq: 95, flags: [.flagged, .seen]))
        #expect(log.messages[6] == .init(modSeq: 99, flags: [.trashed]))
        #expect(log.messages[7]?.flags == MaildirFlags(letters: "a"))
        #expect(log.messages[8] == nil)
        #expect(log.endsInPartialLine)
        #expect(log.expunged(since: 97) == [3...4, 9...9])
        #expect(log.expunged(since: 98) == [])
        #expect(log.expunged(since: 89) == nil)
        #expect(throws: ModSeqLog.FormatError.self) { try ModSeqLog(parsing: Array("3 V1 N2\n".utf8)) }
        #expect(throws: ModSeqLog.FormatError.self) { try ModSeqLog(parsing: Array("1 V1 H2 E1\nnonsense\n5 3 S\n".utf8)) }
    }

    @Test("Arrivals, flag changes (also by another program) and expunges each get a larger mod-sequence; nothing changed, nothing written")
    func rescanAssigns() throws {
        try maildir.create()
        for second in 1...3 { try put("170000000\(second).M1P1.h") }
        let first = try maildir.synchronize()
        #expect(first.highestModSeq > 1_000_000_000_000)  // starts from the clock: never 0, never below what was
        #expect(first.messages.allSatisfy { $0.modSeq == first.highestModSeq })
        let unchanged = try maildir.synchronize()
        #expect(unchanged.highestModSeq == first.highestModSeq)
        let written = try log()

        // mutt renames a file in cur/: noticed at the next look.
        try maildir.setFlags([.seen], of: first.messages[1].message)
        let second = try maildir.synchronize()
        #expect(second.highestModSeq == first.highestModSeq + 1)
        #expect(second.messages.map(\.modSeq) == [first.highestModSeq, first.highestModSeq + 1, first.highestModSeq])
        #expect(try log().hasPrefix(written))

        // pop3d deletes one, local delivers one.
        try maildir.remove(second.messages[0].message)
        try put("1700000009.M1P1.h")
        let third = try maildir.synchronize()
        #expect(third.highestModSeq == second.highestModSeq + 1)
        #expect(third.messages.map(\.uid) == [2, 3, 4])
        #expect(third.messages.last?.modSeq == third.highestModSeq)
        #expect(maildir.expungedUIDs(since: second.highestModSeq) == [1...1])
        #expect(maildir.expungedUIDs(since: third.highestModSeq) == [])
        #expect(maildir.expungedUIDs(since: 5) == nil)  // before the log began: forgotten
    }

    @Test("changeFlags records the change with one new mod-sequence; UNCHANGEDSINCE leaves a newer message alone")
    func changeFlags() throws {
        try maildir.create()
        for second in 1...3 { try put("170000000\(second).M1P1.h") }
        let index = try maildir.synchronize()
        let base = index.highestModSeq
        let (changes, highest) = try maildir.changeFlags(of: Array(index.messages.prefix(2))) { $0.union(.flagged) }
        #expect(highest == base + 1)
        #expect(changes.map(\.modSeq) == [base + 1, base + 1])
        #expect(try log().contains("1 \(base + 1) F\n2 \(base + 1) F\n"))
        // The same store again changes nothing and keeps the mod-sequences.
        let (again, highestAgain) = try maildir.changeFlags(of: Array(index.messages.prefix(2))) { $0.union(.flagged) }
        #expect(highestAgain == base + 1 && again.map(\.modSeq) == [base + 1, base + 1])
        // Message 1 changed after `base`, message 3 did not.
        let (conditional, _) = try maildir.changeFlags(of: [index.messages[0], index.messages[2]], unchangedSince: base) {
            $0.union(.trashed)
        }
        #expect(conditional[0].outcome == .modified && conditional[0].modSeq == base + 1)
        guard case .stored(let file) = conditional[1].outcome else { Issue.record("\(conditional)"); return }
        #expect(file.flags == [.trashed] && conditional[1].modSeq == base + 2)
        let after = try maildir.synchronize()
        #expect(after.highestModSeq == base + 2)
        #expect(after.messages.map(\.modSeq) == [base + 1, base + 1, base + 2])
        // A change by another program, not yet seen, makes UNCHANGEDSINCE fail for that message.
        try maildir.setFlags([.seen], of: after.messages[1].message)
        let (outside, _) = try maildir.changeFlags(of: [after.messages[1]], unchangedSince: base + 2) { $0 }
        #expect(outside[0].outcome == .modified && outside[0].modSeq == base + 3)
        // An expunged message is gone.
        try maildir.remove(after.messages[2].message)
        let (gone, _) = try maildir.changeFlags(of: [after.messages[2]]) { $0.union(.seen) }
        #expect(gone[0].outcome == .gone)
    }

    @Test("A lost or torn log never makes HIGHESTMODSEQ go back; a half-written last line is cut off before the next append")
    func crashes() throws {
        try maildir.create()
        for second in 1...2 { try put("170000000\(second).M1P1.h") }
        let index = try maildir.synchronize()
        _ = try maildir.changeFlags(of: [index.messages[0]]) { $0.union(.seen) }
        let highest = try maildir.synchronize().highestModSeq
        // A crash in the middle of an append.
        let file = try SafeFile.openForAppend(maildir.path + "/aviary-modseq")
        try file.writeAll(Array("2 \(highest + 1) F".utf8))
        file.close()
        _ = try maildir.changeFlags(of: [index.messages[1]]) { $0.union(.draft) }
        let afterTear = try maildir.synchronize()
        #expect(afterTear.highestModSeq == highest + 1)
        #expect(afterTear.messages[1].message.flags == [.draft])
        #expect(try log().hasSuffix("\n2 \(highest + 1) D\n"))
        #expect(try !log().contains(" F"))
        // The file deleted: starting over from the clock still lands above what clients were told.
        unlink(maildir.path + "/aviary-modseq")
        let fresh = try maildir.synchronize()
        #expect(fresh.highestModSeq > afterTear.highestModSeq)
        // Garbage in the middle: the same.
        try SafeFile.writeDurably(Array("1 V1 H5 E1\nnot a line at all\n".utf8), to: maildir.path + "/aviary-modseq")
        #expect(try maildir.synchronize().highestModSeq > fresh.highestModSeq)
    }

    @Test("A log last written before the system booted starts over from the clock (its unsynced lines may be gone)")
    func earlierBoot() throws {
        try maildir.create()
        for second in 1...2 { try put("170000000\(second).M1P1.h") }
        let index = try maildir.synchronize()
        _ = try maildir.changeFlags(of: [index.messages[0]]) { $0.union(.seen) }
        let before = try maildir.synchronize().highestModSeq
        #expect(try maildir.synchronize().highestModSeq == before)  // written this boot: used as it is
        // As if the machine had lost power and come back: the file dates from before the boot.
        let old = Maildir.bootTime - 600
        var times = [timespec(tv_sec: old, tv_nsec: 0), timespec(tv_sec: old, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, maildir.path + "/aviary-modseq", &times, 0) == 0)
        let clock = Maildir.clockModSeq()
        let after = try maildir.synchronize()
        #expect(after.highestModSeq >= clock)
        #expect(after.messages.allSatisfy { $0.modSeq == after.highestModSeq })
        #expect(after.messages[0].message.flags == [.seen])
        // Started over once: the new file is of this boot, and the next change counts on from it.
        let (changes, highest) = try maildir.changeFlags(of: [after.messages[1]]) { $0.union(.flagged) }
        #expect(changes[0].modSeq == after.highestModSeq + 1 && highest == after.highestModSeq + 1)
    }

    @Test("Writers at once (two threads storing, a third rescanning while files arrive): every change gets its own larger mod-sequence, none is lost")
    func concurrentWriters() async throws {
        try maildir.create()
        for second in 1...4 { try put("170000000\(second).M1P1.h") }
        let index = try maildir.synchronize()
        let base = index.highestModSeq
        let maildir = self.maildir
        let rounds = 40
        try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for worker in 0..<2 {
                group.addTask {
                    var seen: [UInt64] = []
                    for round in 0..<rounds {
                        let message = index.messages[worker]
                        let flag: MaildirFlags = round.isMultiple(of: 2) ? .flagged : .seen
                        let (changes, _) = try maildir.changeFlags(of: [message]) { _ in flag }
                        seen.append(changes[0].modSeq)
                    }
                    return seen
                }
            }
            group.addTask {
                for round in 0..<rounds {
                    let file = try SafeFile.createExclusive(maildir.path(of: .new) + "/1700000100.M\(round)P9.h")
                    try file.writeAll(Array("Subject: y\n\nbody\n".utf8))
                    file.close()
                    _ = try maildir.synchronize()
                }
                return []
            }
            var all: [UInt64] = []
            for try await seen in group {
                #expect(seen == seen.sorted() && Set(seen).count == seen.count)
                all += seen
            }
            #expect(Set(all).count == all.count, "two stores shared a mod-sequence")
        }
        let after = try maildir.synchronize()
        #expect(after.messages.count == 4 + rounds)
        #expect(after.highestModSeq >= base + UInt64(2 * rounds))
        let reread = try ModSeqLog(parsing: Array(try log().utf8))
        #expect(reread.highest == after.highestModSeq)
        #expect(reread.describes(after.messages))
    }

    @Test("A log this process read before is read on from where it ended, a torn line once it is whole; a rewritten one whole again")
    func incrementalReads() throws {
        try maildir.create()
        for second in 1...3 { try put("170000000\(second).M1P1.h") }
        let h = try maildir.synchronize().highestModSeq
        let path = maildir.path + "/aviary-modseq"
        func append(_ text: String) throws {
            let file = try SafeFile.openForAppend(path)
            try file.writeAll(Array(text.utf8))
            file.close()
        }
        func whole() throws -> ModSeqLog { try ModSeqLog(parsing: Array(try log().utf8)) }
        _ = try #require(maildir.readModSeqLog())
        try append("1 \(h + 1) S\n")  // another process's change
        let second = try #require(maildir.readModSeqLog())
        #expect(second.messages[1] == .init(modSeq: h + 1, flags: [.seen]))
        #expect(try second == whole())
        try append("2 \(h + 2) F")
        let torn = try #require(maildir.readModSeqLog())
        #expect(try torn.messages[2]?.flags == [] && torn.highest == h + 1 && torn == whole())
        try append("\n")
        let mended = try #require(maildir.readModSeqLog())
        #expect(try mended.messages[2] == .init(modSeq: h + 2, flags: [.flagged]) && mended == whole())
        var rewritten = mended
        _ = rewritten.set(3, [.draft], h + 3)
        try SafeFile.writeDurably(rewritten.compacted(), to: path + ".new")
        try SafeFile.rename(path + ".new", to: path)
        let reread = try #require(maildir.readModSeqLog())
        #expect(try reread.messages[3] == .init(modSeq: h + 3, flags: [.draft]) && reread == whole())
    }

    @Test("An empty new mailbox reports a HIGHESTMODSEQ above 0")
    func emptyMailbox() throws {
        try maildir.create()
        #expect(try maildir.synchronize().highestModSeq > 0)
    }

    @Test("The log is rewritten once it has grown well past its messages, keeping the newest expunges within the window")
    func compaction() throws {
        var log = ModSeqLog(uidValidity: 1, start: 10)
        for uid in UInt32(1)...5 { _ = log.set(uid, [], 10) }
        var modSeq: UInt64 = 10
        for round in 0..<600 {
            modSeq += 1
            _ = log.set(1, round.isMultiple(of: 2) ? [.seen] : [], modSeq)
            modSeq += 1
            _ = log.expunge([UInt32(100 + round * 2)], modSeq)
        }
        #expect(log.wantsRewrite)
        let bytes = log.compacted()
        let reread = try ModSeqLog(parsing: bytes)
        #expect(reread.messages == log.messages)
        #expect(reread.highest == modSeq)
        #expect(reread.expunges.count == 600)
        #expect(reread.lineCount == 605)
        var big = ModSeqLog(uidValidity: 1, start: 1)
        for number in 0..<(ModSeqLog.expungeWindow + 5) { _ = big.expunge([UInt32(2 * number + 1)], UInt64(number + 2)) }
        _ = big.compacted()
        #expect(big.expunges.count == ModSeqLog.expungeWindow)
        #expect(big.forgottenThrough == 6)
        #expect(big.expunged(since: 5) == nil)
        #expect(big.expunged(since: UInt64(ModSeqLog.expungeWindow + 5)) == [UInt32(2 * (ModSeqLog.expungeWindow + 4) + 1)...UInt32(2 * (ModSeqLog.expungeWindow + 4) + 1)])
    }
}
