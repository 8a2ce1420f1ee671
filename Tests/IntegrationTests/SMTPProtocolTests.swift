import AviaryTestSupport
import Foundation
import Testing

/// The protocol instance: the contract service on 127.0.0.1, a strict one on 127.0.0.3 whose limits are set
/// with master.cf `-o` overrides (which this also tests), and one on 127.0.0.4 with a 2 s smtpd_timeout for
/// the idle test alone (on a busy machine a 2 s pause can come in the middle of any transcript).
let strictService = "127.0.0.3:0"
let impatientService = "127.0.0.4:0"

func makeProtocolInstance() throws -> TestInstance {
    // Most transcripts here are scripts that send many commands at once (printf ... | nc), which
    // smtpd_forbid_unauth_pipelining = yes (the default) answers with a disconnect; PolicyTests cover that.
    // They compare delivered bytes with what was sent, so no Message-ID: or Date: is added to the messages of
    // these local clients (smtpd's own tests cover local_header_rewrite_clients).
    try TestInstance(mainCf: [("local_header_rewrite_clients", "")], masterCf: [
        "127.0.0.1:0 inet n - n - - smtpd -o smtpd_forbid_unauth_pipelining=no",
        "\(strictService) inet n - n - - smtpd -o smtpd_recipient_limit=3 -o smtpd_hard_error_limit=3"
            + " -o message_size_limit=10000 -o disable_vrfy_command=yes",
        "\(impatientService) inet n - n - - smtpd -o smtpd_timeout=2s",
        "qmgr unix n - n 300 1 qmgr",
        "local unix - n n - - local",
    ])
}

/// EHLO, MAIL FROM, RCPT TO alice: the start of most transcripts (four replies with the greeting).
func openTransaction(
    ehlo: Bool = true,
    sender: String = "sender@example.test",
    recipient: String = "alice@example.test"
) -> [TranscriptStep] {
    (ehlo ? say("EHLO client.example.test") : []) + say("MAIL FROM:<\(sender)>") + say("RCPT TO:<\(recipient)>")
}

extension Integration {
    @Suite("SMTP protocol, raw sockets", .sharedInstance(makeProtocolInstance))
    struct SMTPProtocol {
        @Test("a client that sends everything and half-closes (printf ... | nc) still gets every reply")
        func halfClose() async throws {
            let instance = try Current.required()
            let token = uniqueToken("halfclose")
            let transcript = try await instance.transcript([
                .send(
                    "EHLO client.example.test\r\nMAIL FROM:<sender@example.test>\r\nRCPT TO:<alice@example.test>\r\n"
                        + "DATA\r\nSubject: \(token)\r\n\r\nbody\r\n.\r\nQUIT\r\n"
                ),
                .shutdown,
                .readUntilClose,
            ])
            check(transcript.codes == [220, 250, 250, 250, 354, 250, 221], "\(transcript)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: token)
        }

        @Test("PIPELINING: MAIL, RCPT, RCPT and DATA in one write get their replies in order")
        func pipelining() async throws {
            let instance = try Current.required()
            let token = uniqueToken("pipelined")
            let transcript = try await instance.transcript(
                say("EHLO client.example.test") + [
                    .send(
                        "MAIL FROM:<sender@example.test>\r\nRCPT TO:<alice@example.test>\r\n"
                            + "RCPT TO:<nobody@example.test>\r\nDATA\r\n"
                    ),
                    .read(4),
                    .send("Subject: \(token)\r\n\r\npipelined body\r\n.\r\nQUIT\r\n"),
                    .read(2),
                ]
            )
            let replies = transcript.replies
            check(replies.count == 8, "\(transcript)", instance)
            check(replies.count > 1 && replies[1].contains("PIPELINING"), "EHLO: \(transcript)", instance)
            check(transcript.codes == [220, 250, 250, 250, 550, 354, 250, 221], "\(transcript)", instance)
            check(
                replies.count > 4 && replies[4].hasPrefix("550 5.1.1 <nobody@example.test>"),
                "\(transcript)",
                instance
            )
            check(replies.count > 6 && replies[6].hasPrefix("250 2.0.0 Ok: queued as"), "\(transcript)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: token)
        }

        @Test("SMTP smuggling: \\n.\\n, \\r\\n.\\n and \\n.\\r\\n do not end DATA; one 550 5.5.2 for the whole message")
        func smuggling() async throws {
            let instance = try Current.required()
            let outer = uniqueToken("outer")
            let smuggled = [uniqueToken("smuggled1"), uniqueToken("smuggled2"), uniqueToken("smuggled3")]
            let after = uniqueToken("after-smuggling")
            func hidden(_ token: String, _ end: String) -> String {
                "MAIL FROM:<evil@example.test>\(end)RCPT TO:<alice@example.test>\(end)DATA\(end)Subject: \(token)\(end)\(end)x\(end)"
            }
            let message =
                "Subject: \(outer)\r\n\r\nfirst line\n.\n" + hidden(smuggled[0], "\n")
                + ".\r\n" + "\r\n.\n" + hidden(smuggled[1], "\r\n")
                + "\n.\r\n" + hidden(smuggled[2], "\r\n") + "\r\n.\r\n"
            let transcript = try await instance.transcript(
                openTransaction() + say("DATA") + [.send(message), .read(1)]
                    + say("RSET") + say("NOOP")
                    + openTransaction(ehlo: false) + say("DATA")
                    + say("Subject: \(after)\r\n\r\nclean\r\n.") + say("QUIT")
            )
            check(
                transcript.codes == [220, 250, 250, 250, 354, 550, 250, 250, 250, 250, 354, 250, 221],
                "\(transcript)",
                instance
            )
            check(
                transcript.replies.count > 5 && transcript.replies[5].hasPrefix("550 5.5.2"),
                "\(transcript)",
                instance
            )
            check(transcript.replies.filter { $0.contains("queued as") }.count == 1, "\(transcript)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: after)
            for token in [outer] + smuggled {
                check(instance.messages(of: "alice", containing: token).isEmpty, "\(token) was delivered", instance)
            }
        }

        /// A transcript whose replies are checked by their codes and the beginning (or the whole) of some of them.
        struct TranscriptCase: Sendable, CustomTestStringConvertible {
            var testDescription: String
            var steps: [TranscriptStep]
            var service = "127.0.0.1:0"
            /// Every reply's code, the greeting first (nil: not checked).
            var codes: [Int]?
            /// Replies, by index, that begin with this text.
            var prefixes: [Int: String] = [:]
            /// Replies, by index, that are exactly this text.
            var replies: [Int: String] = [:]
        }

        static let transcriptCases = [
            TranscriptCase(
                testDescription: "a bare CR in a DATA message gets 550 5.5.2 and the session goes on",
                steps: openTransaction() + say("DATA")
                    + say("Subject: \(uniqueToken("bare-cr"))\r\n\r\nbare\rcarriage return\r\n.") + say("NOOP"),
                codes: [220, 250, 250, 250, 354, 550, 250],
                prefixes: [5: "550 5.5.2 "]
            ),
            TranscriptCase(
                testDescription: "the bare-CR refusal says <CR>, not <LF> (SMTPReply.bareCarriageReturn)",
                steps: openTransaction() + say("DATA") + say("Subject: cr\r\n\r\nbare\rCR\r\n."),
                replies: [5: "550 5.5.2 Error: bare <CR> received"]
            ),
            TranscriptCase(
                testDescription: "a bare LF in a DATA message gets 550 5.5.2",
                steps: openTransaction() + say("DATA")
                    + say("Subject: \(uniqueToken("bare-lf"))\r\n\r\nbare\nline feed\r\n."),
                replies: [5: "550 5.5.2 Error: bare <LF> received"]
            ),
            TranscriptCase(
                testDescription: "a command line longer than 2048 bytes gets 500 5.5.2 and the session goes on",
                steps: say("EHLO client.example.test") + say("NOOP " + String(repeating: "x", count: 3000))
                    + say("MAIL FROM:<" + String(repeating: "a", count: 2100) + "@example.test>")
                    + say("NOOP") + say("QUIT"),
                codes: [220, 250, 500, 500, 250, 221],
                prefixes: [2: "500 5.5.2", 3: "500 5.5.2"]
            ),
            TranscriptCase(
                testDescription: "RCPT beyond smtpd_recipient_limit (3 via -o) gets 452 4.5.3",
                steps: openTransaction() + say("RCPT TO:<alice@example.test>") + say("RCPT TO:<alice@example.test>")
                    + say("RCPT TO:<alice@example.test>") + say("QUIT"),
                service: strictService,
                codes: [220, 250, 250, 250, 250, 250, 452, 221],
                prefixes: [6: "452 4.5.3"]
            ),
            TranscriptCase(
                testDescription: "an unknown command gets 502 5.5.2",
                steps: say("EHLO client.example.test") + say("FROBNICATE now") + say("NOOP"),
                codes: [220, 250, 502, 250],
                prefixes: [2: "502 5.5.2"]
            ),
        ]

        @Test("a transcript gets its reply codes and texts", arguments: transcriptCases)
        func transcriptReplies(_ fixture: TranscriptCase) async throws {
            let instance = try Current.required()
            let transcript = try await instance.transcript(fixture.steps, service: fixture.service)
            if let codes = fixture.codes {
                check(transcript.codes == codes, "\(transcript)", instance)
            }
            for (index, prefix) in fixture.prefixes.sorted(by: { $0.key < $1.key }) {
                check(
                    transcript.replies.count > index && transcript.replies[index].hasPrefix(prefix),
                    "\(transcript)",
                    instance
                )
            }
            for (index, reply) in fixture.replies.sorted(by: { $0.key < $1.key }) {
                check(
                    transcript.replies.count > index && transcript.replies[index] == reply,
                    "\(transcript)",
                    instance
                )
            }
        }

        @Test("a message over message_size_limit (10000 via -o) gets 552 5.3.4 and is not delivered")
        func messageTooBig() async throws {
            let instance = try Current.required()
            let token = uniqueToken("too-big")
            let body = (0..<300).map { "line \($0) " + String(repeating: "y", count: 60) }.joined(separator: "\r\n")
            let transcript = try await instance.transcript(
                openTransaction() + say("DATA") + say("Subject: \(token)\r\n\r\n\(body)\r\n.")
                    + say("QUIT"),
                service: strictService
            )
            check(transcript.codes == [220, 250, 250, 250, 354, 552, 221], "\(transcript)", instance)
            check(
                transcript.replies.count > 5 && transcript.replies[5].hasPrefix("552 5.3.4"),
                "\(transcript)",
                instance
            )
            check(instance.messages(of: "alice", containing: token).isEmpty, "delivered anyway", instance)
        }

        @Test("EHLO announces SIZE; MAIL FROM with SIZE over the limit gets 552 5.3.4")
        func declaredSizeTooBig() async throws {
            let instance = try Current.required()
            let transcript = try await instance.transcript(
                say("EHLO client.example.test") + say("MAIL FROM:<a@b> SIZE=999999999")
                    + say("MAIL FROM:<a@b> SIZE=1000") + say("QUIT")
            )
            check(transcript.codes == [220, 250, 552, 250, 221], "\(transcript)", instance)
            check(
                transcript.replies.count > 2 && transcript.replies[1].contains("SIZE 10240000"),
                "\(transcript)",
                instance
            )
            check(
                transcript.replies.count > 2 && transcript.replies[2].hasPrefix("552 5.3.4"),
                "\(transcript)",
                instance
            )
        }

        @Test("BDAT chunks, split inside a CR LF, are delivered intact")
        func chunking() async throws {
            let instance = try Current.required()
            let token = uniqueToken("bdat")
            let message =
                "Subject: \(token)\r\nX-Test: chunked\r\n\r\nfirst chunk ends in a CR\r\nsecond\r\n.leading dot kept\r\nend\r\n"
            let cut = message.range(of: "CR\r")!.upperBound
            let first = String(message[..<cut])
            let second = String(message[cut...])
            let transcript = try await instance.transcript(
                openTransaction() + [
                    .send("BDAT \(first.utf8.count)\r\n" + first), .read(1),
                    .send("BDAT \(second.utf8.count) LAST\r\n" + second), .read(1),
                ] + say("QUIT")
            )
            check(transcript.codes == [220, 250, 250, 250, 250, 250, 221], "\(transcript)", instance)
            check(
                transcript.replies.count > 5 && transcript.replies[5].contains("queued as"),
                "\(transcript)",
                instance
            )
            let delivered = try await instance.awaitMessage(for: "alice", containing: token)
            let expected = message.replacingOccurrences(of: "\r\n", with: "\n")
            check(delivered.hasSuffix(expected), "expected to end with:\n\(expected)\ngot:\n\(delivered)", instance)
        }

        @Test("BDAT chunks pipelined in one write, and BDAT 0 LAST, are delivered")
        func pipelinedChunks() async throws {
            let instance = try Current.required()
            let token = uniqueToken("bdat-pipelined")
            let parts = ["Subject: \(token)\r\n", "\r\nbody one\r\n", "body two\r\n"]
            let wire = parts.map { "BDAT \($0.utf8.count)\r\n" + $0 }.joined() + "BDAT 0 LAST\r\n"
            let transcript = try await instance.transcript(openTransaction() + [.send(wire), .read(4)] + say("QUIT"))
            check(transcript.codes == [220, 250, 250, 250, 250, 250, 250, 250, 221], "\(transcript)", instance)
            let delivered = try await instance.awaitMessage(for: "alice", containing: token)
            check(delivered.hasSuffix("Subject: \(token)\n\nbody one\nbody two\n"), delivered, instance)
        }

        @Test("a BDAT message with a bare LF is refused with 550 5.5.2")
        func chunkWithBareLineFeed() async throws {
            let instance = try Current.required()
            let token = uniqueToken("bdat-bare-lf")
            let message = "Subject: \(token)\r\n\r\nbare\nline feed\r\n"
            let transcript = try await instance.transcript(
                openTransaction() + [.send("BDAT \(message.utf8.count) LAST\r\n" + message), .read(1)]
                    + say("NOOP")
            )
            check(transcript.codes == [220, 250, 250, 250, 550, 250], "\(transcript)", instance)
            check(
                transcript.replies.count > 4 && transcript.replies[4].hasPrefix("550 5.5.2"),
                "\(transcript)",
                instance
            )
            check(instance.messages(of: "alice", containing: token).isEmpty, "delivered anyway", instance)
        }

        @Test("VRFY gets 252; with disable_vrfy_command = yes (via -o) 502 5.5.1")
        func vrfy() async throws {
            let instance = try Current.required()
            let open = try await instance.transcript(
                say("EHLO client.example.test") + say("VRFY alice@example.test") + say("VRFY nobody@example.test")
            )
            check(open.codes == [220, 250, 252, 550], "\(open)", instance)
            check(open.replies.count > 3 && open.replies[3].hasPrefix("550 5.1.1"), "\(open)", instance)
            let strict = try await instance.transcript(
                say("EHLO client.example.test") + say("VRFY alice@example.test"),
                service: strictService
            )
            check(strict.codes == [220, 250, 502], "\(strict)", instance)
            check(strict.replies.count > 2 && strict.replies[2].hasPrefix("502 5.5.1"), "\(strict)", instance)
            check(
                strict.replies.count > 1 && !strict.replies[1].contains("VRFY"),
                "EHLO must not offer VRFY: \(strict)",
                instance
            )
        }

        @Test("at smtpd_hard_error_limit (3 via -o) smtpd says 421 and hangs up")
        func hardErrorLimit() async throws {
            let instance = try Current.required()
            let transcript = try await instance.transcript(
                say("EHLO client.example.test") + say("FOO") + say("BAR")
                    + [.send("BAZ\r\n"), .readUntilClose],
                service: strictService
            )
            check(transcript.codes == [220, 250, 502, 502, 421], "\(transcript)", instance)
            check(transcript.replies.last?.hasPrefix("421 4.7.0") == true, "\(transcript)", instance)
            check(transcript.closed, "the connection should be closed: \(transcript)", instance)
        }

        @Test("an idle client is dropped after smtpd_timeout (2s via -o) with 421 4.4.2")
        func idleTimeout() async throws {
            let instance = try Current.required()
            let transcript = try await instance.transcript(
                say("EHLO client.example.test") + [.readUntilClose],
                service: impatientService
            )
            check(transcript.codes == [220, 250, 421], "\(transcript)", instance)
            check(transcript.replies.last?.hasPrefix("421 4.4.2") == true, "\(transcript)", instance)
            check(transcript.closed && transcript.error == nil, "\(transcript)", instance)
        }
    }
}

extension Integration.SMTPProtocol {
    /// A body of `count` lines of varied lengths around the 2048-byte line limit and the 64 KiB flush size.
    static func largeBody(lines count: Int, token: String) -> String {
        let lengths = [0, 1, 77, 998, 2046, 2047, 2048, 2049, 2050, 4095, 4096, 4097, 6000]
        return (0..<count).map { index in
            let length = lengths[index % lengths.count]
            let filler = String(repeating: String(UnicodeScalar(UInt8(65 + index % 26))), count: length)
            // Every seventh line starts with a dot, which must survive dot-stuffing.
            return (index % 7 == 3 ? "." : "") + filler + (index % 13 == 5 ? " \(token)" : "")
        }.joined(separator: "\r\n") + "\r\n"
    }

    @Test("a 250 KB DATA message with lines around the 2048-byte limit is delivered byte for byte")
    func largeDataMessage() async throws {
        let instance = try Current.required()
        let token = uniqueToken("large-data")
        let body = Self.largeBody(lines: 150, token: token)
        let message = "Subject: \(token)\r\n\r\n" + body
        let stuffed = message.split(separator: "\r\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n")
        let transcript = try await instance.transcript(
            openTransaction() + say("DATA") + [.send(stuffed + ".\r\n"), .read(1)] + say("QUIT")
        )
        check(transcript.codes == [220, 250, 250, 250, 354, 250, 221], "\(transcript)", instance)
        let delivered = try await instance.awaitMessage(for: "alice", containing: "Subject: \(token)")
        let expected = message.replacingOccurrences(of: "\r\n", with: "\n")
        check(
            delivered.hasSuffix(expected),
            "delivered \(delivered.utf8.count) bytes, expected to end with \(expected.utf8.count)",
            instance
        )
    }

    @Test("a 250 KB message in three BDAT chunks is delivered byte for byte")
    func largeChunkedMessage() async throws {
        let instance = try Current.required()
        let token = uniqueToken("large-bdat")
        let message = Array(("Subject: \(token)\r\n\r\n" + Self.largeBody(lines: 150, token: token)).utf8)
        let third = message.count / 3
        let pieces = [message[..<third], message[third..<(2 * third)], message[(2 * third)...]]
        var steps: [TranscriptStep] = openTransaction()
        for (index, piece) in pieces.enumerated() {
            let last = index == pieces.count - 1 ? " LAST" : ""
            steps += [.send("BDAT \(piece.count)\(last)\r\n" + String(decoding: piece, as: UTF8.self)), .read(1)]
        }
        let transcript = try await instance.transcript(steps + say("QUIT"))
        check(transcript.codes == [220, 250, 250, 250, 250, 250, 250, 221], "\(transcript)", instance)
        let delivered = try await instance.awaitMessage(for: "alice", containing: "Subject: \(token)")
        let expected = String(decoding: message, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        check(
            delivered.hasSuffix(expected),
            "delivered \(delivered.utf8.count) bytes, expected to end with \(expected.utf8.count)",
            instance
        )
    }

    @Test("recipient addresses are case-insensitive: ALICE@EXAMPLE.TEST reaches alice")
    func recipientCase() async throws {
        let instance = try Current.required()
        let token = uniqueToken("case")
        let sent = try await instance.swaks(to: "ALICE@Example.Test", ["--header", "Subject: \(token)"])
        try #require(sent.isSuccess, Comment(rawValue: "\(sent)\n\(instance.report())"))
        _ = try await instance.awaitMessage(for: "alice", containing: token)
    }

    @Test("the null sender <> is accepted and shown as Return-Path: <>")
    func nullSender() async throws {
        let instance = try Current.required()
        let token = uniqueToken("null-sender")
        let transcript = try await instance.transcript(
            say("EHLO client.example.test") + say("MAIL FROM:<>") + say("RCPT TO:<alice@example.test>") + say("DATA")
                + say("Subject: \(token)\r\n\r\nfrom nobody\r\n.") + say("QUIT")
        )
        check(transcript.codes == [220, 250, 250, 250, 354, 250, 221], "\(transcript)", instance)
        let delivered = try await instance.awaitMessage(for: "alice", containing: token)
        check(delivered.hasPrefix("Return-Path: <>\n"), delivered, instance)
    }
}
