import AviaryCore
import AviaryMailbox
import AviaryTestSupport
import Testing

/// A message whose part 1 is base64 of "a NUL b NUL c", part 2 quoted-printable "café", part 3 in an encoding
/// imapd does not know.
let binaryTestMessage = """
    From: sender@example.test
    To: alice@virtual.test
    Subject: binary parts
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="b"

    --b
    Content-Type: application/octet-stream
    Content-Transfer-Encoding: base64

    YQBiAGM=
    --b
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: quoted-printable

    caf=C3=A9
    --b
    Content-Type: application/octet-stream
    Content-Transfer-Encoding: x-uuencode

    begin 644 x
    --b--
    """ + "\n"

@Suite("imapd extensions in process: MULTIAPPEND, BINARY, STATUS=SIZE, UTF8=ACCEPT, IMAP4rev2")
struct ExtensionTests {
    @Test("After login CAPABILITY names MULTIAPPEND, BINARY, STATUS=SIZE, UTF8=ACCEPT and IMAP4rev2")
    func capabilities() async throws {
        try await IMAPServerHarness.run { harness in
            let line = try await harness.transcript { client in
                _ = try client.login()
                return try client.command("CAPABILITY").first ?? ""
            }
            for name in ["IMAP4rev1", "IMAP4rev2", "MULTIAPPEND", "BINARY", "STATUS=SIZE", "UTF8=ACCEPT"] {
                #expect(line.split(separator: " ").contains(Substring(name)), "\(name) in \(line)")
            }
        }
    }

    @Test("STATUS (SIZE) is the sum of the messages' RFC822.SIZE, in STATUS and in LIST-STATUS")
    func statusSize() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(testMessage(1))
            try harness.deliverToAlice(testMessage(2, subject: "a longer subject line"))
            let (sizes, status, list) = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("EXAMINE INBOX")
                return (
                    try client.command("FETCH 1:* RFC822.SIZE"),
                    try client.command("STATUS INBOX (SIZE MESSAGES DELETED)"),
                    try client.command("LIST \"\" \"INBOX\" RETURN (STATUS (SIZE))")
                )
            }
            let total = sizes.compactMap { line -> Int? in
                guard let range = line.range(of: "RFC822.SIZE ") else { return nil }
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }.reduce(0, +)
            #expect(total > 300)
            #expect(status.first == "* STATUS INBOX (SIZE \(total) MESSAGES 2 DELETED 0)")
            #expect(list.contains("* STATUS INBOX (SIZE \(total))"), "\(list)")
        }
    }

    @Test("MULTIAPPEND stores every message with consecutive UIDs and answers APPENDUID with the set")
    func multiappend() async throws {
        try await IMAPServerHarness.run { harness in
            let (appended, fetched) = try await harness.transcript { client in
                _ = try client.login()
                let one = "Subject: one\r\n\r\nfirst\r\n"
                let two = "Subject: two\r\n\r\nsecond\r\n"
                try client.send(
                    "a1 APPEND INBOX (\\Seen) {\(one.utf8.count)+}\r\n\(one) (\\Flagged) \"17-Jul-1996 02:44:25 -0700\" {\(two.utf8.count)}"
                )
                guard try client.readLine().hasPrefix("+ ") else { throw TestSupportError("no continuation") }
                try client.send(two)
                let appended = try client.readUntilTagged("a1")
                _ = try client.command("SELECT INBOX")
                return (
                    appended,
                    try client.command("FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                )
            }
            #expect(
                appended.last?.hasPrefix("a1 OK [APPENDUID ") == true && appended.last?.contains(" 1:2] ") == true,
                "\(appended)"
            )
            #expect(fetched.contains { $0.hasPrefix("* 1 FETCH (UID 1 FLAGS (\\Seen") })
            #expect(
                fetched.contains {
                    $0.hasPrefix("* 2 FETCH (UID 2 FLAGS (\\Flagged") && $0.contains("17-Jul-1996 09:44:25 +0000")
                }
            )
            #expect(fetched.contains("Subject: two"))
        }
    }

    @Test("A MULTIAPPEND with one refused message stores none: over the limit, empty, a literal too large, too many")
    func multiappendAllOrNone() async throws {
        try await IMAPServerHarness.run(extra: "imapd_append_limit = 1000") { harness in
            let big = String(repeating: "x", count: 1001)
            let lines = try await harness.transcript { client in
                _ = try client.login()
                var lines: [String] = []
                // The frame decoder refuses the second literal and consumes the rest of the command.
                try client.send("a1 APPEND INBOX {1+}\r\nm {1001+}\r\n\(big) {1+}\r\nm")
                lines += try client.readUntilTagged("a1")
                try client.send("a2 APPEND INBOX {1+}\r\nm {0+}\r\n")
                lines += try client.readUntilTagged("a2")
                try client.send("a3 APPEND INBOX" + String(repeating: " {1+}\r\nm", count: 1001))
                lines += try client.readUntilTagged("a3")
                // All the literals of one command together are bounded too (append limit + 4 line lengths).
                let chunk = String(repeating: "y", count: 900)
                try client.send("a4 APPEND INBOX" + String(repeating: " {900+}\r\n\(chunk)", count: 400))
                lines += try client.readUntilTagged("a4")
                lines += try client.command("STATUS INBOX (MESSAGES)")
                return lines
            }
            #expect(lines.contains { $0.hasPrefix("a1 NO [TOOBIG]") }, "\(lines)")
            #expect(lines.contains("a2 NO Empty message."), "\(lines)")
            #expect(lines.contains("a3 BAD More than 1000 messages in one APPEND"), "\(lines)")
            #expect(
                lines.contains("a4 NO [TOOBIG] Command over the limit of 1000 bytes for all its literals together."),
                "\(lines)"
            )
            #expect(lines.contains("* STATUS INBOX (MESSAGES 0)"), "\(lines)")
        }
    }

    @Test(
        "FETCH BINARY decodes base64 (literal8 for NULs) and quoted-printable; BINARY.SIZE; an unknown encoding is NO [UNKNOWN-CTE]"
    )
    func fetchBinary() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(binaryTestMessage)
            let (peek, partial, seen, unknown) = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                return (
                    try client.command("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2])"),
                    try client.command("FETCH 1 BINARY.PEEK[1]<1.3>"),
                    try client.command("FETCH 1 (FLAGS BINARY[2])"),
                    try client.command("FETCH 1 BINARY.PEEK[3]")
                )
            }
            #expect(peek.first == "* 1 FETCH (BINARY.SIZE[1] 5 BINARY[1] ~{5}", "\(peek)")
            #expect(peek.contains("a\u{0}b\u{0}c BINARY[2] {5}"), "\(peek)")
            #expect(peek.contains("café BINARY.SIZE[2] 5)"), "\(peek)")
            #expect(partial.first == "* 1 FETCH (BINARY[1]<1> ~{3}", "\(partial)")
            #expect(partial.contains("\u{0}b\u{0})"), "\(partial)")
            #expect(seen.contains { $0.contains("\\Seen") }, "\(seen)")
            #expect(unknown.last?.contains("NO [UNKNOWN-CTE]") == true, "\(unknown)")
        }
    }

    @Test(
        "APPEND with a literal8 holding NULs stores the bytes; FETCH BINARY gives them back as literal8, BODY with 0x80"
    )
    func appendLiteral8() async throws {
        try await IMAPServerHarness.run { harness in
            let message: [UInt8] =
                Array(
                    "Subject: nul\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nx"
                        .utf8
                )
                + [0, 0] + Array("y\r\n".utf8)
            let lines = try await harness.transcript { client in
                _ = try client.login()
                try client.send(raw: Array("a1 APPEND INBOX ~{\(message.count)+}\r\n".utf8) + message + [13, 10])
                var lines = try client.readUntilTagged("a1")
                _ = try client.command("SELECT INBOX")
                lines += try client.command("FETCH 1 BINARY.PEEK[1]")
                lines += try client.command("FETCH 1 BODY.PEEK[TEXT]")
                return lines
            }
            #expect(lines.first?.hasPrefix("a1 OK [APPENDUID ") == true, "\(lines)")
            #expect(lines.contains("* 1 FETCH (BINARY[1] ~{6}"), "\(lines)")
            #expect(lines.contains("x\u{0}\u{0}y"), "\(lines)")
            // BODY[] has no literal8: the NULs show as 0x80 there.
            #expect(lines.contains("* 1 FETCH (BODY[TEXT] {6}"), "\(lines)")
            #expect(lines.contains("x\u{FFFD}\u{FFFD}y"), "\(lines)")
        }
    }

    @Test(
        "ENABLE UTF8=ACCEPT: mailbox names in UTF-8 both ways, APPEND UTF8 accepted (BAD before), SEARCH CHARSET BAD, SORT only in UTF-8"
    )
    func utf8Accept() async throws {
        try await IMAPServerHarness.run { harness in
            let (before, after) = try await harness.transcript { client in
                _ = try client.login()
                let before = [
                    try client.status("CREATE Entw&APw-rfe"),
                    try client.status("APPEND INBOX UTF8 (~{11+}\r\nSubject: \r\n)"),
                ]
                var after = try client.command("ENABLE UTF8=ACCEPT")
                after += try client.command("LIST \"\" \"Entw*\"")
                after += try client.command("STATUS \"Entwürfe\" (MESSAGES)")
                let message = "Subject: Grüße\r\n\r\nhé\r\n"
                after.append(try client.status("APPEND \"Entwürfe\" UTF8 (~{\(message.utf8.count)+}\r\n\(message))"))
                after += try client.command("SELECT \"Entwürfe\"")
                after += try client.command("SEARCH CHARSET UTF-8 ALL")
                after += try client.command("SEARCH ALL")
                after += try client.command("SORT (SUBJECT) US-ASCII ALL")
                after += try client.command("SORT (SUBJECT) UTF-8 ALL")
                return (before, after)
            }
            #expect(before[0].contains("OK"))
            #expect(before[1].contains("BAD The UTF8 data item needs ENABLE UTF8=ACCEPT."), "\(before)")
            #expect(after.contains("* ENABLED UTF8=ACCEPT"), "\(after)")
            #expect(after.contains("* LIST (\\HasNoChildren) \".\" \"Entwürfe\""), "\(after)")
            #expect(after.contains("* STATUS \"Entwürfe\" (MESSAGES 0)"), "\(after)")
            #expect(after.contains { $0.contains("OK [APPENDUID ") }, "\(after)")
            #expect(after.contains { $0.hasSuffix("BAD CHARSET is not allowed after ENABLE UTF8=ACCEPT.") }, "\(after)")
            #expect(after.contains("* SEARCH 1"), "\(after)")
            #expect(after.contains { $0.hasSuffix("BAD Only UTF-8 is allowed after ENABLE UTF8=ACCEPT.") }, "\(after)")
            #expect(after.contains("* SORT 1"), "\(after)")
        }
    }

    @Test("ENABLE IMAP4rev2: no RECENT or \\Recent, a LIST line at SELECT, SEARCH answered with ESEARCH, UTF-8 names")
    func rev2() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(testMessage(1))
            try harness.deliverToAlice(testMessage(2))
            let (rev1, rev2) = try await harness.transcript { client -> ([String], [String]) in
                _ = try client.login()
                let rev1 = try client.command("EXAMINE INBOX")
                var rev2 = try client.command("ENABLE IMAP4rev2")
                rev2 += try client.command("SELECT INBOX")
                rev2 += try client.command("FETCH 1:* FLAGS")
                rev2 += try client.command("SEARCH ALL")
                rev2 += try client.command("UID SEARCH UNSEEN")
                rev2 += try client.command("SEARCH DELETED")
                _ = try client.command("CREATE \"Entwürfe\"")
                rev2 += try client.command("LIST \"\" \"Entw*\"")
                return (rev1, rev2)
            }
            #expect(rev1.contains("* 0 RECENT") && rev1.contains { $0.hasPrefix("* OK [UNSEEN 1]") }, "\(rev1)")
            #expect(rev2.contains("* ENABLED IMAP4rev2"), "\(rev2)")
            #expect(
                !rev2.contains { $0.contains("RECENT") || $0.contains("\\Recent") || $0.contains("[UNSEEN") },
                "\(rev2)"
            )
            #expect(rev2.contains("* LIST (\\HasNoChildren) \".\" INBOX"), "\(rev2)")
            #expect(rev2.contains { $0.hasPrefix("* ESEARCH (TAG \"") && $0.hasSuffix("\") ALL 1:2") }, "\(rev2)")
            #expect(rev2.contains { $0.hasPrefix("* ESEARCH (TAG \"") && $0.hasSuffix("\") UID ALL 1:2") }, "\(rev2)")
            #expect(rev2.contains { $0.hasPrefix("* ESEARCH (TAG \"") && $0.hasSuffix("\")") }, "\(rev2)")
            #expect(!rev2.contains { $0.hasPrefix("* SEARCH") }, "\(rev2)")
            #expect(rev2.contains("* LIST (\\HasNoChildren) \".\" \"Entwürfe\""), "\(rev2)")
        }
    }
}
