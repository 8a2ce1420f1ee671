import AviaryIMAP
import Testing

let sortFixtures: [ParseFixture] = [
    ParseFixture(
        "a SORT (SUBJECT) UTF-8 ALL",
        .sort(IMAPSortCommand(criteria: [.init(.subject)], charset: "UTF-8", keys: [.all]), byUID: false)
    ),
    ParseFixture(
        "a uid sort (reverse date FROM) us-ascii SEEN NOT FROM \"Smith\"",
        .sort(
            IMAPSortCommand(
                criteria: [.init(.date, reversed: true), .init(.from)],
                charset: "US-ASCII",
                keys: [.seen, .not(.from("Smith"))]
            ),
            byUID: true
        )
    ),
    ParseFixture(
        "a SORT (ARRIVAL CC TO SIZE DISPLAYFROM REVERSE DISPLAYTO) \"UTF-8\" 1:5",
        .sort(
            IMAPSortCommand(
                criteria: [
                    .init(.arrival), .init(.cc), .init(.to), .init(.size), .init(.displayFrom),
                    .init(.displayTo, reversed: true),
                ],
                charset: "UTF-8",
                keys: [.sequence(set(IMAPSequenceRange(n(1), n(5))))]
            ),
            byUID: false
        )
    ),
    ParseFixture(
        "a SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 UNSEEN",
        .sort(
            IMAPSortCommand(
                returnOptions: [.min, .max, .count, .all],
                criteria: [.init(.date)],
                charset: "UTF-8",
                keys: [.unseen]
            ),
            byUID: false
        )
    ),
    ParseFixture(
        "a UID SORT RETURN () (SIZE) UTF-8 ALL",
        .sort(IMAPSortCommand(returnOptions: [], criteria: [.init(.size)], charset: "UTF-8", keys: [.all]), byUID: true)
    ),
    ParseFixture(
        "a THREAD REFERENCES UTF-8 ALL",
        .thread(IMAPThreadCommand(algorithm: .references, charset: "UTF-8", keys: [.all]), byUID: false)
    ),
    ParseFixture(
        "a UID THREAD orderedsubject US-ASCII SEEN (SUBJECT x)",
        .thread(
            IMAPThreadCommand(algorithm: .orderedSubject, charset: "US-ASCII", keys: [.seen, .and([.subject("x")])]),
            byUID: true
        )
    ),
]

@Suite("SORT and THREAD commands (RFC 5256, RFC 5267 RETURN)")
struct SortThreadParserTests {
    @Test("SORT and THREAD parse to their values", arguments: sortFixtures)
    func fixtures(fixture: ParseFixture) throws {
        let parsed = try parse(fixture.input).get()
        #expect(parsed.tag == "a")
        #expect(parsed.command == fixture.expected)
    }

    @Test(
        "Malformed SORT and THREAD commands are BAD with their tag",
        arguments: [
            "a SORT SUBJECT UTF-8 ALL", "a SORT () UTF-8 ALL", "a SORT (REVERSE) UTF-8 ALL", "a SORT (FOO) UTF-8 ALL",
            "a SORT (SUBJECT) UTF-8", "a SORT (SUBJECT) UTF-8 ", "a SORT (SUBJECT)", "a SORT",
            "a SORT RETURN (SAVE) (DATE) UTF-8 ALL", "a SORT RETURN (PARTIAL) (DATE) UTF-8 ALL",
            "a SORT RETURN (MIN) UTF-8 ALL", "a SORT (SUBJECT  DATE) UTF-8 ALL", "a SORT (SUBJECT) UTF-8 FOO",
            "a THREAD FOO UTF-8 ALL", "a THREAD REFERENCES UTF-8", "a THREAD (REFERENCES) UTF-8 ALL", "a UID THREAD",
            "a THREAD", "a UID SORT (DATE) UTF-8 ALL)",
        ]
    )
    func malformed(input: String) {
        guard case .failure(let error) = parse(input) else {
            Issue.record("\(input) parsed")
            return
        }
        #expect(error.tag == "a")
        #expect(!error.isBadCharset)
    }

    @Test(
        "A charset other than UTF-8 and US-ASCII is BADCHARSET for SORT and THREAD",
        arguments: [
            "a SORT (DATE) KOI8-R ALL", "a UID THREAD REFERENCES ISO-8859-1 ALL", "a SORT (SUBJECT) ALL",
        ]
    )
    func badCharset(input: String) {
        guard case .failure(let error) = parse(input) else {
            Issue.record("\(input) parsed")
            return
        }
        #expect(error.isBadCharset && error.tag == "a")
    }

    @Test("Every one-byte corruption of every SORT and THREAD fixture parses or fails without trapping")
    func corruptions() {
        for fixture in sortFixtures {
            let bytes = Array(fixture.input.utf8)
            for index in bytes.indices {
                for replacement: UInt8 in [0, 32, 40, 41, 34, 123, 255] {
                    var corrupted = bytes
                    corrupted[index] = replacement
                    _ = IMAPCommandParser.parse(corrupted)
                }
            }
        }
    }

    @Test("Every prefix of every SORT and THREAD fixture parses or fails without trapping")
    func prefixes() {
        for fixture in sortFixtures {
            let bytes = Array(fixture.input.utf8)
            for length in 0..<bytes.count {
                if case .success(let parsed) = IMAPCommandParser.parse(Array(bytes[..<length])) {
                    // A prefix that ends after a complete search key is itself a command.
                    #expect(parsed.tag == "a")
                }
            }
        }
    }
}
