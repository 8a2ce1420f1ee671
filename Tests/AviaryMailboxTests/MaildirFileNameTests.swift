import Testing

@testable import AviaryMailbox

@Suite("Maildir file names and flags")
struct MaildirFileNameTests {
    @Test("A new unique name has seconds, microseconds, pid, counter and host")
    func uniqueNameFormat() {
        let name = MaildirFileName.makeUnique(
            seconds: 1_700_000_000,
            microseconds: 4711,
            processID: 42,
            counter: 7,
            hostname: "mail.example.org"
        )
        #expect(name == "1700000000.M4711P42Q7.mail.example.org")
    }

    @Test("Slash and colon in the host name are written as octal escapes")
    func hostnameEscapes() {
        #expect(MaildirFileName.encodeHostname("a/b:c") == "a\\057b\\072c")
        let name = MaildirFileName.makeUnique(seconds: 1, microseconds: 2, processID: 3, counter: 4, hostname: "h:x/y")
        #expect(name == "1.M2P3Q4.h\\072x\\057y")
        #expect(!name.contains("/") && !name.contains(":"))
    }

    @Test("The delivery counter never repeats within a process")
    func counterIncreases() {
        let first = MaildirFileName.nextCounter()
        let second = MaildirFileName.nextCounter()
        #expect(second > first)
    }

    struct ParseFixture: Sendable, CustomTestStringConvertible {
        var fileName: String
        var uniqueName: String
        var baseName: String
        var size: Int?
        var virtualSize: Int?
        var flags: String
        var info: String?
        var testDescription: String { fileName }
    }

    static let parseFixtures: [ParseFixture] = [
        // Dovecot.
        ParseFixture(
            fileName: "1700000000.M123P45.host,S=100,W=102:2,S",
            uniqueName: "1700000000.M123P45.host,S=100,W=102",
            baseName: "1700000000.M123P45.host",
            size: 100,
            virtualSize: 102,
            flags: "S",
            info: "2,S"
        ),
        // Aviary, still in new/.
        ParseFixture(
            fileName: "1700000000.M4711P42Q7.mail.example.org,S=2048",
            uniqueName: "1700000000.M4711P42Q7.mail.example.org,S=2048",
            baseName: "1700000000.M4711P42Q7.mail.example.org",
            size: 2048,
            virtualSize: nil,
            flags: "",
            info: nil
        ),
        // Courier / mutt, flags out of order, Dovecot keywords.
        ParseFixture(
            fileName: "1234.5678_9.host:2,TSRPFDab",
            uniqueName: "1234.5678_9.host",
            baseName: "1234.5678_9.host",
            size: nil,
            virtualSize: nil,
            flags: "DFPRSTab",
            info: "2,TSRPFDab"
        ),
        // No flags yet, but seen by a reader.
        ParseFixture(
            fileName: "1.2.h:2,",
            uniqueName: "1.2.h",
            baseName: "1.2.h",
            size: nil,
            virtualSize: nil,
            flags: "",
            info: "2,"
        ),
        // Experimental info carries no flags; a malformed size is absent.
        ParseFixture(
            fileName: "1.2.h,S=x:1,foo",
            uniqueName: "1.2.h,S=x",
            baseName: "1.2.h",
            size: nil,
            virtualSize: nil,
            flags: "",
            info: "1,foo"
        ),
    ]

    @Test("Names written by other programs parse", arguments: parseFixtures)
    func parse(fixture: ParseFixture) {
        let name = MaildirFileName(fixture.fileName)
        #expect(name.uniqueName == fixture.uniqueName)
        #expect(name.baseName == fixture.baseName[...])
        #expect(name.size == fixture.size)
        #expect(name.virtualSize == fixture.virtualSize)
        #expect(name.flags.letters == fixture.flags)
        #expect(name.info == fixture.info)
        #expect(name.description == fixture.fileName)
    }

    @Test("Flags are written in ASCII order after :2,")
    func fileNameWithFlags() {
        let name = MaildirFileName("1700000000.M123P45.host,S=100,W=102:2,S")
        #expect(name.fileName(with: [.seen, .replied, .flagged]) == "1700000000.M123P45.host,S=100,W=102:2,FRS")
        #expect(name.fileName(with: []) == "1700000000.M123P45.host,S=100,W=102:2,")
        let keywords = MaildirFlags(letters: "ba").union(.draft)
        #expect(keywords.letters == "Dab")
    }

    @Test("Standard flags map to their letters")
    func standardFlags() {
        let table: [(MaildirFlags, String)] = [
            (.draft, "D"), (.flagged, "F"), (.passed, "P"), (.replied, "R"), (.seen, "S"), (.trashed, "T"),
        ]
        for (flag, letter) in table {
            #expect(flag.letters == letter)
            #expect(MaildirFlags(letter: Character(letter)) == flag)
        }
        #expect(MaildirFlags(letter: "1") == nil)
        #expect(MaildirFlags(letters: "S,R-1").letters == "RS")
    }
}
