import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A reply as seen by a transcript, for checking outside the client thread.
struct ReplySummary: Sendable, Equatable, CustomStringConvertible {
    var code: Int
    var lines: [String]
    init(_ reply: Reply) {
        code = reply.code
        lines = reply.lines
    }
    var text: String { lines.last ?? "" }
    var description: String { lines.map { "\(code) \($0)" }.joined(separator: " / ") }
}

@Suite("smtpd in process")
struct SMTPServerTests {
    @Test("the greeting is 220 and EHLO lists the extensions")
    func greetingAndEhlo() async throws {
        try await SMTPServerHarness.run { harness in
            let (greeting, ehlo, quit) = try await harness.transcript { client, greeting in
                (ReplySummary(greeting), ReplySummary(try client.command("EHLO client.test")), ReplySummary(try client.command("QUIT")))
            }
            #expect(greeting.code == 220)
            #expect(greeting.text == "mail.example.test ESMTP Aviary")
            #expect(ehlo.code == 250)
            #expect(ehlo.lines.first == "mail.example.test")
            for keyword in ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "DSN"] {
                #expect(ehlo.lines.contains(keyword), "EHLO lacks \(keyword): \(ehlo)")
            }
            #expect(quit.code == 221)
            #expect(quit.text.hasPrefix("2.0.0"))
        }
    }

    @Test("over smtpd_connection_limit a connection gets 421 4.7.0 and is closed; once one ends, the next is served")
    func connectionLimit() async throws {
        try await SMTPServerHarness.run(extra: "smtpd_connection_limit = 1") { harness in
            let port = harness.port
            try await harness.transcript { first, greeting in
                #expect(greeting.code == 220)
                let second = try TranscriptClient(port: port)
                let refused = try second.reply()
                #expect(refused.code == 421, "\(refused)")
                #expect(refused.text == "4.7.0 mail.example.test Error: too many connections from 127.0.0.1")
                #expect(second.peerState() == .closed)
                #expect(try first.command("QUIT").code == 221)
            }
            // The first session's end frees its place (bounded: the count drops when its task ends).
            let greeting = try await retrying(timeout: .seconds(15), step: .milliseconds(20)) {
                try await harness.transcript { client, reply in
                    _ = try? client.command("QUIT")
                    return reply.code
                }
            } until: { $0 == 220 }
            #expect(greeting == 220)
        }
    }

    @Test("RCPT before MAIL gets 503 5.5.1")
    func rcptBeforeMail() async throws {
        try await SMTPServerHarness.run { harness in
            let reply = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                return ReplySummary(try client.command("RCPT TO:<alice@virtual.test>"))
            }
            #expect(reply.code == 503)
            #expect(reply.text.hasPrefix("5.5.1"))
        }
    }

    @Test("DATA without RCPT gets 554 5.5.1; DATA without MAIL gets 503 5.5.1")
    func dataWithoutRecipients() async throws {
        try await SMTPServerHarness.run { harness in
            let (noMail, noRcpt, stillOpen) = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                let noMail = ReplySummary(try client.command("DATA"))
                _ = try client.command("MAIL FROM:<sender@example.test>")
                let noRcpt = ReplySummary(try client.command("DATA"))
                let noop = ReplySummary(try client.command("NOOP"))
                return (noMail, noRcpt, noop)
            }
            #expect(noMail.code == 503 && noMail.text.hasPrefix("5.5.1"))
            #expect(noRcpt.code == 554 && noRcpt.text.hasPrefix("5.5.1"))
            #expect(stillOpen.code == 250)
            #expect(harness.queue.messages(in: .incoming).isEmpty)
        }
    }

    @Test("a message to a virtual user is queued in incoming/ with the Received header first and the envelope")
    func queuesMessage() async throws {
        try await SMTPServerHarness.run { harness in
            let body = "Subject: test\r\nMessage-ID: <m1@client.test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\n"
                + "line one\r\n..leading dot\r\nlast\r\n"
            let replies = try await harness.transcript { client, _ in
                var replies: [ReplySummary] = []
                for command in ["EHLO client.test", "MAIL FROM:<sender@example.test>", "RCPT TO:<alice@virtual.test>", "DATA"] {
                    replies.append(ReplySummary(try client.command(command)))
                }
                try client.send(raw: body + ".\r\n")
                replies.append(ReplySummary(try client.reply()))
                replies.append(ReplySummary(try client.command("QUIT")))
                return replies
            }
            #expect(replies.map(\.code) == [250, 250, 250, 354, 250, 221])
            let queued = try #require(replies.count > 4 ? replies[4].text : nil)
            #expect(queued.hasPrefix("2.0.0 Ok: queued as "))
            let id = try #require(QueueID(String(queued.dropFirst("2.0.0 Ok: queued as ".count))))
            #expect(harness.queue.messages(in: .incoming) == [id])
            let file = try QueueFile(path: harness.queue.path(of: id, in: .incoming))
            #expect(file.envelope.sender == "sender@example.test")
            #expect(file.envelope.recipients.map(\.address) == ["alice@virtual.test"])
            #expect(file.envelope.recipients.map(\.status) == [.pending])
            #expect(file.envelope[attribute: "client_address"] == "127.0.0.1")
            #expect(file.envelope[attribute: "helo_name"] == "client.test")
            #expect(file.envelope[attribute: "protocol"] == "ESMTP")
            let message = String(decoding: try file.messageBytes(), as: UTF8.self)
            let received = "Received: from client.test (localhost [127.0.0.1])\r\n\tby mail.example.test (Aviary) with ESMTP id \(id)\r\n\tfor <alice@virtual.test>; "
            #expect(message.hasPrefix(received), "\(message)")
            let afterHeader = try #require(message.firstRange(of: "\r\nSubject: test"))
            #expect(String(message[afterHeader.lowerBound...].dropFirst()) == body.replacing("..leading", with: ".leading"))
        }
    }

    @Test("the null sender is accepted and stored as empty; several recipients are all kept")
    func nullSenderSeveralRecipients() async throws {
        try await SMTPServerHarness.run { harness in
            let codes = try await harness.transcript { client, _ in
                var codes: [Int] = []
                for command in [
                    "HELO client.test", "MAIL FROM:<>", "RCPT TO:<alice@virtual.test>", "RCPT TO:<info@localhost.test>",
                    "DATA",
                ] {
                    codes.append(try client.command(command).code)
                }
                try client.send(raw: "Subject: bounce\r\n\r\nx\r\n.\r\n")
                codes.append(try client.reply().code)
                return codes
            }
            #expect(codes == [250, 250, 250, 250, 354, 250])
            let id = try #require(harness.queue.messages(in: .incoming).first)
            let file = try QueueFile(path: harness.queue.path(of: id, in: .incoming))
            #expect(file.envelope.sender == "")
            #expect(file.envelope.recipients.map(\.address) == ["alice@virtual.test", "info@localhost.test"])
            #expect(file.envelope[attribute: "protocol"] == "SMTP")
            // With two recipients the Received header names neither.
            #expect(!String(decoding: try file.messageBytes(), as: UTF8.self).contains("for <"))
        }
    }

    @Test("pipelined commands are answered in order")
    func pipelining() async throws {
        try await SMTPServerHarness.run { harness in
            let codes = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                try client.send(raw: "MAIL FROM:<s@example.test>\r\nRCPT TO:<nobody@virtual.test>\r\nRCPT TO:<alice@virtual.test>\r\nDATA\r\n")
                var codes: [Int] = []
                for _ in 0..<4 { codes.append(try client.reply().code) }
                try client.send(raw: "Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n")
                codes.append(try client.reply().code)
                codes.append(try client.reply().code)
                return codes
            }
            #expect(codes == [250, 550, 250, 354, 250, 221])
        }
    }

    @Test("an unknown virtual user is refused with 550 5.1.1")
    func unknownVirtualUser() async throws {
        try await SMTPServerHarness.run { harness in
            let reply = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                _ = try client.command("MAIL FROM:<s@example.test>")
                return ReplySummary(try client.command("RCPT TO:<nobody@virtual.test>"))
            }
            #expect(reply.code == 550)
            #expect(reply.text.hasPrefix("5.1.1"))
            #expect(reply.text.contains("virtual mailbox"))
        }
    }

    @Test("a client outside mynetworks may not relay: 554 5.7.1; relay_domains and local users still work")
    func relayDenied() async throws {
        try await SMTPServerHarness.run(mynetworks: "10.0.0.0/8") { harness in
            let replies = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                _ = try client.command("MAIL FROM:<s@example.test>")
                return [
                    ReplySummary(try client.command("RCPT TO:<someone@remote.example>")),
                    ReplySummary(try client.command("RCPT TO:<someone@relay.test>")),
                    ReplySummary(try client.command("RCPT TO:<alice@virtual.test>")),
                ]
            }
            #expect(replies.map(\.code) == [554, 250, 250])
            #expect(replies.first?.text.hasPrefix("5.7.1") == true)
            #expect(replies.first?.text.contains("Relay access denied") == true)
        }
    }

    @Test("a client inside mynetworks may relay to any domain")
    func relayAllowed() async throws {
        try await SMTPServerHarness.run(mynetworks: "127.0.0.0/8") { harness in
            let code = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                _ = try client.command("MAIL FROM:<s@example.test>")
                return try client.command("RCPT TO:<someone@remote.example>").code
            }
            #expect(code == 250)
        }
    }

    @Test("BDAT LAST queues the chunk's bytes exactly")
    func bdat() async throws {
        try await SMTPServerHarness.run(extra: "local_header_rewrite_clients =") { harness in
            let content = "Subject: chunked\r\n\r\n.not stuffed\r\n"
            let (code, message) = try await harness.sendInOneBDAT(content)
            #expect(code == 250)
            #expect(message.hasPrefix("Received: "))
            #expect(message.hasSuffix("\r\n" + content))
        }
    }

    @Test(
        "a local client's message lacking Message-ID and Date gets both at the end of its header section, by DATA or BDAT; other clients' messages are left alone",
        arguments: [("", true), ("local_header_rewrite_clients = permit_sasl_authenticated", false)])
    func missingHeadersAdded(extra: String, isAdded: Bool) async throws {
        try await SMTPServerHarness.run(extra: extra) { harness in
            let content = "Subject: no id\r\nTo: alice@virtual.test\r\n\r\nbody\r\n"
            let replies = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                var codes: [Int] = []
                for useBDAT in [false, true] {
                    _ = try client.command("MAIL FROM:<s@example.test>")
                    _ = try client.command("RCPT TO:<alice@virtual.test>")
                    if useBDAT {
                        let half = content.utf8.count / 3
                        try client.send(raw: "BDAT \(half)\r\n" + String(decoding: Array(content.utf8)[..<half], as: UTF8.self))
                        codes.append(try client.reply().code)
                        let rest = String(decoding: Array(content.utf8)[half...], as: UTF8.self)
                        try client.send(raw: "BDAT \(rest.utf8.count) LAST\r\n" + rest)
                    } else {
                        _ = try client.command("DATA")
                        try client.send(raw: content + ".\r\n")
                    }
                    codes.append(try client.reply().code)
                }
                return codes
            }
            #expect(replies == [250, 250, 250])
            let ids = harness.queue.messages(in: .incoming)
            #expect(ids.count == 2)
            for id in ids {
                let message = try harness.queuedMessage(id)
                if isAdded {
                    let added = try #require(message.firstMatch(
                        of: #/To: alice@virtual.test\r\nMessage-ID: <([0-9A-Z]+)\.[0-9a-z]+@mail\.example\.test>\r\nDate: [A-Z][a-z][a-z], [^\r]+\r\n\r\nbody\r\n$/#))
                    #expect(String(added.1) == id.rawValue)
                } else {
                    #expect(message.hasSuffix("\r\n" + content))
                }
            }
        }
    }

    @Test("with SPF off, an Authentication-Results: field claiming our authserv-id is removed; another host's is kept")
    func forgedVerdictRemoved() async throws {
        try await SMTPServerHarness.run { harness in
            let content = "Subject: x\r\nAuthentication-Results: mail.example.test;\r\n\tdkim=pass header.d=bank.test\r\n"
                + "Authentication-Results: mx.other.test; spf=pass\r\nMessage-ID: <m@client.test>\r\n"
                + "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nAuthentication-Results: mail.example.test; in the body\r\n"
            let (code, message) = try await harness.sendInOneBDAT(content)
            #expect(code == 250)
            #expect(!message.contains("header.d=bank.test"))
            #expect(message.contains("\r\nAuthentication-Results: mx.other.test; spf=pass\r\n"))
            #expect(message.hasSuffix("\r\n\r\nAuthentication-Results: mail.example.test; in the body\r\n"))
            #expect(!message.contains("Received-SPF"))
        }
    }

    @Test("a message that has its own Message-ID and Date keeps them and gets no second ones")
    func ownHeadersKept() async throws {
        try await SMTPServerHarness.run { harness in
            let content = "Message-ID: <own@client.test>\r\ndate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n"
            let (code, message) = try await harness.sendInOneBDAT(content)
            #expect(code == 250)
            #expect(message.hasSuffix("\r\n" + content))
        }
    }

    @Test("many small BDAT chunks go to disk as they come, not into memory until LAST; RSET throws them away")
    func smallChunksGoToDisk() async throws {
        try await SMTPServerHarness.run { harness in
            // 300 chunks of 1,000 bytes: each a line of 998 characters and CRLF.
            let line = String(repeating: "x", count: 998) + "\r\n"
            let chunks = 300
            let incoming = harness.queue.path(of: .incoming)
            let (replies, heldOnDisk) = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                _ = try client.command("MAIL FROM:<s@example.test>")
                _ = try client.command("RCPT TO:<alice@virtual.test>")
                var codes: [Int] = []
                for _ in 0..<chunks {
                    try client.send(raw: "BDAT 1000\r\n" + line)
                    codes.append(try client.reply().code)
                }
                // Before LAST, the message so far is in the queue's temporary file.
                let temporary = try SafeFile.listDirectory(incoming).filter { $0.hasPrefix(".") }
                let size = temporary.map { name in
                    var status = stat()
                    return stat(incoming + "/" + name, &status) == 0 ? Int64(status.st_size) : 0
                }.reduce(0, +)
                try client.send(raw: "BDAT 0 LAST\r\n")
                codes.append(try client.reply().code)
                return (codes, size)
            }
            #expect(replies == Array(repeating: 250, count: chunks + 1))
            // At most two batches of 64 KiB wait in memory: the session's and the queue writer's.
            #expect(heldOnDisk >= Int64(chunks * 1000 - 2 * 65536), "only \(heldOnDisk) bytes were on disk")
            let id = try #require(harness.queue.messages(in: .incoming).first)
            let message = try QueueFile(path: harness.queue.path(of: id, in: .incoming)).messageBytes()
            #expect(message.suffix(chunks * 1000) == ArraySlice(Array(String(repeating: line, count: chunks).utf8)))

            // A transaction abandoned with RSET after its chunks reached the disk leaves nothing behind.
            let reset = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                _ = try client.command("MAIL FROM:<s@example.test>")
                _ = try client.command("RCPT TO:<alice@virtual.test>")
                for _ in 0..<200 {
                    try client.send(raw: "BDAT 1000\r\n" + line)
                    _ = try client.reply()
                }
                return try client.command("RSET").code
            }
            #expect(reset == 250)
            #expect(try SafeFile.listDirectory(incoming).filter { $0.hasPrefix(".") }.isEmpty)
            #expect(harness.queue.messages(in: .incoming).count == 1)
        }
    }

    @Test("a message whose Received: fields reach hopcount_limit with ours is refused 554 5.4.6, by DATA and BDAT")
    func hopCount() async throws {
        try await SMTPServerHarness.run(extra: "hopcount_limit = 5") { harness in
            @Sendable func message(hops: Int) -> String {
                String(repeating: "Received: from relay.example by mx.example; Mon, 7 Dec 2026 05:00:00 +0000\r\n", count: hops)
                    + "Subject: loop\r\n\r\n" + String(repeating: "Received: in the body does not count\r\n", count: 10)
            }
            let replies = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                var replies: [ReplySummary] = []
                for (hops, useBDAT) in [(3, false), (4, false), (3, true), (4, true)] {
                    _ = try client.command("MAIL FROM:<s@example.test>")
                    _ = try client.command("RCPT TO:<alice@virtual.test>")
                    let text = message(hops: hops)
                    if useBDAT {
                        let half = text.utf8.count / 2
                        try client.send(raw: "BDAT \(half)\r\n" + String(decoding: Array(text.utf8)[..<half], as: UTF8.self))
                        _ = try client.reply()
                        try client.send(raw: "BDAT \(text.utf8.count - half) LAST\r\n" + String(decoding: Array(text.utf8)[half...], as: UTF8.self))
                    } else {
                        _ = try client.command("DATA")
                        try client.send(raw: text + ".\r\n")
                    }
                    replies.append(ReplySummary(try client.reply()))
                }
                return replies
            }
            #expect(replies.map(\.code) == [250, 554, 250, 554], "\(replies)")
            #expect(replies[1].text == "5.4.6 Error: too many hops")
            #expect(harness.queue.messages(in: .incoming).count == 2)
            #expect(try SafeFile.listDirectory(harness.queue.path(of: .incoming)).filter { $0.hasPrefix(".") }.isEmpty)
        }
    }

    @Test("a bare LF in DATA is refused and nothing is queued")
    func bareLineFeed() async throws {
        try await SMTPServerHarness.run { harness in
            let reply = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                _ = try client.command("MAIL FROM:<s@example.test>")
                _ = try client.command("RCPT TO:<alice@virtual.test>")
                _ = try client.command("DATA")
                try client.send(raw: "Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
                return ReplySummary(try client.reply())
            }
            #expect(reply.code >= 500)
            #expect(harness.queue.messages(in: .incoming).isEmpty)
            #expect(try SafeFile.listDirectory(harness.queue.path(of: .incoming)).isEmpty)
        }
    }
}
