import AviaryTestSupport
import Testing

@Suite("imapd ESEARCH (RFC 4731) and SEARCHRES (RFC 5182)")
struct SearchResultTests {
    @Test("RETURN options answer in one ESEARCH line with the tag quoted; SAVE keeps the result in $ for FETCH, STORE, SEARCH and UID commands")
    func esearchAndSearchres() async throws {
        try await IMAPServerHarness.run { harness in
            for number in 1...5 { try harness.deliverToAlice(testMessage(number, subject: number.isMultiple(of: 2) ? "even" : "odd")) }
            let lines = try await harness.transcript { client -> [String: [String]] in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                _ = try client.command("STORE 4 +FLAGS.SILENT (\\Deleted)")
                _ = try client.command("EXPUNGE")  // UIDs 1 2 3 5 are left, as numbers 1 2 3 4
                var lines: [String: [String]] = [:]
                lines["all"] = try client.command("UID SEARCH RETURN (ALL) 1:*")
                lines["empty"] = try client.command("SEARCH RETURN () SUBJECT nothing-matches")
                lines["count"] = try client.command("SEARCH RETURN (COUNT MIN) SUBJECT nothing-matches")
                lines["save"] = try client.command("SEARCH RETURN (SAVE) SUBJECT odd")
                lines["fetch"] = try client.command("FETCH $ (UID)")
                lines["store"] = try client.command("UID STORE $ +FLAGS.SILENT (\\Flagged)")
                lines["flagged"] = try client.command("UID SEARCH FLAGGED")
                lines["key"] = try client.command("SEARCH NOT $")
                lines["uidKey"] = try client.command("UID SEARCH UID $")
                lines["min"] = try client.command("UID SEARCH RETURN (SAVE MIN) SUBJECT odd")
                lines["fetchMin"] = try client.command("UID FETCH $ (FLAGS)")
                lines["failed"] = try client.command("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL")
                lines["afterFailure"] = try client.command("FETCH $ (UID)")
                return lines
            }
            #expect(lines["all"]!.contains { $0.hasPrefix("* ESEARCH (TAG \"t") && $0.hasSuffix("\") UID ALL 1:3,5") })
            #expect(lines["empty"]!.contains { $0.hasPrefix("* ESEARCH (TAG \"") && $0.hasSuffix("\")") })
            #expect(lines["count"]!.contains { $0.hasSuffix("\") COUNT 0") })
            #expect(lines["save"]!.count == 1 && lines["save"]!.last?.contains(" OK ") == true)  // SAVE alone: no answer line
            #expect(lines["fetch"]!.filter { $0.hasPrefix("* ") } == ["* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)", "* 4 FETCH (UID 5)"])
            #expect(lines["flagged"]!.contains("* SEARCH 1 3 5"))
            #expect(lines["key"]!.contains("* SEARCH 2"))
            #expect(lines["uidKey"]!.contains("* SEARCH 1 3 5"))
            #expect(lines["min"]!.contains { $0.hasSuffix("\") UID MIN 1") })
            #expect(lines["fetchMin"]!.filter { $0.hasPrefix("* ") }.count == 1)
            #expect(lines["failed"]!.last?.contains(" NO [BADCHARSET") == true)
            #expect(lines["afterFailure"]!.filter { $0.hasPrefix("* ") }.isEmpty)
        }
    }
}
