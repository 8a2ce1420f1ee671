import Testing

@testable import AviarySubmission

@Suite("the message sendmail writes")
struct MessageComposerTests {
    final class Output {
        var header: [UInt8] = []
        var bytes: [UInt8] = []
        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    func compose(
        _ input: String,
        dotEnds: Bool = true,
        sizeLimit: Int = 0,
        pieces: Int = 1,
        editor: HeaderEditor = MessageComposerTests.editor
    ) throws -> Output {
        let output = Output()
        var options = MessageComposer.Options()
        options.dotEndsMessage = dotEnds
        options.skipsFromLine = true
        options.sizeLimit = sizeLimit
        let composer = MessageComposer(
            options: options,
            completeHeaders: { header in
                output.header = header
                return editor.headerSection(header)
            },
            write: { output.bytes += $0 }
        )
        let bytes = Array(input.utf8)
        let size = max(1, bytes.count / pieces + 1)
        var index = 0
        while index < bytes.count {
            if try composer.consume(bytes[index..<min(index + size, bytes.count)]) { break }
            index += size
        }
        try composer.finish()
        return output
    }

    static let editor = HeaderEditor(
        fromAddress: "alice@example.org",
        fullName: "Alice Example",
        hostname: "mail.example.test",
        queueID: "0TOVPDA47QCBBC9",
        date: "Sun, 22 Nov 2026 00:58:22 +0000"
    )

    @Test("LF lines become CR LF; missing From, Date, Message-ID and To are added after the fields")
    func addsHeaders() throws {
        for pieces in [1, 3, 50] {
            let output = try compose("Subject: hi\nX-Other: y\n\nbody\r\nline 2\n", pieces: pieces)
            let text = output.text
            #expect(text.hasPrefix("Subject: hi\r\nX-Other: y\r\nFrom: Alice Example <alice@example.org>\r\n"))
            #expect(text.contains("Date: Sun, 22 Nov 2026 00:58:22 +0000\r\n"))
            #expect(text.contains("Message-ID: <0TOVPDA47QCBBC9."))
            #expect(text.contains("@mail.example.test>\r\nTo: undisclosed-recipients:;\r\n\r\nbody\r\nline 2\r\n"))
        }
    }

    @Test("Bcc and Resent-Bcc are removed, with their continuation lines; -t finds To, Cc and Bcc")
    func removesBcc() throws {
        let output = try compose(
            "From: me@example.org\nTo: a@example.org\nCc: B <b@example.org>\nBcc: c@example.org,\n d@example.org\n"
                + "Resent-Bcc: e@example.org\nSubject: s\n\nbody\n"
        )
        #expect(!output.text.contains("Bcc"))
        #expect(!output.text.contains("d@example.org"))
        #expect(
            output.text.hasPrefix(
                "From: me@example.org\r\nTo: a@example.org\r\nCc: B <b@example.org>\r\nSubject: s\r\n"
            )
        )
        #expect(HeaderEditor.recipients(in: output.header) == ["e@example.org"])  // Resent- fields win
        let plain = try compose("To: a@example.org\nCc: b@example.org\nBcc: c@example.org, d@example.org\n\nx\n")
        #expect(
            HeaderEditor.recipients(in: plain.header) == [
                "a@example.org", "b@example.org", "c@example.org", "d@example.org",
            ]
        )
    }

    @Test("a line with a single dot ends the message unless -i; an mbox From_ line is skipped")
    func dots() throws {
        let ended = try compose("From alice Sat Nov 21 00:00:00 2026\nSubject: d\n\nbefore\n.\nafter\n")
        #expect(ended.text.hasSuffix("\r\nbefore\r\n"))
        #expect(!ended.text.contains("From alice"))
        let kept = try compose("Subject: d\n\nbefore\n.\nafter\n", dotEnds: false)
        #expect(kept.text.hasSuffix("\r\nbefore\r\n.\r\nafter\r\n"))
    }

    @Test("a line that is not a header ends the header section, with an empty line put before it")
    func bodyWithoutBlankLine() throws {
        let output = try compose("Subject: s\nthis is body text\n")
        #expect(output.text.contains("To: undisclosed-recipients:;\r\n\r\nthis is body text\r\n"))
        let empty = try compose("")
        #expect(empty.text.hasPrefix("From: Alice Example <alice@example.org>\r\n"))
        #expect(empty.text.hasSuffix("\r\n\r\n"))
    }

    @Test("a last line without LF gets CR LF; bare CRs inside lines are kept")
    func lastLine() throws {
        let output = try compose("Subject: s\n\na\rb\nlast")
        #expect(output.text.hasSuffix("\r\n\r\na\rb\r\nlast\r\n"))
    }

    @Test("more than message_size_limit bytes is a data error (EX_DATAERR)")
    func sizeLimit() throws {
        #expect(throws: SubmissionError.self) {
            _ = try compose("Subject: s\n\n" + String(repeating: "x", count: 2000) + "\n", sizeLimit: 1000)
        }
        do {
            _ = try compose("Subject: s\n\n" + String(repeating: "y\n", count: 2000), sizeLimit: 1000)
        } catch let error as SubmissionError {
            #expect(error.status == .dataError)
        }
    }

    @Test("a display name with specials is quoted in the added From:")
    func quotedName() {
        #expect(HeaderEditor.mailbox("a@b", displayName: "Doe, John") == "\"Doe, John\" <a@b>")
        #expect(HeaderEditor.mailbox("a@b", displayName: "Jöhn Doe") == "Jöhn Doe <a@b>")
        #expect(HeaderEditor.mailbox("a@b", displayName: "") == "a@b")
    }

    @Test("a very long body line is written in pieces without being split")
    func longLine() throws {
        let long = String(repeating: "z", count: 200_000)
        let output = try compose("Subject: s\n\n" + long + "\n.\n", pieces: 7)
        #expect(output.text.hasSuffix("\r\n\r\n" + long + "\r\n"))
    }
}
