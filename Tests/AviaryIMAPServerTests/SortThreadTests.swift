import AviaryTestSupport
import Testing

/// A message for the SORT tests: LF line ends, a body of `bodySize` bytes.
private func sortMessage(from: String?, subject: String, date: String?, bodySize: Int) -> String {
    var text = ""
    if let from { text += "From: \(from)\n" }
    text += "To: alice@virtual.test\nSubject: \(subject)\n"
    if let date { text += "Date: \(date)\n" }
    return text + "\n" + String(repeating: "x", count: bodySize) + "\n"
}

/// A message of the THREAD mailbox worked out by hand in AviaryIMAPTests' ThreadingTests (day d of December
/// 2026; day 0 is 30 November).
private func threadMessage(
    _ subject: String,
    day: Int,
    id: String?,
    references: String? = nil,
    inReplyTo: String? = nil
)
    -> String
{
    let date = day == 0 ? "Mon, 30 Nov 2026 12:00:00 +0000" : "\(day) Dec 2026 12:00:00 +0000"
    var text = "From: someone@example.test\nTo: alice@virtual.test\nSubject: \(subject)\nDate: \(date)\n"
    if let id { text += "Message-ID: <\(id)@example.test>\n" }
    if let references { text += "References: \(references)\n" }
    if let inReplyTo { text += "In-Reply-To: \(inReplyTo)\n" }
    return text + "\nbody\n"
}

private let threadMessages = [
    threadMessage("Meeting", day: 1, id: "a"),
    threadMessage("Re: Meeting", day: 2, id: "b", references: "<a@example.test>"),
    threadMessage("Re: Meeting", day: 4, id: "c", references: "<a@example.test>\n <b@example.test>"),
    threadMessage("Re: Meeting", day: 3, id: "d", inReplyTo: "<a@example.test> (Ann's message)"),
    threadMessage("Lunch", day: 5, id: "e", references: "<x@example.test>"),
    threadMessage("Re: Lunch", day: 6, id: "f", references: "<x@example.test>"),
    threadMessage("Re: Party", day: 7, id: "g", references: "<y@example.test>"),
    threadMessage("Party", day: 8, id: "h"),
    threadMessage("Re: Meeting", day: 0, id: "i"),
    threadMessage("Other", day: 9, id: nil),
]

/// The expected answers below were worked out by hand from RFC 5256 and then checked once against Dovecot 2.3.19
/// serving the same messages from a Maildir (every SORT, THREAD and ESORT line here agreed; Dovecot writes the
/// ESEARCH items in its own order, MIN MAX ALL COUNT, where imapd keeps the client's).
@Suite("imapd SORT, ESORT and THREAD (RFC 5256, RFC 5267)")
struct SortThreadTests {
    @Test(
        "SORT by each key, REVERSE, ties by sequence number, UID SORT after an expunge, ESORT and BADCHARSET; the orders are Dovecot 2.3.19's for the same messages"
    )
    func sort() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(
                sortMessage(
                    from: "\"Zed\" <bob@x.test>",
                    subject: "Re: apple",
                    date: "Thu, 3 Dec 2026 10:00:00 +0000",
                    bodySize: 2000
                )
            )
            try harness.deliverToAlice(
                sortMessage(
                    from: "alice@x.test",
                    subject: "banana",
                    date: "Wed, 2 Dec 2026 23:00:00 -0500",
                    bodySize: 1000
                )
            )
            try harness.deliverToAlice(
                sortMessage(from: "Adam <carl@x.test>", subject: "=?UTF-8?Q?Fwd:_Cherry?=", date: nil, bodySize: 3000)
            )
            try harness.deliverToAlice(
                sortMessage(
                    from: "Bob@x.test",
                    subject: "[list] apple (fwd)",
                    date: "Tue, 1 Dec 2026 08:00:00 +0000",
                    bodySize: 10
                )
            )
            try harness.deliverToAlice(
                sortMessage(from: nil, subject: "Banana", date: "Thu, 3 Dec 2026 10:00:00 +0000", bodySize: 500)
            )
            let lines = try await harness.transcript { client -> [String: [String]] in
                _ = try client.login()
                var lines: [String: [String]] = [:]
                lines["capability"] = try client.command("CAPABILITY")
                _ = try client.command("SELECT INBOX")
                lines["subject"] = try client.command("SORT (SUBJECT) UTF-8 ALL")
                lines["date"] = try client.command("SORT (DATE) UTF-8 ALL")
                lines["reverseDate"] = try client.command("SORT (REVERSE DATE) UTF-8 ALL")
                lines["from"] = try client.command("SORT (FROM) US-ASCII ALL")
                lines["displayFrom"] = try client.command("SORT (DISPLAYFROM) UTF-8 ALL")
                lines["size"] = try client.command("SORT (REVERSE SIZE) UTF-8 ALL")
                lines["arrival"] = try client.command("SORT (ARRIVAL) UTF-8 ALL")
                lines["searched"] = try client.command("SORT (SUBJECT DATE) UTF-8 NOT FROM alice")
                lines["esort"] = try client.command("SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL")
                lines["esortEmpty"] = try client.command("UID SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT nothing")
                lines["charset"] = try client.command("SORT (DATE) KOI8-R ALL")
                lines["modseq"] = try client.command("SORT (DATE) UTF-8 MODSEQ 1")
                lines["esortModseq"] = try client.command("SORT RETURN (COUNT) (DATE) UTF-8 MODSEQ 1")
                _ = try client.command("STORE 2 +FLAGS.SILENT (\\Deleted)")
                _ = try client.command("EXPUNGE")
                lines["uid"] = try client.command("UID SORT (DATE) UTF-8 ALL")
                lines["afterExpunge"] = try client.command("SORT (DATE) UTF-8 ALL")
                return lines
            }
            #expect(
                lines["capability"]!.contains {
                    $0.contains(" SORT ") && $0.contains(" THREAD=REFERENCES") && $0.contains(" ESORT")
                }
            )
            #expect(lines["subject"]!.contains("* SORT 1 4 2 5 3"))
            #expect(lines["date"]!.contains("* SORT 4 2 1 5 3"))
            #expect(lines["reverseDate"]!.contains("* SORT 3 1 5 2 4"))
            #expect(lines["from"]!.contains("* SORT 5 2 1 4 3"))
            #expect(lines["displayFrom"]!.contains("* SORT 5 3 2 4 1"))
            #expect(lines["size"]!.contains("* SORT 3 1 2 5 4"))
            #expect(lines["arrival"]!.contains("* SORT 1 2 3 4 5"))
            #expect(lines["searched"]!.contains("* SORT 4 1 5 3"))
            #expect(
                lines["esort"]!.contains {
                    $0.hasPrefix("* ESEARCH (TAG \"t") && $0.hasSuffix("\") MIN 4 MAX 3 COUNT 5 ALL 4,2,1,5,3")
                }
            )
            #expect(lines["esortEmpty"]!.contains { $0.hasSuffix("\") UID COUNT 0") })
            #expect(lines["charset"]!.last?.contains(" NO [BADCHARSET (UTF-8 US-ASCII)]") == true)
            #expect(lines["modseq"]!.contains { $0.hasPrefix("* SORT 4 2 1 5 3 (MODSEQ ") && $0.hasSuffix(")") })
            #expect(lines["esortModseq"]!.contains { $0.contains("\") COUNT 5 MODSEQ ") })
            #expect(lines["uid"]!.contains("* SORT 4 1 5 3"))
            #expect(lines["afterExpunge"]!.contains("* SORT 3 1 4 2"))
        }
    }

    @Test(
        "THREAD REFERENCES and ORDEREDSUBJECT answer the trees worked out by hand (and Dovecot 2.3.19's); UID THREAD on a search"
    )
    func thread() async throws {
        try await IMAPServerHarness.run { harness in
            for message in threadMessages { try harness.deliverToAlice(message) }
            let lines = try await harness.transcript { client -> [String: [String]] in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                var lines: [String: [String]] = [:]
                lines["references"] = try client.command("THREAD REFERENCES UTF-8 ALL")
                lines["subject"] = try client.command("THREAD ORDEREDSUBJECT UTF-8 ALL")
                lines["uid"] = try client.command("UID THREAD REFERENCES UTF-8 UID 2:10")
                lines["none"] = try client.command("THREAD REFERENCES UTF-8 SUBJECT nothing")
                return lines
            }
            #expect(lines["references"]!.contains("* THREAD (1 (9)(2 3)(4))((5)(6))(8 7)(10)"))
            #expect(lines["subject"]!.contains("* THREAD (9 (1)(2)(4)(3))(5 6)(7 8)(10)"))
            // Without 1, its dummy keeps 2 and 4 and gathers 9 by subject.
            #expect(lines["uid"]!.contains("* THREAD ((9)(2 3)(4))((5)(6))(8 7)(10)"))
            #expect(lines["none"]!.contains("* THREAD"))
        }
    }

    @Test("imapclient's sort() and thread() read the answers")
    func imapclient() async throws {
        try await IMAPServerHarness.run { harness in
            for message in threadMessages { try harness.deliverToAlice(message) }
            let output = try await harness.python(
                """
                import sys, json
                from imapclient import IMAPClient
                c = IMAPClient("127.0.0.1", port=int(sys.argv[1]), ssl=False)
                c.login("alice@virtual.test", "secret")
                c.select_folder("INBOX")
                out = {}
                out["has_sort"] = c.has_capability("SORT") and c.has_capability("THREAD=REFERENCES")
                out["sort"] = c.sort(["REVERSE DATE"])
                out["subject"] = c.sort(["SUBJECT", "DATE"], ["NOT", "SUBJECT", "Other"])
                out["references"] = c.thread("REFERENCES")
                out["orderedsubject"] = c.thread("ORDEREDSUBJECT")
                c.logout()
                print(json.dumps(out))
                """
            )
            #expect(output.contains("\"has_sort\": true"))
            #expect(output.contains("\"sort\": [10, 8, 7, 6, 5, 3, 4, 2, 1, 9]"))
            #expect(output.contains("\"subject\": [5, 6, 9, 1, 2, 4, 3, 7, 8]"))
            #expect(output.contains("\"references\": [[1, [9], [2, 3], [4]], [[5], [6]], [8, 7], [10]]"))
            #expect(output.contains("\"orderedsubject\": [[9, [1], [2], [4], [3]], [5, 6], [7, 8], [10]]"))
        }
    }
}
