import Testing

@testable import AviaryMailbox

@Suite("dovecot-uidlist and dovecot-keywords formats")
struct DovecotUIDListTests {
    @Test("A version 3 file as Dovecot writes it is read with extension fields and unknown header fields")
    func readVersion3() throws {
        let text = """
            3 V1700000000 N45 G5a1b6f8c0d2e4f60718293a4b5c6d7e8 P1 Zfuture
            41 :1700000000.M1P2.host,S=10,W=11
            42 W2101 S2048 :1700000001.M2P3.host:2,S
            44 G00ff X12 :1700000002.M3P4.host

            """
        let list = try DovecotUIDList(parsing: Array(text.utf8))
        #expect(list.version == 3)
        #expect(list.uidValidity == 1_700_000_000)
        #expect(list.nextUID == 45)
        #expect(list.guid == "5a1b6f8c0d2e4f60718293a4b5c6d7e8")
        #expect(list.otherHeaderFields == ["P1", "Zfuture"])
        #expect(list.entries.map(\.uid) == [41, 42, 44])
        #expect(list.entries[1].extensions == ["W2101", "S2048"])
        #expect(list.entries[1].uniqueName == "1700000001.M2P3.host")
        #expect(list.entries[2].extensions == ["G00ff", "X12"])
    }

    @Test("Writing keeps header and extension fields and stores the unique name alone")
    func roundTrip() throws {
        let text = "3 N45 V1700000000 G5a1b6f8c0d2e4f60718293a4b5c6d7e8 P1\n42 W2101 :a.M1P1.h:2,S\n44 :b.M2P2.h\n"
        let list = try DovecotUIDList(parsing: Array(text.utf8))
        let written = String(decoding: list.encoded(), as: UTF8.self)
        #expect(written == "3 V1700000000 N45 G5a1b6f8c0d2e4f60718293a4b5c6d7e8 P1\n42 W2101 :a.M1P1.h\n44 :b.M2P2.h\n")
        #expect(try DovecotUIDList(parsing: list.encoded()) == DovecotUIDList(parsing: Array(written.utf8)))
    }

    @Test("A version 1 (Courier) file is read and written back as version 3")
    func readVersion1() throws {
        let list = try DovecotUIDList(parsing: Array("1 1600000000 8\n3 1600000000.123.host:2,S\n7 1600000001.124.host\n".utf8))
        #expect(list.version == 1)
        #expect(list.uidValidity == 1_600_000_000)
        #expect(list.nextUID == 8)
        #expect(list.entries.map(\.uid) == [3, 7])
        #expect(list.entries[0].uniqueName == "1600000000.123.host")
        var written = list
        written.guid = "00000000000000000000000000000001"
        #expect(String(decoding: written.encoded(), as: UTF8.self).hasPrefix("3 V1600000000 N8 G0000"))
    }

    @Test("The next UID is never below the last UID + 1, as after Dovecot appended lines")
    func nextUIDFollowsLines() throws {
        let list = try DovecotUIDList(parsing: Array("3 V5 N2 G5a1b6f8c0d2e4f60718293a4b5c6d7e8\n1 :a\n2 :b\n9 :c\n".utf8))
        #expect(list.nextUID == 10)
    }

    @Test("A last line cut short by a concurrent append is ignored")
    func partialLastLine() throws {
        let list = try DovecotUIDList(parsing: Array("3 V5 N2 G5a1b6f8c0d2e4f60718293a4b5c6d7e8\n1 :a\n2 W1".utf8))
        #expect(list.entries.map(\.uid) == [1])
    }

    @Test("A name listed twice keeps its later UID")
    func duplicateName() throws {
        let list = try DovecotUIDList(parsing: Array("3 V5 N2\n1 :a\n2 :b\n3 :a:2,S\n".utf8))
        #expect(list.entries.map(\.uid) == [2, 3])
    }

    @Test(
        "Malformed files are refused with the line and reason",
        arguments: [
            ("", "empty file"),
            ("x V1 N1\n", "no version number"),
            ("2 V1 N1\n", "unsupported version 2"),
            ("3 V0 N5\n", "lacks UIDVALIDITY"),
            ("3 N5\n", "lacks UIDVALIDITY"),
            ("3 Vabc N5\n", "invalid UIDVALIDITY"),
            ("3 V1 N5 Gxyz\n", "invalid mailbox GUID"),
            ("3 V1 N5\n2 :a\n1 :b\n", "not ascending"),
            ("3 V1 N5\n0 :a\n", "invalid UID"),
            ("3 V1 N5\nabc :a\n", "invalid UID"),
            ("3 V1 N5\n1 a\n", "no \":<file name>\""),
            ("3 V1 N5\n1 :a/b\n", "invalid file name"),
            ("3 V1 N5\n4294967295 :a\n", "invalid UID"),
            ("1 5 3\n3 a\n", "not below next UID"),
            ("1 5\n", "version 1 header"),
        ])
    func malformed(text: String, reason: String) {
        let error = #expect(throws: DovecotUIDList.FormatError.self) {
            try DovecotUIDList(parsing: Array(text.utf8))
        }
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("dovecot-keywords lines map indexes to names; bad lines, duplicates and indexes past 25 are skipped")
    func keywords() {
        let keywords = DovecotKeywords(parsing: Array("0 $Forwarded\n1 Work\nfoo\n26 Late\n2 work\n3 \n4 Junk\n".utf8))
        #expect(keywords.names == [0: "$Forwarded", 1: "Work", 4: "Junk"])
        #expect(keywords.index(of: "WORK") == 1)
        #expect(DovecotKeywords.letter(for: 4) == "e")
        #expect(String(decoding: keywords.encoded(), as: UTF8.self) == "0 $Forwarded\n1 Work\n4 Junk\n")
    }
}
