import AviaryCore
import AviaryMailbox
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("imapd in process")
struct IMAPServerTests {
    @Test("The greeting carries CAPABILITY; LOGIN with a wrong password is NO [AUTHENTICATIONFAILED], the right one OK")
    func login() async throws {
        try await IMAPServerHarness.run { harness in
            let (capability, wrong, right) = try await harness.transcript { client in
                let capability = try client.command("CAPABILITY")
                let wrong = try client.login("alice@virtual.test", "nope")
                let right = try client.login()
                return (capability, wrong, right)
            }
            #expect(capability.first?.hasPrefix("* CAPABILITY IMAP4rev1") == true)
            #expect(capability.first?.contains("LITERAL+") == true)
            #expect(wrong.contains("NO [AUTHENTICATIONFAILED]"))
            #expect(right.contains("OK [CAPABILITY IMAP4rev1"))
            #expect(right.contains("UIDPLUS") && right.contains("MOVE") && right.contains("IDLE"))
            #expect(harness.logs.contains("login: user=<alice@virtual.test>, method=PLAIN"))
        }
    }

    @Test("With imapd_tls_auth_only = yes and no TLS, a client on the server's own address or in login_trusted_networks may LOGIN; another gets LOGINDISABLED and PRIVACYREQUIRED")
    func plaintextFromThisHost() async throws {
        try await IMAPServerHarness.run(extra: "imapd_tls_auth_only = yes\nlogin_trusted_networks = 127.0.0.3") { harness in
            let local = try await harness.transcript { client in (try client.command("CAPABILITY"), try client.login()) }
            #expect(local.0.first?.contains("LOGINDISABLED") == false)
            #expect(local.1.contains("OK [CAPABILITY"))
            let trusted = try await harness.transcript(from: "127.0.0.3") { try $0.login() }
            #expect(trusted.contains("OK [CAPABILITY"))
            let remote = try await harness.transcript(from: "127.0.0.4") { client in
                (try client.command("CAPABILITY"), try client.login())
            }
            #expect(remote.0.first?.contains("LOGINDISABLED") == true)
            #expect(remote.1.contains("NO [PRIVACYREQUIRED]"))
        }
    }

    @Test("Over imapd_connection_limit a connection gets BYE [UNAVAILABLE] and the refusal is logged")
    func connectionLimit() async throws {
        try await IMAPServerHarness.run(extra: "imapd_connection_limit = 1") { harness in
            let port = harness.port
            let refused = try await harness.transcript { _ in
                let second = try IMAPClient(port: port)
                return try second.readLine()
            }
            #expect(refused == "* BYE [UNAVAILABLE] Too many connections, try again later.")
            #expect(harness.logs.contains("too many connections (imapd_connection_limit = 1); refusing 127.0.0.1"))
        }
    }

    @Test("A new account gets INBOX and the special-use folders, listed with their attributes and subscribed")
    func newAccountFolders() async throws {
        try await IMAPServerHarness.run { harness in
            let (list, lsub) = try await harness.transcript { client in
                _ = try client.login()
                return (try client.command("LIST \"\" \"*\""), try client.command("LSUB \"\" \"*\""))
            }
            #expect(list.contains("* LIST (\\HasNoChildren) \".\" INBOX"))
            #expect(list.contains("* LIST (\\HasNoChildren \\Sent) \".\" Sent"))
            #expect(list.contains("* LIST (\\HasNoChildren \\Trash) \".\" Trash"))
            #expect(list.contains { $0.hasSuffix("Drafts") } && list.contains { $0.hasSuffix("Junk") })
            #expect(lsub.contains { $0.hasSuffix(" Sent") })
            #expect(SafeFile.isDirectory(harness.aliceMaildir.path + "/.Sent/cur"))
        }
    }

    @Test("Folder names are modified UTF-7 on the wire and on disk, as Dovecot stores them")
    func unicodeFolderNames() async throws {
        try await IMAPServerHarness.run { harness in
            let lines = try await harness.transcript { client in
                _ = try client.login()
                var lines = try client.command("CREATE Entw&APw-rfe")
                lines += try client.command("CREATE \"R&-D\"")
                lines += try client.command("LIST \"\" \"*\"")
                lines += try client.command("SELECT Entw&APw-rfe")
                return lines
            }
            #expect(lines.contains { $0.hasSuffix("\".\" Entw&APw-rfe") })
            #expect(lines.contains { $0.hasSuffix("\".\" R&-D") })
            #expect(lines.last?.contains("OK [READ-WRITE]") == true)
            #expect(SafeFile.isDirectory(harness.aliceMaildir.path + "/.Entw&APw-rfe/cur"))
            #expect(SafeFile.isDirectory(harness.aliceMaildir.path + "/.R&-D/cur"))
        }
    }

    @Test("SELECT reports EXISTS, UIDVALIDITY and UIDNEXT; FETCH, STORE and EXPUNGE work on the Maildir files")
    func selectFetchStoreExpunge() async throws {
        try await IMAPServerHarness.run { harness in
            for number in 1...3 { try harness.deliverToAlice(testMessage(number)) }
            let lines = try await harness.transcript { client in
                _ = try client.login()
                var lines = try client.command("SELECT INBOX")
                lines += try client.command("FETCH 1:* (UID FLAGS RFC822.SIZE)")
                lines += try client.command("STORE 2 +FLAGS (\\Deleted)")
                lines += try client.command("FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]")
                lines += try client.command("EXPUNGE")
                lines += try client.command("UID FETCH 1:* (FLAGS)")
                return lines
            }
            #expect(lines.contains("* 3 EXISTS"))
            #expect(lines.contains { $0.hasPrefix("* OK [UIDVALIDITY ") })
            #expect(lines.contains("* OK [UIDNEXT 4] Predicted next UID"))
            #expect(lines.contains { $0.hasPrefix("* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE ") })
            #expect(lines.contains("* 2 FETCH (FLAGS (\\Deleted \\Recent))"))
            #expect(lines.contains("Subject: message 1"))
            #expect(lines.contains("* 1 FETCH (FLAGS (\\Seen \\Recent))") || lines.contains { $0.contains("\\Seen") })
            #expect(lines.contains("* 2 EXPUNGE"))
            #expect(lines.contains { $0.hasPrefix("* 2 FETCH (UID 3 ") })
            let files = try harness.aliceMaildir.messages()
            #expect(files.count == 2)
            #expect(files.contains { $0.flags.contains(.seen) })
        }
    }

    @Test("Two sessions: flag changes reach the other at NOOP; an expunge is held back during FETCH and told at NOOP")
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
                _ = try first.command("SELECT INBOX")
                _ = try second.command("SELECT INBOX")
                _ = try first.command("STORE 1 +FLAGS (\\Flagged)")
                let noop = try second.command("NOOP")
                _ = try first.command("STORE 3 +FLAGS.SILENT (\\Deleted)")
                _ = try first.command("EXPUNGE")
                let fetch = try second.command("FETCH 1:* (FLAGS)")
                let noopAfter = try second.command("NOOP")
                let fetchAfter = try second.command("FETCH 1:* (UID)")
                return ["noop": noop, "fetch": fetch, "noopAfter": noopAfter, "fetchAfter": fetchAfter]
            }
            #expect(lines["noop"]?.contains { $0.hasPrefix("* 1 FETCH (UID 1 FLAGS (\\Flagged") } == true)
            #expect(lines["fetch"]?.contains { $0.contains("EXPUNGE") } == false)
            #expect(lines["noopAfter"]?.contains("* 3 EXPUNGE") == true)
            #expect(lines["fetchAfter"]?.filter { $0.hasPrefix("* ") }.count == 2)
        }
    }

    @Test("A session whose view still has a message's old file name (another session changed its flags) fetches and stores it")
    func renamedByAnotherSession() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(testMessage(1))
            let port = harness.port
            let lines = try await harness.clientPool.runIfActive { () throws -> [String] in
                let first = try IMAPClient(port: port), second = try IMAPClient(port: port)
                _ = try first.readLine()
                _ = try second.readLine()
                _ = try first.login()
                _ = try second.login()
                _ = try first.command("SELECT INBOX")
                _ = try second.command("SELECT INBOX")
                _ = try first.command("STORE 1 +FLAGS (\\Flagged)")
                // No NOOP: the second session still knows the file by its name before the rename.
                var lines = try second.command("FETCH 1 (BODY.PEEK[TEXT])")
                lines += try second.command("STORE 1 +FLAGS (\\Deleted)")
                lines += try second.command("FETCH 1 BODY.PEEK[]<0.18446744073709551615>")
                lines += try first.command("NOOP")
                return lines
            }
            #expect(lines.contains("Body of message 1."))
            #expect(lines.contains { $0.contains("FLAGS (\\Flagged \\Deleted") })
            #expect(lines.contains { $0.hasPrefix("t4 OK") })
            #expect(lines.contains { $0.hasPrefix("t5 OK") || $0.hasPrefix("t5 BAD") })  // a huge partial length, no overflow
            let files = try harness.aliceMaildir.messages()
            #expect(files.count == 1 && files[0].flags.contains(.flagged) && files[0].flags.contains(.trashed))
        }
    }

    @Test("COPY carries keywords by name into a folder whose dovecot-keywords letters differ")
    func keywordsCopiedByName() async throws {
        try await IMAPServerHarness.run { harness in
            let lines = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("SELECT Archive")
                let other = "Subject: other\r\n\r\nx\r\n"
                // Archive's letter a becomes $Junk-ish first.
                try client.send("p1 APPEND Archive (Other) {\(other.utf8.count)+}\r\n\(other)")
                _ = try client.readUntilTagged("p1")
                let message = "Subject: tagged\r\n\r\nx\r\n"
                try client.send("p2 APPEND INBOX ($Label1) {\(message.utf8.count)+}\r\n\(message)")
                _ = try client.readUntilTagged("p2")
                _ = try client.command("SELECT INBOX")
                _ = try client.command("COPY 1 Archive")
                _ = try client.command("SELECT Archive")
                return try client.command("FETCH 1:* (FLAGS)")
            }
            #expect(lines.contains { $0.hasPrefix("* 1 FETCH") && $0.contains("Other") && !$0.contains("$Label1") })
            #expect(lines.contains { $0.hasPrefix("* 2 FETCH") && $0.contains("$Label1") && !$0.contains("Other") })
        }
    }

    @Test("Removing an unknown keyword uses no keyword slot; adding one announces it in FLAGS")
    func keywordSlots() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(testMessage(1))
            let lines = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                var lines = try client.command("STORE 1 -FLAGS (Never)")
                lines += try client.command("STORE 1 +FLAGS (Project)")
                return lines
            }
            let keywords = (try? SafeFile.readText(harness.aliceMaildir.path + "/dovecot-keywords")) ?? ""
            #expect(!keywords.contains("Never") && keywords.contains("Project"))
            #expect(lines.contains { $0.hasPrefix("* FLAGS (") && $0.contains("Project") })
            #expect(lines.contains { $0.contains("PERMANENTFLAGS") && $0.contains("\\*") })
        }
    }

    @Test("IDLE tells of a message delivered meanwhile, and DONE ends it")
    func idleSeesDelivery() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(testMessage(1))
            let (continuation, exists, done) = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                try client.send("i1 IDLE")
                let continuation = try client.readLine()
                try harness.deliverToAlice(testMessage(2))
                let exists = try client.readLine()
                try client.send("DONE")
                return (continuation, exists, try client.readUntilTagged("i1"))
            }
            #expect(continuation.hasPrefix("+ "))
            #expect(exists == "* 2 EXISTS")
            #expect(done.last == "i1 OK Idle completed.")
        }
    }

    @Test("APPEND answers APPENDUID; COPY answers COPYUID; MOVE removes the source and reports the expunge")
    func appendCopyMove() async throws {
        try await IMAPServerHarness.run { harness in
            let lines = try await harness.transcript { client in
                _ = try client.login()
                let message = "Subject: appended\r\n\r\nhello\r\n"
                try client.send("a1 APPEND INBOX (\\Seen $Important) {\(message.utf8.count)+}\r\n\(message)")
                var lines = try client.readUntilTagged("a1")
                lines += try client.command("SELECT INBOX")
                lines += try client.command("FETCH 1 (FLAGS)")
                lines += try client.command("COPY 1 Archive")
                lines += try client.command("COPY 1 Nowhere")
                lines += try client.command("MOVE 1 Trash")
                lines += try client.command("STATUS Archive (MESSAGES UIDNEXT)")
                return lines
            }
            #expect(lines.contains { $0.hasPrefix("a1 OK [APPENDUID ") && $0.hasSuffix(" 1] Append completed.") })
            #expect(lines.contains { $0.hasPrefix("* 1 FETCH (FLAGS (\\Seen") && $0.contains("$Important") })
            #expect(lines.contains { $0.contains("OK [COPYUID ") && $0.contains(" 1 1] Copy completed.") })
            #expect(lines.contains { $0.hasPrefix("* OK [COPYUID ") })
            #expect(lines.contains("* 1 EXPUNGE"))
            #expect(lines.contains("* STATUS Archive (MESSAGES 1 UIDNEXT 2)"))
            #expect(lines.contains { $0.contains("NO [TRYCREATE]") })
        }
    }

    @Test("SEARCH finds by flag, header, body text, OR and NOT; UID SEARCH answers UIDs; RETURN gives ESEARCH")
    func search() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(testMessage(1, subject: "Quarterly report", from: "boss@example.test"))
            try harness.deliverToAlice(testMessage(2, subject: "Lunch"))
            try harness.deliverToAlice(testMessage(3, subject: "=?UTF-8?B?R3LDvMOfZQ==?="))
            let lines = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                _ = try client.command("STORE 2 +FLAGS (\\Seen)")
                return [
                    try client.command("SEARCH UNSEEN").first ?? "",
                    try client.command("SEARCH FROM boss").first ?? "",
                    try client.command("SEARCH SUBJECT quarterly").first ?? "",
                    try client.command("SEARCH BODY \"message 2\"").first ?? "",
                    try client.command("SEARCH OR SUBJECT lunch FROM boss").first ?? "",
                    try client.command("SEARCH NOT SEEN").first ?? "",
                    try client.command("UID SEARCH 2:*").first ?? "",
                    try client.command("SEARCH RETURN (MIN MAX COUNT) ALL").first ?? "",
                    try client.command("SEARCH CHARSET UTF-8 SUBJECT gr\u{00FC}\u{00DF}e").first ?? "",
                    try client.command("SEARCH SUBJECT \"TERLY REP\"").first ?? "",
                    try client.command("SEARCH SUBJECT \" quarterly\"").first ?? "",
                    try client.command("SEARCH SUBJECT B?R3").first ?? "",
                ]
            }
            #expect(lines[0] == "* SEARCH 1 3")
            #expect(lines[1] == "* SEARCH 1")
            #expect(lines[2] == "* SEARCH 1")
            #expect(lines[3] == "* SEARCH 2")
            #expect(lines[4] == "* SEARCH 1 2")
            #expect(lines[5] == "* SEARCH 1 3")
            #expect(lines[6] == "* SEARCH 2 3")
            #expect(lines[7].hasPrefix("* ESEARCH (TAG \"t") && lines[7].hasSuffix("MIN 1 MAX 3 COUNT 3"))
            #expect(lines[8] == "* SEARCH 3")
            // ASCII text is compared without case; the value is trimmed; encoded words are decoded first.
            #expect(lines[9] == "* SEARCH 1")
            #expect(lines[10] == "* SEARCH")
            #expect(lines[11] == "* SEARCH")
        }
    }

    @Test("Hostile input before login: deep nesting, a huge literal, a 100 KB line and NUL bytes get BAD, and the session goes on")
    func hostileInput() async throws {
        try await IMAPServerHarness.run { harness in
            let lines = try await harness.transcript { client in
                var lines: [String] = []
                lines += try client.command("ID " + String(repeating: "(", count: 10_000))
                try client.send("h2 LOGIN {99999999}")
                lines += try client.readUntilTagged("h2")
                try client.send("h3 NOOP " + String(repeating: "x", count: 100_000))
                lines += try client.readUntilTagged("h3")
                try client.send(raw: Array("h4 LOGIN \"al\u{0}ice\" secret\r\n".utf8))
                lines += try client.readUntilTagged("h4")
                lines += try client.command("NOOP")
                return lines
            }
            #expect(lines.contains { $0.hasPrefix("t1 BAD") })
            #expect(lines.contains { $0.hasPrefix("h2 BAD") })
            #expect(lines.contains { $0.hasPrefix("h3 BAD") })
            #expect(lines.contains { $0.hasPrefix("h4 BAD") })
            #expect(lines.last == "t2 OK NOOP completed.")
        }
    }

    @Test("APPEND while local delivers to the same mailbox: nothing lost, no UID given twice, UIDs ascending")
    func appendBesideDelivery() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.aliceMaildir.create()
            let delivering = Task.detached {
                for number in 1...40 { try harness.deliverToAlice(testMessage(number)) }
            }
            let appended = try await harness.transcript { client in
                _ = try client.login()
                var answers: [String] = []
                for number in 1...40 {
                    let message = "Subject: appended \(number)\r\n\r\nbody\r\n"
                    try client.send("a\(number) APPEND INBOX {\(message.utf8.count)+}\r\n\(message)")
                    answers.append(try client.readUntilTagged("a\(number)").last ?? "")
                }
                return answers
            }
            try await delivering.value
            let uids = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                return try client.command("UID FETCH 1:* (UID)").compactMap { line -> UInt32? in
                    guard let range = line.range(of: "(UID ") else { return nil }
                    return UInt32(line[range.upperBound...].prefix { $0.isNumber })
                }
            }
            #expect(appended.allSatisfy { $0.contains("OK [APPENDUID ") })
            #expect(uids.count == 80)
            #expect(uids == uids.sorted() && Set(uids).count == uids.count)
            let appendUIDs = appended.compactMap { $0.split(separator: " ").dropFirst(4).first.flatMap { UInt32($0.dropLast()) } }
            #expect(Set(appendUIDs).isSubset(of: Set(uids)))
        }
    }

    @Test("A message with 10,000 MIME parts is fetched with BODYSTRUCTURE without trouble")
    func manyParts() async throws {
        try await IMAPServerHarness.run { harness in
            var text = "Subject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
            for number in 0..<10_000 { text += "--b\nContent-Type: text/plain\n\npart \(number)\n" }
            text += "--b--\n"
            try harness.deliverToAlice(text)
            let lines = try await harness.transcript { client in
                _ = try client.login()
                _ = try client.command("SELECT INBOX")
                return try client.command("FETCH 1 (BODYSTRUCTURE)")
            }
            #expect(lines.last?.hasSuffix("OK Fetch completed.") == true)
        }
    }

    @Test("imaplib: byte-exact bodies, partial fetches, flags, UIDPLUS and folders")
    func imaplib() async throws {
        try await IMAPServerHarness.run { harness in
            try harness.deliverToAlice(testMessage(1))
            let output = try await harness.python(
                """
                import imaplib, sys, json
                m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
                m.login("alice@virtual.test", "secret")
                out = {}
                out["select"] = m.select("INBOX")[1][0].decode()
                typ, data = m.fetch("1", "(BODY.PEEK[])")
                out["body"] = data[0][1].decode()
                typ, data = m.fetch("1", "(BODY.PEEK[TEXT]<0.4>)")
                out["partial"] = data[0][1].decode()
                m.store("1", "+FLAGS", "(\\\\Answered)")
                out["flags"] = m.fetch("1", "(FLAGS)")[1][0].decode()
                body = b"From: me@example.test\\r\\nSubject: via imaplib\\r\\n\\r\\nline\\r\\n"
                out["append"] = m.append("INBOX", "(\\\\Seen)", None, body)[1][0].decode()
                out["create"] = m.create("Projects.2026")[0]
                out["list"] = [line.decode() for line in m.list()[1]]
                out["rename"] = m.rename("Projects.2026", "Done")[0]
                out["uidcopy"] = m.uid("COPY", "2", "Done")[0]
                out["status"] = m.status("Done", "(MESSAGES)")[1][0].decode()
                m.logout()
                print(json.dumps(out))
                """)
            #expect(output.contains("\"select\": \"1\""))
            #expect(output.contains("Body of message 1."))
            #expect(output.contains("\"partial\": \"Body\""))
            #expect(output.contains("\\\\Answered"))
            #expect(output.contains("[APPENDUID "))
            #expect(output.contains("Projects.2026") && output.contains("\\\\Noselect"))
            #expect(output.contains("\"rename\": \"OK\""))
            #expect(output.contains("Done (MESSAGES 1)"))
        }
    }
}
