import AviaryIMAP
import Testing

/// Ten messages (numbers 1 to 10 in mailbox order) whose threads are worked out by hand in the tests below.
/// Day d means d days after an epoch; message 9 is the oldest.
let threadMailbox: [IMAPThreadMessage] = [
    message(1, day: 1, "Meeting", id: "a"),
    message(2, day: 2, "Re: Meeting", id: "b", references: ["a"]),
    message(3, day: 4, "Re: Meeting", id: "c", references: ["a", "b"]),
    message(4, day: 3, "Re: Meeting", id: "d", references: ["a"]),  // In-Reply-To only
    message(5, day: 5, "Lunch", id: "e", references: ["x"]),  // x is not in the mailbox
    message(6, day: 6, "Re: Lunch", id: "f", references: ["x"]),
    message(7, day: 7, "Re: Party", id: "g", references: ["y"]),  // y is not in the mailbox
    message(8, day: 8, "Party", id: "h"),
    message(9, day: 0, "Re: Meeting", id: "i"),  // a reply that lost its references
    message(10, day: 9, "Other", id: nil),
]

func message(
    _ number: UInt32,
    day: Int64,
    _ subject: String,
    id: String?,
    references: [String] = []
)
    -> IMAPThreadMessage
{
    IMAPThreadMessage(
        number: number,
        sent: day * 86400,
        subject: IMAPBaseSubject(subject),
        messageID: id,
        references: references
    )
}

@Suite("THREAD algorithms (RFC 5256 3)")
struct ThreadingTests {
    // By hand, ORDEREDSUBJECT: base subjects LUNCH {5, 6}, MEETING {9, 1, 2, 4, 3 by date}, OTHER {10},
    // PARTY {7, 8}; the first of each is the parent of the rest; threads by their first's date (9 is day 0).
    @Test("ORDEREDSUBJECT groups by base subject under the oldest message, threads by the first date")
    func orderedSubject() {
        #expect(IMAPThreading.orderedSubject(threadMailbox).description == "(9 (1)(2)(4)(3))(5 6)(7 8)(10)")
    }

    // By hand, REFERENCES:
    // 1. a is 1's; b under a; c under b (a-b is already linked); d under a; dummy x with 5 and 6; dummy y with 7.
    // 2. Roots: a, x, y, h (8), i (9), 10.
    // 3. y has one child: 7 is promoted; x keeps two at the top level and stays.
    // 4. By date: 9 (day 0), 1, x (its first child 5, day 5), 7, 8, 10.
    // 5. Subject table: MEETING goes to 9, then to 1 (9 is a reply, 1 is not); LUNCH to x; PARTY to 7, then to 8.
    //    9 becomes a child of 1 (1 is not a reply, 9 is); 7 becomes a child of 8.
    // 6. 1's children by date: 9 (day 0), 2, 4; 2 has 3; top level: 1, x, 8, 10.
    @Test("REFERENCES links by references, keeps dummies of two, gathers by subject and sorts by date")
    func references() {
        #expect(IMAPThreading.references(threadMailbox).description == "(1 (9)(2 3)(4))((5)(6))(8 7)(10)")
    }

    @Test("REFERENCES: a missing parent of many makes a top-level dummy; two dummies of one subject merge")
    func dummies() {
        let messages = [
            message(1, day: 1, "Re: topic", id: "m1", references: ["p"]),
            message(2, day: 2, "Re: topic", id: "m2", references: ["q"]),
            message(3, day: 3, "Re: topic", id: "m3", references: ["p"]),
            message(4, day: 4, "Re: topic", id: "m4", references: ["q"]),
        ]
        // Dummies p {1, 3} and q {2, 4}, both TOPIC: q's children join p's.
        #expect(IMAPThreading.references(messages).description == "((1)(2)(3)(4))")
    }

    @Test("REFERENCES: two originals of one subject go under a new dummy; loops and duplicates are refused")
    func newDummyAndLoops() {
        let messages = [
            message(1, day: 2, "Plans", id: "a", references: ["b"]),
            message(2, day: 1, "Plans", id: "b", references: ["a"]),  // a loop: b under a would be a cycle
            message(3, day: 3, "Plans", id: "a"),  // a duplicate Message-ID: a message of its own
            message(4, day: 4, "Re: other", id: "self", references: ["self"]),
        ]
        // 1: dummy b is 1's parent; 2 fills b: refs [a] would put b under a, which is under b: refused, and 2
        // loses no parent (it had none). Roots: b (2, with child 1), 3, 4. Subject PLANS: 2 (day 1) is in the
        // table first; 3 is not a reply, neither is 2: a new dummy holds 2 and 3.
        #expect(IMAPThreading.references(messages).description == "((2 1)(3))(4)")
    }

    @Test("REFERENCES: a message's own References replace the parent an earlier message's References gave it")
    func truncatedReferences() {
        let messages = [
            message(1, day: 1, "Re: Re: x", id: "m1", references: ["p", "q"]),  // q under p, 1 under q
            message(2, day: 2, "Re: x", id: "q", references: ["r"]),  // q leaves p for r
        ]
        // p keeps no child and goes; r has one child at the top level, so 2 is promoted.
        #expect(IMAPThreading.references(messages).description == "(2 1)")
    }

    @Test("ORDEREDSUBJECT and REFERENCES on nothing give nothing; one message is one thread")
    func small() {
        #expect(IMAPThreading.orderedSubject([]).description == "")
        #expect(IMAPThreading.references([]).description == "")
        #expect(IMAPThreading.references([message(7, day: 0, "x", id: nil)]).description == "(7)")
    }

    @Test("A chain of 20,000 replies is one thread written flat, without deep recursion")
    func longChain() {
        var messages: [IMAPThreadMessage] = []
        for number in 1...20_000 {
            messages.append(
                message(
                    UInt32(number),
                    day: Int64(number),
                    "Re: long",
                    id: "m\(number)",
                    references: number == 1 ? [] : ["m\(number - 1)"]
                )
            )
        }
        let text = IMAPThreading.references(messages).description
        #expect(text == "(" + (1...20_000).map(String.init).joined(separator: " ") + ")")
    }

    @Test("msg-ids are read from References and In-Reply-To values")
    func messageIDs() {
        #expect(IMAPThreadMessage.messageIDs(in: "<a@b> <c@d>\t<e\n @f>") == ["a@b", "c@d", "e@f"])
        #expect(IMAPThreadMessage.messageIDs(in: "Your message of <x@y> \"(sent Monday)\"") == ["x@y"])
        #expect(IMAPThreadMessage.messageIDs(in: "<unclosed") == [])
    }
}

@Suite("SORT order (RFC 5256 3)")
struct SortOrderTests {
    @Test("Criteria break ties in turn, REVERSE turns one around, the mailbox order breaks the last tie")
    func order() {
        let values = [
            IMAPSortValues(position: 0, arrival: 3, sent: 10, size: 5, subject: Array("B".utf8)),
            IMAPSortValues(position: 1, arrival: 2, sent: 10, size: 7, subject: Array("A".utf8)),
            IMAPSortValues(position: 2, arrival: 1, sent: 5, size: 5, subject: Array("B".utf8)),
            IMAPSortValues(position: 3, arrival: 1, sent: 10, size: 5, subject: Array("AB".utf8)),
        ]
        func order(_ criteria: [IMAPSortCommand.Criterion]) -> [Int] {
            IMAPSortCommand.sorted(values, by: criteria).map(\.position)
        }
        #expect(order([.init(.subject)]) == [1, 3, 0, 2])
        #expect(order([.init(.subject, reversed: true)]) == [0, 2, 3, 1])
        #expect(order([.init(.date)]) == [2, 0, 1, 3])
        #expect(order([.init(.date, reversed: true)]) == [0, 1, 3, 2])
        #expect(order([.init(.size), .init(.arrival, reversed: true)]) == [0, 2, 3, 1])
        #expect(order([.init(.arrival)]) == [2, 3, 1, 0])
    }

    @Test("Address keys: the first mailbox's local part; the display name or the addr-spec for DISPLAY keys")
    func addressKeys() {
        #expect(IMAPSortValues.addressMailboxKey("\"Zed\" <bob@x.test>, carl@y.test") == Array("BOB".utf8))
        #expect(IMAPSortValues.addressMailboxKey("Team: Ann <ann@x.test>;") == Array("ANN".utf8))
        #expect(IMAPSortValues.addressMailboxKey(nil) == [])
        #expect(IMAPSortValues.addressMailboxKey("undisclosed-recipients:;") == [])
        #expect(IMAPSortValues.displayKey("=?UTF-8?Q?Z=C3=A9d?= <bob@x.test>") == Array("ZéD".utf8))
        #expect(IMAPSortValues.displayKey("bob@x.test") == Array("BOB@X.TEST".utf8))
    }
}
