import AviaryIPC
import AviaryQueue
import AviarySMTP
import AviaryTestSupport
import NIOCore
import Testing

@testable import AviarySMTPClient

/// Servers that send too much, too long or the wrong bytes, and queue files that carry what no encoder may send.
@Suite("smtp agent against hostile servers and crafted queue files")
struct HostileServerTests {
    static let ehlo = "250-scripted.test\r\n250-PIPELINING\r\n250 DSN\r\n"

    static func flood(_ count: Int, _ line: String) -> [UInt8] {
        Array(String(repeating: line, count: count).utf8)
    }

    @Test("replies nobody asked for end the connection as a protocol error; none are kept")
    func unsolicitedAtConnection() async throws {
        let server = try await ScriptedServer(
            greeting: Array("220 scripted.test ESMTP\r\n".utf8) + Self.flood(20_000, "250 flood\r\n"),
            closesAfterGreeting: true)
        let instance = try ClientInstance()
        let (buffered, next) = try await instance.pool.runIfActive { () -> (Int, Result<SMTPReply, SMTPClientError>) in
            let connection = try SMTPConnection.connect(
                hostName: "scripted.test", address: "127.0.0.1", port: server.port, group: instance.group,
                timeout: .seconds(5))
            defer { connection.close() }
            _ = try connection.reply(timeout: .seconds(5), stage: "receiving the initial server greeting")
            // The server closes after its flood: once the client's side is closed too, everything has been read.
            try connection.channel.closeFuture.wait()
            let buffered = connection.bufferedReplyCount
            return (buffered, Result { () throws(SMTPClientError) in try connection.reply(timeout: .seconds(5), stage: "next") })
        }
        await server.stop()
        await instance.shutdown()
        #expect(buffered == 0)
        switch next {
        case .success(let reply): Issue.record("an unsolicited reply was kept: \(reply.singleLineText)")
        case .failure(let error):
            #expect(error.code == .protocolError)
            #expect(error.message.contains("unsolicited reply"), "\(error.message)")
        }
    }

    @Test("a flood of replies after EHLO defers the mail and ends the connection, without a hang")
    func unsolicitedFlood() async throws {
        let server = try await ScriptedServer { line in
            line.hasPrefix("EHLO") ? Array(Self.ehlo.utf8) + Self.flood(20_000, "250 flood\r\n") : nil
        }
        let instance = try ClientInstance()
        let outcomes = try await instance.deliver(
            try instance.enqueue(["a@example.test"], nextHop: "[127.0.0.1]:\(server.port)"))
        await server.stop()
        await instance.shutdown()
        #expect(outcomes.first?.status == .deferred, "\(outcomes)")
        // Which flood line is the first unsolicited one depends on how far the client got when it arrived: if
        // MAIL, RCPT and DATA were already sent, three flood lines answer them and DATA's "250" defers the mail.
        // `unsolicitedAtConnection` shows without a race that nothing is kept.
        let text = outcomes.first?.text ?? ""
        #expect(
            text.hasSuffix("sent an unsolicited reply: 250 flood") || text.hasSuffix("(in reply to DATA command)"),
            "\(outcomes)")
    }

    @Test("a multi-line reply of more than 100 lines, or an endless one, defers the mail; one of 100 is read")
    func longReplies() async throws {
        let instance = try ClientInstance()
        for (lines, isAccepted) in [(100, true), (101, false), (300_000, false)] {
            let server = try await ScriptedServer { line in
                line.hasPrefix("EHLO") ? Self.flood(lines - 1, "250-scripted.test hello\r\n") + Array("250 DSN\r\n".utf8) : nil
            }
            let outcomes = try await instance.deliver(
                try instance.enqueue(["a@example.test"], nextHop: "[127.0.0.1]:\(server.port)"))
            await server.stop()
            if isAccepted {
                #expect(outcomes.first?.status == .sent, "\(lines): \(outcomes)")
            } else {
                #expect(outcomes.first?.status == .deferred, "\(lines): \(outcomes)")
                #expect(outcomes.first?.text.contains("more than 100 lines") == true, "\(lines): \(outcomes)")
            }
        }
        await instance.shutdown()
    }

    @Test("a reply line over 2048 bytes defers the mail")
    func longLine() async throws {
        let server = try await ScriptedServer { line in
            line.hasPrefix("EHLO") ? Array(("250 " + String(repeating: "x", count: 2100) + "\r\n").utf8) : nil
        }
        let instance = try ClientInstance()
        let outcomes = try await instance.deliver(
            try instance.enqueue(["a@example.test"], nextHop: "[127.0.0.1]:\(server.port)"))
        await server.stop()
        await instance.shutdown()
        #expect(outcomes.first?.status == .deferred, "\(outcomes)")
        #expect(outcomes.first?.text.contains("reply line too long") == true, "\(outcomes)")
    }

    @Test("bare CR, NUL and other control bytes in a refusal do not reach the result text or the log")
    func controlBytesInReply() async throws {
        let server = try await ScriptedServer { line in
            line.hasPrefix("RCPT") ? Array("550 5.1.1 no\rX-Injected: yes\u{0}\u{1B}[31m red\u{7F}\r\n".utf8) : nil
        }
        let instance = try ClientInstance()
        let outcomes = try await instance.deliver(
            try instance.enqueue(["a@example.test"], nextHop: "[127.0.0.1]:\(server.port)"))
        await server.stop()
        await instance.shutdown()
        let outcome = try #require(outcomes.first)
        #expect(outcome.status == .bounced)
        for text in [outcome.text, outcome.remoteReply ?? "", instance.log.all.joined(separator: "\n")] {
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F }, "\(text.debugDescription)")
        }
        #expect(outcome.text.contains("550 5.1.1 no?X-Injected: yes??[31m red?"), "\(outcome.text.debugDescription)")
    }

    @Test("CR LF in a queue file's RET, ENVID, NOTIFY, ORCPT or addresses never becomes an SMTP command")
    func injectionFromQueueFile() async throws {
        let server = try await ScriptedServer { line in line.hasPrefix("EHLO") ? Array(Self.ehlo.utf8) : nil }
        let instance = try ClientInstance()
        let hop = "[127.0.0.1]:\(server.port)"
        let parameters = try instance.enqueue(
            ["a@example.test"], nextHop: hop,
            attributes: [.init("ret", "FULL\r\nRCPT TO:<x@evil.test>"), .init("envid", "e\r\nRCPT TO:<y@evil.test>")],
            notify: "SUCCESS\r\nRCPT TO:<z@evil.test>", originalRecipient: "rfc822\r\nRCPT TO:<w@evil.test>;a@example.test")
        let sent = try await instance.deliver(parameters)
        #expect(sent.first?.status == .sent, "\(sent)")
        let badSender = try instance.enqueue(
            ["b@example.test"], nextHop: hop, sender: "s@client.example.test\r\nRCPT TO:<v@evil.test>")
        let refused = try await instance.deliver(badSender)
        let badRecipient = try instance.enqueue(["c@example.test\r\nRCPT TO:<u@evil.test>", "d@example.test"], nextHop: hop)
        let partly = try await instance.deliver(badRecipient)
        await server.stop()
        await instance.shutdown()
        let lines = server.lines
        #expect(!lines.contains { $0.contains("evil.test") }, "\(lines)")
        #expect(lines.filter { $0.hasPrefix("MAIL FROM:") } == ["MAIL FROM:<sender@client.example.test>", "MAIL FROM:<sender@client.example.test>"], "\(lines)")
        #expect(lines.filter { $0.hasPrefix("RCPT TO:") } == ["RCPT TO:<a@example.test>", "RCPT TO:<d@example.test>"], "\(lines)")
        #expect(refused.first?.status == .bounced && refused.first?.dsn == "5.1.7", "\(refused)")
        #expect(partly.map(\.status) == [.bounced, .sent], "\(partly)")
        #expect(partly.first?.dsn == "5.1.3", "\(partly)")
    }
}
