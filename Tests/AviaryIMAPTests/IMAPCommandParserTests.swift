import AviaryIMAP
import Testing

func parse(_ text: String, nestingLimit: Int = 32, utf8: Bool = false) -> Result<IMAPTaggedCommand, IMAPParseError> {
    IMAPCommandParser.parse(Array(text.utf8), nestingLimit: nestingLimit, utf8MailboxNames: utf8)
}

/// One fixture: a command line (literals inline) and the command it means (tag "a").
struct ParseFixture: Sendable, CustomTestStringConvertible {
    var input: String
    var expected: IMAPCommand
    var testDescription: String { input.debugDescription }

    init(_ input: String, _ expected: IMAPCommand) {
        self.input = input
        self.expected = expected
    }
}

/// One malformed command: the tag and message of the error.
struct ErrorFixture: Sendable, CustomTestStringConvertible {
    var input: [UInt8]
    var tag: String?
    var message: String
    var testDescription: String { String(decoding: input, as: UTF8.self).debugDescription }

    init(_ input: String, _ tag: String?, _ message: String) {
        self.init(Array(input.utf8), tag, message)
    }

    init(_ input: [UInt8], _ tag: String?, _ message: String) {
        self.input = input
        self.tag = tag
        self.message = message
    }
}

func set(_ ranges: IMAPSequenceRange...) -> IMAPSequenceSet { .ranges(ranges) }
func n(_ value: UInt32) -> IMAPSequenceRange.Bound { .number(value) }

let generalFixtures: [ParseFixture] = [
    .init("a CAPABILITY", .capability),
    .init("a noop", .noop),
    .init("a LogOut", .logout),
    .init("a STARTTLS", .startTLS),
    .init("a NAMESPACE", .namespace),
    .init("a IDLE", .idle),
    .init("a CHECK", .check),
    .init("a CLOSE", .close),
    .init("a UNSELECT", .unselect),
    .init("a GETQUOTAROOT inbox", .getQuotaRoot(mailbox: "INBOX")),
    .init("a getquota \"User quota\"", .getQuota(root: "User quota")),
    .init("a GETQUOTA \"\"", .getQuota(root: "")),
    .init("a SETQUOTA \"\" (storage 512 MESSAGE 100)", .setQuota(root: "", limits: [
        IMAPQuotaLimit(resource: "STORAGE", limit: 512), IMAPQuotaLimit(resource: "MESSAGE", limit: 100),
    ])),
    .init("a SETQUOTA x ()", .setQuota(root: "x", limits: [])),
    .init("a EXPUNGE", .expunge),
    .init("a ID NIL", .id(nil)),
    .init("a ID ()", .id([])),
    .init("a ID (\"name\" \"Thunderbird\" \"version\" NIL)", .id([("name", "Thunderbird"), ("version", nil)])),
    .init("a AUTHENTICATE PLAIN", .authenticate(mechanism: "PLAIN", initialResponse: nil)),
    .init("a authenticate plain AGFsaWNlAHB3", .authenticate(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHB3")),
    .init("a AUTHENTICATE PLAIN =", .authenticate(mechanism: "PLAIN", initialResponse: "=")),
    .init("a LOGIN alice \"p w\"", .login(user: "alice", password: "p w")),
    .init("a LOGIN {5}\r\nalice {2+}\r\npw", .login(user: "alice", password: "pw")),
    .init("a LOGIN \"a\\\"b\" \"c\\\\d\"", .login(user: "a\"b", password: "c\\d")),
    .init("a LOGIN \"\" p]w", .login(user: "", password: "p]w")),
    .init("a LOGIN jürgen \"pässword\"", .login(user: "jürgen", password: "pässword")),
    .init("a ENABLE CONDSTORE utf8=accept", .enable(["CONDSTORE", "UTF8=ACCEPT"])),
    .init("a COMPRESS deflate", .compress(mechanism: "DEFLATE")),
    .init("a COMPRESS X-LZ4", .compress(mechanism: "X-LZ4")),
    .init("a SELECT inbox", .select(mailbox: "INBOX", condstore: false)),
    .init("a SELECT \"InBox\" (CONDSTORE)", .select(mailbox: "INBOX", condstore: true)),
    .init("a EXAMINE \"Entw&APw-rfe\"", .examine(mailbox: "Entwürfe", condstore: false)),
    .init("a SELECT Inbox/Sub", .select(mailbox: "Inbox/Sub", condstore: false)),
    .init("a CREATE foo", .create(mailbox: "foo", specialUse: [])),
    .init("a CREATE Sent (USE (\\Sent))", .create(mailbox: "Sent", specialUse: ["\\Sent"])),
    .init("a CREATE Box (USE (\\Archive \\Junk))", .create(mailbox: "Box", specialUse: ["\\Archive", "\\Junk"])),
    .init("a DELETE foo", .delete(mailbox: "foo")),
    .init("a RENAME foo {3+}\r\nbar", .rename(from: "foo", to: "bar")),
    .init("a SUBSCRIBE &U,BTFw-", .subscribe(mailbox: "台北")),
    .init("a UNSUBSCRIBE ~peter/mail/&U,BTFw-/&ZeVnLIqe-", .unsubscribe(mailbox: "~peter/mail/台北/日本語")),
    .init("a LIST \"\" *", .list(IMAPListCommand(reference: "", patterns: ["*"]))),
    .init("a LIST \"\" %/&U,BTFw-", .list(IMAPListCommand(reference: "", patterns: ["%/台北"]))),
    .init("a LIST ~/Mail inbox", .list(IMAPListCommand(reference: "~/Mail", patterns: ["INBOX"]))),
    .init(
        "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" Sent*) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))",
        .list(
            IMAPListCommand(
                selection: [.subscribed, .recursiveMatch],
                reference: "",
                patterns: ["INBOX", "Sent*"],
                returnOptions: [.children, .specialUse, .status([.messages, .unseen])]
            )
        )
    ),
    .init(
        "a LIST \"\" \"%\" RETURN (SUBSCRIBED)",
        .list(IMAPListCommand(reference: "", patterns: ["%"], returnOptions: [.subscribed]))
    ),
    .init("a list () \"\" % return ()", .list(IMAPListCommand(reference: "", patterns: ["%"]))),
    .init("a LSUB \"\" *", .lsub(reference: "", pattern: "*")),
    .init(
        "a STATUS INBOX (MESSAGES UIDNEXT uidvalidity HIGHESTMODSEQ)",
        .status(mailbox: "INBOX", items: [.messages, .uidNext, .uidValidity, .highestModSeq])
    ),
    .init("a APPEND INBOX {5}\r\nhello", .append(mailbox: "INBOX", messages: [.init(data: Array("hello".utf8))])),
    .init(
        "a APPEND Sent (\\Seen $Forwarded) \"17-Jul-1996 02:44:25 -0700\" {7+}\r\nhi\r\nyou",
        .append(
            mailbox: "Sent",
            messages: [
                .init(
                    flags: [.seen, .keyword("$Forwarded")],
                    date: IMAPDateTime(secondsSince1970: 837_596_665, zoneMinutes: -420),
                    data: Array("hi\r\nyou".utf8))
            ]
        )
    ),
    .init("a APPEND INBOX () {0}\r\n", .append(mailbox: "INBOX", messages: [.init(data: [])])),
    .init("a APPEND INBOX ~{3}\r\na\u{0}b", .append(mailbox: "INBOX", messages: [.init(data: [97, 0, 98])])),
    .init(
        "a APPEND INBOX UTF8 (~{2}\r\nhi)",
        .append(mailbox: "INBOX", messages: [.init(data: [104, 105], isUTF8: true)])
    ),
    .init("a COPY 1:3 Trash", .copy(set(.init(n(1), n(3))), mailbox: "Trash", byUID: false)),
    .init("a UID COPY 1:3 Trash", .copy(set(.init(n(1), n(3))), mailbox: "Trash", byUID: true)),
    .init("a MOVE 2 \"Archive\"", .move(set(.init(n(2))), mailbox: "Archive", byUID: false)),
    .init("a uid move $ Junk", .move(.saved, mailbox: "Junk", byUID: true)),
    .init("a UID EXPUNGE 3:5,7", .uidExpunge(set(.init(n(3), n(5)), .init(n(7))))),
]

let fetchFixtures: [ParseFixture] = [
    .init(
        "a FETCH 1:4,7,9:* ALL",
        .fetch(
            set(.init(n(1), n(4)), .init(n(7)), .init(n(9), .last)),
            [.flags, .internalDate, .rfc822Size, .envelope],
            byUID: false,
            changedSince: nil
        )
    ),
    .init(
        "a FETCH * FAST",
        .fetch(set(.init(.last)), [.flags, .internalDate, .rfc822Size], byUID: false, changedSince: nil)
    ),
    .init(
        "a FETCH 4294967295 full",
        .fetch(
            set(.init(n(4_294_967_295))),
            [.flags, .internalDate, .rfc822Size, .envelope, .body],
            byUID: false,
            changedSince: nil
        )
    ),
    .init("a FETCH 5:2 flags", .fetch(set(.init(n(5), n(2))), [.flags], byUID: false, changedSince: nil)),
    .init(
        "a UID FETCH 1:* (FLAGS UID BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> BINARY.PEEK[1]<5.10> BINARY.SIZE[2] MODSEQ) (CHANGEDSINCE 12345)",
        .fetch(
            set(.init(n(1), .last)),
            [
                .flags, .uid,
                .section(
                    IMAPSection(part: [1, 2], text: .headerFields(["From", "To"])),
                    partial: IMAPPartial(offset: 0, length: 100),
                    peek: true
                ),
                .binary(part: [1], partial: IMAPPartial(offset: 5, length: 10), peek: true), .binarySize(part: [2]),
                .modSeq,
            ],
            byUID: true,
            changedSince: 12345
        )
    ),
    .init(
        "a FETCH 2 BODY[]",
        .fetch(set(.init(n(2))), [.section(IMAPSection(), partial: nil, peek: false)], byUID: false, changedSince: nil)
    ),
    .init(
        "a FETCH 2 binary[]",
        .fetch(set(.init(n(2))), [.binary(part: [], partial: nil, peek: false)], byUID: false, changedSince: nil)
    ),
    .init(
        "a FETCH 2 (BODY BODYSTRUCTURE RFC822.SIZE RFC822.HEADER RFC822.TEXT RFC822 ENVELOPE INTERNALDATE body[text] BODY[1.MIME] BODY[HEADER] BODY[1] BODY[2.HEADER.FIELDS.NOT (Received)])",
        .fetch(
            set(.init(n(2))),
            [
                .body, .bodyStructure, .rfc822Size, .rfc822Header, .rfc822Text, .rfc822, .envelope, .internalDate,
                .section(IMAPSection(text: .text), partial: nil, peek: false),
                .section(IMAPSection(part: [1], text: .mime), partial: nil, peek: false),
                .section(IMAPSection(text: .header), partial: nil, peek: false),
                .section(IMAPSection(part: [1]), partial: nil, peek: false),
                .section(IMAPSection(part: [2], text: .headerFieldsNot(["Received"])), partial: nil, peek: false),
            ],
            byUID: false,
            changedSince: nil
        )
    ),
    .init(
        "a FETCH 1 (FLAGS) (CHANGEDSINCE 0)",
        .fetch(set(.init(n(1))), [.flags], byUID: false, changedSince: 0)
    ),
    .init(
        "a UID FETCH 300:500 (FLAGS) (changedsince 12345 VANISHED)",
        .fetch(set(.init(n(300), n(500))), [.flags], byUID: true, changedSince: 12345, vanished: true)
    ),
    // RFC 7162 3.2.5.2's examples.
    .init(
        "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        .select(
            mailbox: "INBOX", condstore: false,
            qresync: IMAPQResync(
                uidValidity: 67_890_007, modSeq: 20_050_715_194_045_000,
                knownUIDs: set(.init(n(41)), .init(n(43), n(211)), .init(n(214), n(541)))))
    ),
    .init(
        "a EXAMINE INBOX (CONDSTORE QRESYNC (67890007 90060115194045000 1:29997 (5000,7500 15000,22500)))",
        .examine(
            mailbox: "INBOX", condstore: true,
            qresync: IMAPQResync(
                uidValidity: 67_890_007, modSeq: 90_060_115_194_045_000, knownUIDs: set(.init(n(1), n(29997))),
                sequenceMatch: .init(
                    sequenceNumbers: set(.init(n(5000)), .init(n(7500))), uids: set(.init(n(15000)), .init(n(22500))))))
    ),
    .init(
        "a SELECT INBOX (QRESYNC (1 0 (1:2 5:6)))",
        .select(
            mailbox: "INBOX", condstore: false,
            qresync: IMAPQResync(
                uidValidity: 1, modSeq: 0,
                sequenceMatch: .init(sequenceNumbers: set(.init(n(1), n(2))), uids: set(.init(n(5), n(6))))))
    ),
]

let storeFixtures: [ParseFixture] = [
    .init(
        "a STORE 1:3 +FLAGS.SILENT (\\Deleted)",
        .store(
            set(.init(n(1), n(3))),
            IMAPStoreAction(operation: .add, isSilent: true, flags: [.deleted]),
            byUID: false,
            unchangedSince: nil
        )
    ),
    .init(
        "a UID STORE 5 (UNCHANGEDSINCE 9) -flags \\Seen $Junk",
        .store(
            set(.init(n(5))),
            IMAPStoreAction(operation: .remove, isSilent: false, flags: [.seen, .keyword("$Junk")]),
            byUID: true,
            unchangedSince: 9
        )
    ),
    .init(
        "a STORE 1 FLAGS ()",
        .store(
            set(.init(n(1))),
            IMAPStoreAction(operation: .replace, isSilent: false, flags: []),
            byUID: false,
            unchangedSince: nil
        )
    ),
    .init(
        "a STORE $ FLAGS (\\Answered \\Flagged \\Draft \\Recent \\X-Other)",
        .store(
            .saved,
            IMAPStoreAction(
                operation: .replace,
                isSilent: false,
                flags: [.answered, .flagged, .draft, .recent, .otherSystem("X-Other")]
            ),
            byUID: false,
            unchangedSince: nil
        )
    ),
]

let searchFixtures: [ParseFixture] = [
    .init("a SEARCH ALL", .search(IMAPSearchCommand(keys: [.all]), byUID: false)),
    .init("a SEARCH RETURN () ALL", .search(IMAPSearchCommand(returnOptions: [], keys: [.all]), byUID: false)),
    .init("a SEARCH $", .search(IMAPSearchCommand(keys: [.sequence(.saved)]), byUID: false)),
    .init(
        "a UID SEARCH RETURN (MIN MAX COUNT SAVE) CHARSET utf-8 FROM \"smith\" SINCE 1-Feb-1994 NOT (SEEN DELETED) OR UID 1:* LARGER 100 1:4,7",
        .search(
            IMAPSearchCommand(
                returnOptions: [.min, .max, .count, .save],
                charset: "UTF-8",
                keys: [
                    .from("smith"), .since(IMAPDate(year: 1994, month: 2, day: 1)), .not(.and([.seen, .deleted])),
                    .or(.uid(set(.init(n(1), .last))), .larger(100)), .sequence(set(.init(n(1), n(4)), .init(n(7)))),
                ]
            ),
            byUID: true
        )
    ),
    .init(
        "a SEARCH HEADER X-Spam yes MODSEQ \"/flags/\\\\draft\" all 620162338 OLDER 3600 YOUNGER 60 MODSEQ 5",
        .search(
            IMAPSearchCommand(keys: [
                .header("X-Spam", "yes"), .modSeq(620_162_338), .older(3600), .younger(60), .modSeq(5),
            ]),
            byUID: false
        )
    ),
    .init(
        "a SEARCH ANSWERED DELETED DRAFT FLAGGED RECENT SEEN NEW OLD UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
        .search(
            IMAPSearchCommand(keys: [
                .answered, .deleted, .draft, .flagged, .recent, .seen, .new, .old, .unanswered, .undeleted, .undraft,
                .unflagged, .unseen,
            ]),
            byUID: false
        )
    ),
    .init(
        "a SEARCH KEYWORD $Junk UNKEYWORD foo BCC b BODY {4}\r\nbody CC c SUBJECT \"hi there\" TEXT t TO x SMALLER 5",
        .search(
            IMAPSearchCommand(keys: [
                .keyword("$Junk"), .unkeyword("foo"), .bcc("b"), .body("body"), .cc("c"), .subject("hi there"),
                .text("t"), .to("x"), .smaller(5),
            ]),
            byUID: false
        )
    ),
    .init(
        "a SEARCH BEFORE 1-Feb-1994 ON \"2-Mar-2000\" SENTBEFORE 31-dec-1999 SENTON 1-Jan-2000 SENTSINCE 29-Feb-2000",
        .search(
            IMAPSearchCommand(keys: [
                .before(IMAPDate(year: 1994, month: 2, day: 1)), .on(IMAPDate(year: 2000, month: 3, day: 2)),
                .sentBefore(IMAPDate(year: 1999, month: 12, day: 31)), .sentOn(IMAPDate(year: 2000, month: 1, day: 1)),
                .sentSince(IMAPDate(year: 2000, month: 2, day: 29)),
            ]),
            byUID: false
        )
    ),
    .init(
        "a SEARCH CHARSET US-ASCII (OR (FROM a) NOT TO b)",
        .search(
            IMAPSearchCommand(charset: "US-ASCII", keys: [.and([.or(.and([.from("a")]), .not(.to("b")))])]),
            byUID: false
        )
    ),
]

let errorFixtures: [ErrorFixture] = [
    .init("a GETQUOTAROOT", "a", "Missing argument"),
    .init("a SETQUOTA x (STORAGE)", "a", "Expected a space"),
    .init("a SETQUOTA x (STORAGE -1)", "a", "Expected a number"),
    .init("", nil, "Empty command line"),
    .init("a", "a", "Missing command"),
    .init("a ", "a", "Missing argument"),
    .init("a FOO", "a", "Unknown command FOO"),
    .init(
        "a FOO" + String(repeating: "O", count: 100),
        "a",
        "Unknown command FOO" + String(repeating: "O", count: 37) + "..."
    ),
    .init("+x NOOP", nil, "Invalid tag"),
    .init("* NOOP", nil, "Invalid tag"),
    .init("a(b NOOP", nil, "Invalid tag"),
    .init("a  NOOP", "a", "Missing command"),
    .init("a UID FOO 1", "a", "Unknown command UID FOO"),
    .init("a UID", "a", "Missing argument"),
    .init("a LOGIN alice", "a", "Missing argument"),
    .init("a LOGIN alice  pw", "a", "Expected a string"),
    .init("a NOOP x", "a", "Unexpected text after the arguments"),
    .init("a NOOP ", "a", "Unexpected text after the arguments"),
    .init(Array("a LOGIN \"a".utf8) + [0] + Array("b\" c".utf8), "a", "NUL byte in quoted string"),
    .init(Array("a LOGIN a".utf8) + [0] + Array("b c".utf8), "a", "NUL byte in command"),
    .init(Array("a LOGIN {3}\r\na".utf8) + [0] + Array("b c".utf8), "a", "NUL byte in literal"),
    .init(Array("a LOGIN \"a\u{FF}\" c".utf8.dropLast(4)) + [0xFF, 0x22, 0x20, 0x63], "a", "Invalid UTF-8 in string"),
    .init("a LOGIN \"a\\nb\" c", "a", "Invalid escape in quoted string"),
    .init("a LOGIN \"a\rb\" c", "a", "CR or LF in quoted string"),
    .init("a LOGIN \"abc c", "a", "Unterminated quoted string"),
    .init("a LOGIN {5}\r\nab", "a", "Literal shorter than announced"),
    .init("a LOGIN {4294967295}\r\nab", "a", "Literal shorter than announced"),
    .init("a LOGIN {99999999999999999999}\r\nx y", "a", "Invalid literal size"),
    .init("a LOGIN {2}x y", "a", "Expected CRLF after the literal size"),
    .init("a LOGIN {2x}\r\nxy y", "a", "Invalid literal"),
    .init("a SELECT &Jjo!", "a", "Mailbox name is not valid modified UTF-7"),
    .init("a SELECT Entwürfe", "a", "Mailbox name is not valid modified UTF-7"),
    .init("a SELECT INBOX (XYZZY)", "a", "Unsupported parameter XYZZY"),
    .init("a SELECT INBOX (QRESYNC)", "a", "Expected a space"),
    .init("a SELECT INBOX (QRESYNC (0 5))", "a", "Invalid number 0"),
    .init("a SELECT INBOX (QRESYNC (1 5 $))", "a", "Invalid known UIDs"),
    .init("a SELECT INBOX (QRESYNC (1 5 1:4 (1:2)))", "a", "Expected a space"),
    .init("a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "a", "Unsupported FETCH modifier VANISHED"),
    .init("a UID FETCH 1 (FLAGS) (VANISHED)", "a", "VANISHED needs CHANGEDSINCE"),
    .init("a FETCH 0 FLAGS", "a", "Invalid sequence set"),
    .init("a FETCH 4294967296 FLAGS", "a", "Invalid sequence set"),
    .init("a FETCH 1:0 FLAGS", "a", "Invalid sequence set"),
    .init("a FETCH 1, FLAGS", "a", "Invalid sequence set"),
    .init("a FETCH 1a FLAGS", "a", "Invalid sequence set"),
    .init("a FETCH -1 FLAGS", "a", "Invalid sequence set"),
    .init("a FETCH $1 FLAGS", "a", "Invalid sequence set"),
    .init("a FETCH 1 (FLAGS FOO)", "a", "Unknown FETCH item FOO"),
    .init("a FETCH 1 ()", "a", "Expected a keyword"),
    .init("a FETCH 1 BODY[MIME]", "a", "Invalid section MIME"),
    .init("a FETCH 1 BODY[0]", "a", "Invalid number 0"),
    .init("a FETCH 1 BODY[1", "a", "Missing argument"),
    .init("a FETCH 1 BODY[]<1.0>", "a", "Invalid number 0"),
    .init("a FETCH 1 BODY.PEEK", "a", "Missing argument"),
    .init("a FETCH 1 FLAGS (VANISHED)", "a", "Unsupported FETCH modifier VANISHED"),
    .init("a SEARCH FOO", "a", "Unknown search key FOO"),
    .init("a SEARCH", "a", "Missing argument"),
    .init("a SEARCH OR SEEN", "a", "Missing argument"),
    .init("a SEARCH SINCE 31-Apr-2000", "a", "Invalid date"),
    .init("a SEARCH RETURN (PARTIAL 1:10) ALL", "a", "Unsupported SEARCH return option PARTIAL"),
    .init("a SEARCH (SEEN", "a", "Missing argument"),
    .init("a SEARCH SEEN)", "a", "Unexpected text after the arguments"),
    .init("a STATUS INBOX (FOO)", "a", "Unknown STATUS item FOO"),
    .init("a STATUS INBOX ()", "a", "Expected an atom"),
    .init("a STORE 1 FLAGZ (\\Seen)", "a", "Expected FLAGS, +FLAGS or -FLAGS"),
    .init("a STORE 1 +FLAGS (\\*)", "a", "Invalid flag"),
    .init("a APPEND INBOX hello", "a", "Expected the message as a literal"),
    .init("a APPEND INBOX \"17-Jul-1996\" {1}\r\nx", "a", "Invalid date-time"),
    .init("a LIST (RECURSIVEMATCH) \"\" *", "a", "RECURSIVEMATCH needs another selection option"),
    .init("a LIST (FOO) \"\" *", "a", "Unsupported LIST selection option FOO"),
    .init("a LIST \"\" * RETURN (FOO)", "a", "Unsupported LIST return option FOO"),
    .init("a CREATE x (FOO)", "a", "Unsupported CREATE parameter"),
    .init("a AUTHENTICATE PLAIN a!b", "a", "Unexpected text after the arguments"),
    .init("a ID (\"name\")", "a", "Expected a space"),
    .init("a ID (\"name\" ", "a", "Missing argument"),
    .init(Array("a LOGIN \"a\" x".utf8) + [0xFF], "a", "Invalid UTF-8 in string"),
]

@Suite("IMAP command parser")
struct IMAPCommandParserTests {
    @Test(
        "Commands parse to their values",
        arguments: generalFixtures + fetchFixtures + storeFixtures + searchFixtures + extensionFixtures)
    func fixtures(fixture: ParseFixture) throws {
        let result = parse(fixture.input)
        let parsed = try result.get()
        #expect(parsed.tag == "a")
        #expect(parsed.command == fixture.expected)
    }

    @Test(
        "Malformed commands give an error with the tag and a short message",
        arguments: errorFixtures + extensionErrorFixtures)
    func errors(fixture: ErrorFixture) {
        let result = IMAPCommandParser.parse(fixture.input)
        guard case .failure(let error) = result else {
            Issue.record("parsed: \(result)")
            return
        }
        #expect(error.tag == fixture.tag)
        #expect(error.message == fixture.message)
        #expect(!error.isBadCharset)
    }

    @Test("A charset other than US-ASCII and UTF-8 is a BADCHARSET error")
    func badCharset() {
        let result = parse("t1 SEARCH CHARSET ISO-8859-1 FROM x")
        #expect(result == .failure(IMAPParseError(tag: "t1", message: "Unsupported charset", isBadCharset: true)))
    }

    @Test("A SEARCH RETURN (SAVE) that fails after its options says so, for RFC 5182's empty $; others do not")
    func failedSaveSearch() {
        for (text, saves) in [
            ("t1 SEARCH RETURN (SAVE) CHARSET KOI8-R ALL", true), ("t2 UID SEARCH RETURN (MIN SAVE) FOO", true),
            ("t3 SEARCH RETURN (MIN) FOO", false), ("t4 SEARCH RETURN (SAVE FOO) ALL", false), ("t5 FETCH 1 FOO", false),
        ] {
            guard case .failure(let error) = parse(text) else {
                Issue.record("parsed: \(text)")
                continue
            }
            #expect(error.savesSearch == saves, "\(text)")
        }
    }

    @Test("Mailbox names are taken as UTF-8 when UTF8=ACCEPT is on")
    func utf8MailboxNames() throws {
        #expect(
            try parse("a SELECT Entwürfe", utf8: true).get().command == .select(mailbox: "Entwürfe", condstore: false)
        )
        #expect(
            try parse("a SELECT &U,BTFw-", utf8: true).get().command == .select(mailbox: "&U,BTFw-", condstore: false)
        )
        #expect(try parse("a SELECT inbox", utf8: true).get().command == .select(mailbox: "INBOX", condstore: false))
    }

    @Test("Nesting is bounded: parentheses, NOT and OR chains, 100,000 deep")
    func nesting() {
        let deep = 100_000
        let inputs = [
            "a SEARCH " + String(repeating: "(", count: deep) + "ALL" + String(repeating: ")", count: deep),
            "a SEARCH " + String(repeating: "NOT ", count: deep) + "ALL",
            "a SEARCH " + String(repeating: "OR ALL ", count: deep) + "ALL",
            "a SEARCH " + String(repeating: "OR ", count: deep) + "ALL ALL",
        ]
        for input in inputs {
            #expect(parse(input) == .failure(IMAPParseError(tag: "a", message: "Too deeply nested")))
        }
        #expect(
            parse("a FETCH 1 " + String(repeating: "(", count: deep))
                == .failure(IMAPParseError(tag: "a", message: "Expected a keyword"))
        )
        #expect(throws: Never.self) { try parse("a SEARCH (((ALL)))", nestingLimit: 3).get() }
        #expect(
            parse("a SEARCH ((((ALL))))", nestingLimit: 3)
                == .failure(IMAPParseError(tag: "a", message: "Too deeply nested"))
        )
        #expect(
            parse("a SEARCH NOT NOT NOT NOT ALL", nestingLimit: 3)
                == .failure(IMAPParseError(tag: "a", message: "Too deeply nested"))
        )
        #expect(
            parse("a ID (" + String(repeating: "(", count: deep), nestingLimit: 4).map(\.tag)
                == .failure(IMAPParseError(tag: "a", message: "Expected a string"))
        )
    }

    @Test("Every prefix and every one-byte corruption of every fixture parses or fails without trapping")
    func truncatedAndCorrupted() {
        let all = generalFixtures + fetchFixtures + storeFixtures + searchFixtures
        let junk: [UInt8] = [0, 10, 13, 32, 34, 40, 41, 42, 36, 92, 123, 125, 43, 126, 0xFF, 48, 57]
        var outcomes = 0
        for fixture in all {
            let bytes = Array(fixture.input.utf8)
            for end in 0...bytes.count {
                _ = IMAPCommandParser.parse(Array(bytes[..<end]))
                outcomes += 1
            }
            for position in bytes.indices {
                for byte in junk {
                    var corrupted = bytes
                    corrupted[position] = byte
                    _ = IMAPCommandParser.parse(corrupted, nestingLimit: 4)
                    outcomes += 1
                }
            }
        }
        #expect(outcomes > 10_000)
    }

    @Test("Random bytes never trap the parser")
    func randomBytes() {
        var generator = SplitMix64(seed: 1)
        let alphabet =
            Array("a (){}[]<>\"\\*%$:,.+-~0123456789\r\nSEARCH FETCH NOT OR UID BODY LIST".utf8) + [0, 0xC3, 0xFF]
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 80)
            var bytes = Array("a ".utf8)
            for _ in 0..<length { bytes.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
            _ = IMAPCommandParser.parse(bytes)
        }
    }
}

/// A small deterministic generator for the random tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
