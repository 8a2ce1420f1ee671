import AviaryMailbox
import AviaryTestSupport
import Testing

/// The number in `[HIGHESTMODSEQ n]` of some lines.
func highestModSeq(_ lines: [String]) -> UInt64? {
    for line in lines {
        if let match = line.firstMatch(of: #/\[HIGHESTMODSEQ (\d+)\]/#) { return UInt64(match.1) }
    }
    return nil
}

/// The number in `* STATUS ... (UIDVALIDITY n ...)` or `[UIDVALIDITY n]`.
func uidValidity(_ lines: [String]) -> UInt32? {
    for line in lines {
        if let match = line.firstMatch(of: #/UIDVALIDITY (\d+)/#) { return UInt32(match.1) }
    }
    return nil
}

@Suite("imapd CONDSTORE and QRESYNC (RFC 7162)")
struct CondstoreTests {
    @Test("CONDSTORE: HIGHESTMODSEQ at SELECT and in STATUS, FETCH MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ")
    func condstore() async throws {
        try await IMAPServerHarness.run { harness in
            for number in 1...3 { try harness.deliverToAlice(testMessage(number)) }
            let lines = try await harness.transcript { client -> [String: [String]] in
                _ = try client.login()
                var lines: [String: [String]] = [:]
                lines["capability"] = try client.command("CAPABILITY")
                lines["enable"] = try client.command("ENABLE CONDSTORE")
                lines["select"] = try client.command("SELECT INBOX")
                let h = highestModSeq(lines["select"]!) ?? 0
                lines["fetch"] = try client.command("FETCH 1:* (MODSEQ)")
                lines["store"] = try client.command("STORE 1 +FLAGS (\\Flagged)")
                lines["conditional"] = try client.command("STORE 1:2 (UNCHANGEDSINCE \(h)) +FLAGS (\\Seen)")
                lines["silent"] = try client.command("UID STORE 3 (UNCHANGEDSINCE \(h)) +FLAGS.SILENT (\\Answered)")
                lines["changed"] = try client.command("FETCH 1:* (FLAGS) (CHANGEDSINCE \(h + 1))")
                lines["search"] = try client.command("SEARCH MODSEQ \(h + 2)")
                lines["esearch"] = try client.command("UID SEARCH RETURN (ALL) MODSEQ \(h + 2)")
                lines["none"] = try client.command("SEARCH MODSEQ \(h + 100)")
                lines["status"] = try client.command("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
                lines["zero"] = try client.command("STORE 1 (UNCHANGEDSINCE 0) -FLAGS (\\Flagged)")
                return lines
            }
            let h = try #require(highestModSeq(lines["select"]!))
            #expect(h > 0)
            #expect(lines["capability"]!.contains { $0.contains(" CONDSTORE") && $0.contains(" QRESYNC") })
            #expect(lines["enable"]!.contains("* ENABLED CONDSTORE"))
            #expect(lines["fetch"]!.filter { $0.hasSuffix("FETCH (MODSEQ (\(h)))") }.count == 3)
            #expect(lines["store"]!.contains("* 1 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (\(h + 1)))"))
            #expect(lines["conditional"]!.contains("* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (\(h + 2)))"))
            #expect(lines["conditional"]!.last?.hasSuffix("OK [MODIFIED 1] Conditional STORE failed.") == true)
            #expect(!lines["conditional"]!.contains { $0.hasPrefix("* 1 FETCH") })
            #expect(lines["silent"]!.contains("* 3 FETCH (UID 3 MODSEQ (\(h + 3)))"))
            #expect(lines["changed"]!.filter { $0.hasPrefix("* ") } == [
                "* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (\(h + 2)))",
                "* 3 FETCH (FLAGS (\\Answered \\Recent) MODSEQ (\(h + 3)))",
            ])
            #expect(lines["search"]!.contains("* SEARCH 2 3 (MODSEQ \(h + 3))"))
            #expect(lines["esearch"]!.contains { $0.hasSuffix(" UID ALL 2:3 MODSEQ \(h + 3)") })
            #expect(lines["none"]!.contains("* SEARCH"))
            #expect(lines["status"]!.contains("* STATUS INBOX (HIGHESTMODSEQ \(h + 3) MESSAGES 3)"))
            #expect(lines["zero"]!.last?.contains("[MODIFIED 1]") == true)
        }
    }

    @Test("Two sessions: a flag change in one shows in the other's CHANGEDSINCE fetch with a larger mod-sequence, and in its unsolicited FETCH with MODSEQ")
    func twoSessions() async throws {
        try await IMAPServerHarness.run { harness in
            for number in 1...3 { try harness.deliverToAlice(testMessage(number)) }
            let port = harness.port
            let lines = try await harness.clientPool.runIfActive { () throws -> [String: [String]] in
                let first = try IMAPClient(port: port), second = try IMAPClient(port: port)
                _ = try first.readLine()
                _ = try second.readLine()
                _ = try first.login()
                _ = try second.login()
                var lines: [String: [String]] = [:]
                lines["first"] = try first.command("SELECT INBOX")
                lines["second"] = try second.command("SELECT INBOX (CONDSTORE)")
                let h = highestModSeq(lines["second"]!) ?? 0
                lines["store"] = try first.command("STORE 2 +FLAGS (\\Flagged)")
                lines["changed"] = try second.command("FETCH 1:* (UID FLAGS) (CHANGEDSINCE \(h))")
                lines["noop"] = try second.command("NOOP")
                try harness.deliverToAlice(testMessage(4))
                lines["arrival"] = try second.command("NOOP")
                lines["new"] = try second.command("FETCH 4 (MODSEQ)")
                return lines
            }
            let h = try #require(highestModSeq(lines["second"]!))
            #expect(highestModSeq(lines["first"]!) == h)
            #expect(!lines["store"]!.contains { $0.contains("MODSEQ") })  // the first session has no CONDSTORE
            let changed = lines["changed"]!.filter { $0.hasPrefix("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (") }
            #expect(changed.count >= 1)
            let modSeq = try #require(changed.first?.firstMatch(of: #/MODSEQ \((\d+)\)/#).map { UInt64($0.1)! })
            #expect(modSeq > h)
            #expect(!lines["changed"]!.contains { $0.hasPrefix("* 1 FETCH") || $0.hasPrefix("* 3 FETCH") })
            #expect(lines["arrival"]!.contains("* 4 EXISTS"))
            let arrival = try #require(lines["new"]!.first { $0.hasPrefix("* 4 FETCH") })
            let arrivalModSeq = try #require(arrival.firstMatch(of: #/MODSEQ \((\d+)\)/#).map { UInt64($0.1)! })
            #expect(arrivalModSeq > modSeq)
        }
    }

    @Test("QRESYNC: expunges elsewhere reach a QRESYNC SELECT as exactly the VANISHED (EARLIER) set, a selected session as VANISHED, and UID FETCH VANISHED")
    func qresync() async throws {
        try await IMAPServerHarness.run { harness in
            for number in 1...6 { try harness.deliverToAlice(testMessage(number)) }
            let port = harness.port
            let lines = try await harness.clientPool.runIfActive { () throws -> [String: [String]] in
                let first = try IMAPClient(port: port), second = try IMAPClient(port: port)
                _ = try first.readLine()
                _ = try second.readLine()
                _ = try first.login()
                _ = try second.login()
                var lines: [String: [String]] = [:]
                lines["notEnabled"] = try first.command("SELECT INBOX (QRESYNC (1 1))")
                lines["enable"] = try first.command("ENABLE QRESYNC")
                lines["select"] = try first.command("SELECT INBOX")
                let v = uidValidity(lines["select"]!) ?? 0, h = highestModSeq(lines["select"]!) ?? 0
                _ = try second.command("SELECT INBOX")
                _ = try second.command("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
                lines["expunge"] = try second.command("EXPUNGE")
                _ = try second.command("STORE 1 +FLAGS (\\Seen)")
                lines["noop"] = try first.command("NOOP")
                lines["ownExpunge"] = try first.command("UID STORE 6 +FLAGS (\\Deleted)")
                lines["ownExpunge"]! += try first.command("EXPUNGE")
                lines["uidFetch"] = try first.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE \(h) VANISHED)")
                lines["seqFetch"] = try first.command("FETCH 1 (FLAGS)")
                lines["resync"] = try first.command("SELECT INBOX (QRESYNC (\(v) \(h)))")
                lines["known"] = try first.command("EXAMINE INBOX (QRESYNC (\(v) \(h) 1:4 (1:4 1:4)))")
                lines["old"] = try first.command("SELECT INBOX (QRESYNC (\(v) 1))")
                lines["otherValidity"] = try first.command("SELECT INBOX (QRESYNC (\(v &+ 1) \(h)))")
                return lines
            }
            #expect(lines["notEnabled"]!.last?.contains(" BAD ") == true)
            #expect(lines["enable"]!.contains("* ENABLED QRESYNC"))
            #expect(lines["expunge"]!.filter { $0.hasSuffix(" EXPUNGE") }.count == 3)  // the second never enabled it
            #expect(lines["noop"]!.contains("* VANISHED 2,4:5"))
            #expect(!lines["noop"]!.contains { $0.hasSuffix(" EXPUNGE") })
            let ownExpunge = lines["ownExpunge"]!
            #expect(ownExpunge.contains { $0.hasPrefix("* 3 FETCH (UID 6 FLAGS (\\Deleted") && $0.contains(" MODSEQ (") })
            #expect(ownExpunge.contains("* VANISHED 6"))
            let expungedAt = try #require(highestModSeq(ownExpunge))
            #expect(ownExpunge.last?.contains("OK [HIGHESTMODSEQ \(expungedAt)] Expunge completed.") == true)
            let uidFetch = lines["uidFetch"]!.filter { $0.hasPrefix("* ") }
            #expect(uidFetch.count == 2 && uidFetch.first == "* VANISHED (EARLIER) 2,4:6")
            #expect(uidFetch.last?.hasPrefix("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (") == true)
            #expect(lines["seqFetch"]!.contains { $0.hasPrefix("* 1 FETCH (UID 1 FLAGS (") })
            let resync = lines["resync"]!
            #expect(resync.filter { $0.hasPrefix("* VANISHED") } == ["* VANISHED (EARLIER) 2,4:6"])
            #expect(resync.filter { $0.contains(" FETCH ") }.count == 1)
            #expect(resync.contains { $0.hasPrefix("* 1 FETCH (UID 1 FLAGS (\\Seen") && $0.contains(" MODSEQ (") })
            #expect(resync.contains("* 2 EXISTS"))
            #expect(lines["known"]!.filter { $0.hasPrefix("* VANISHED") } == ["* VANISHED (EARLIER) 2,4"])
            // Older than anything remembered: every UID the client may know that is gone, and every message.
            #expect(lines["old"]!.filter { $0.hasPrefix("* VANISHED") } == ["* VANISHED (EARLIER) 2,4:6"])
            #expect(lines["old"]!.filter { $0.contains(" FETCH ") }.count == 2)
            #expect(!lines["otherValidity"]!.contains { $0.hasPrefix("* VANISHED") || $0.contains(" FETCH ") })
            #expect(lines["otherValidity"]!.last?.contains(" OK ") == true)
        }
    }
}
