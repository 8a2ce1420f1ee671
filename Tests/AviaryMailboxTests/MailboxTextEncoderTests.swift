import Testing

@testable import AviaryMailbox

@Suite("Mailbox text encoding")
struct MailboxTextEncoderTests {
    struct Fixture: CustomTestStringConvertible, Sendable {
        var input: String
        var maildir: String
        var mbox: String
        var testDescription: String { input.debugDescription }
    }

    static let fixtures: [Fixture] = [
        Fixture(input: "", maildir: "", mbox: ""),
        Fixture(input: "a\r\nb\r\n", maildir: "a\nb\n", mbox: "a\nb\n"),
        Fixture(input: "no end\r\nlast", maildir: "no end\nlast", mbox: "no end\nlast"),
        Fixture(input: "bare\rCR\r\n", maildir: "bare\rCR\n", mbox: "bare\rCR\n"),
        Fixture(input: "\r\r\n\r", maildir: "\r\n\r", mbox: "\r\n\r"),
        Fixture(input: "LF only\nstays\n", maildir: "LF only\nstays\n", mbox: "LF only\nstays\n"),
        Fixture(input: "From me\r\n", maildir: "From me\n", mbox: ">From me\n"),
        Fixture(
            input: "x\r\nFrom a\r\n>From b\r\n>>From c\r\n",
            maildir: "x\nFrom a\n>From b\n>>From c\n",
            mbox: "x\n>From a\n>>From b\n>>>From c\n"
        ),
        Fixture(
            input: "From\r\nFrom:\r\nFrom x\r\n",
            maildir: "From\nFrom:\nFrom x\n",
            mbox: "From\nFrom:\n>From x\n"
        ),
        Fixture(
            input: " From x\r\nfrom x\r\n>>\r\n>Fro",
            maildir: " From x\nfrom x\n>>\n>Fro",
            mbox: " From x\nfrom x\n>>\n>Fro"
        ),
        Fixture(input: "a From b\r\n\r\nFrom ", maildir: "a From b\n\nFrom ", mbox: "a From b\n\n>From "),
    ]

    @Test("CRLF becomes LF and mbox quotes From lines", arguments: fixtures)
    func wholeInput(fixture: Fixture) {
        #expect(encode([bytes(fixture.input)], quotesFromLines: false) == fixture.maildir)
        #expect(encode([bytes(fixture.input)], quotesFromLines: true) == fixture.mbox)
    }

    @Test("Every chunk boundary gives the same result, including one inside CRLF", arguments: fixtures)
    func everySplit(fixture: Fixture) {
        let input = bytes(fixture.input)
        for quotes in [false, true] {
            let expected = quotes ? fixture.mbox : fixture.maildir
            for first in 0...input.count {
                for second in first...input.count {
                    let chunks = [Array(input[..<first]), Array(input[first..<second]), Array(input[second...])]
                    #expect(encode(chunks, quotesFromLines: quotes) == expected, "split at \(first), \(second)")
                }
            }
            #expect(encode(input.map { [$0] }, quotesFromLines: quotes) == expected, "one byte at a time")
        }
    }

    @Test("terminateLastLine adds a line end only when one is missing")
    func terminateLastLine() {
        for (input, expected) in [("", ""), ("a\r\n", "a\n"), ("a", "a\n"), ("a\r", "a\r\n"), ("From", "From\n")] {
            var encoder = MailboxTextEncoder(quotesFromLines: true)
            var output: [UInt8] = []
            encoder.encode(bytes(input)[...], into: &output)
            encoder.terminateLastLine(into: &output)
            #expect(String(decoding: output, as: UTF8.self) == expected, "\(input.debugDescription)")
        }
    }

    private func encode(_ chunks: [[UInt8]], quotesFromLines: Bool) -> String {
        var encoder = MailboxTextEncoder(quotesFromLines: quotesFromLines)
        var output: [UInt8] = []
        for chunk in chunks { encoder.encode(chunk[...], into: &output) }
        encoder.finish(into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
