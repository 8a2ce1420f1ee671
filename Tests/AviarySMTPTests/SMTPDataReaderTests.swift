import AviarySMTP
import NIOCore
import Testing

@Suite("SMTPDataReader")
struct SMTPDataReaderTests {
    /// Line-ending tricks around a "." that other servers have taken for the end of DATA (CVE-2023-51764 and
    /// relatives); placed after a line of body text.
    static let smugglingSequences: [String] = [
        "\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\r\n.\r", "\n.\r\r\n", "\r\n.\r\r\n", "\r\n.\r\r",
        "\n\r\n.\n",
    ]

    /// Runs lines through a reader; returns what it stored, whether it ended, and the reader.
    private func read(_ lines: [SMTPLine], sizeLimit: Int? = nil) -> (stored: String, ended: Bool, SMTPDataReader) {
        var reader = SMTPDataReader(sizeLimit: sizeLimit)
        var message = ByteBuffer()
        var ended = false
        for line in lines where reader.consume(line, into: &message) == .endOfMessage {
            ended = true
        }
        return (String(buffer: message), ended, reader)
    }

    /// Runs raw bytes, as they follow the DATA command's CR LF, through the decoder and a reader.
    private func readWire(_ wire: String, sizeLimit: Int? = nil) throws -> (stored: String, ended: Bool, SMTPDataReader)
    {
        let transcript = try runDecoder([ByteBuffer(string: "DATA\r\n" + wire)], maximumLineLength: 64, dataReply: nil)
        let lines = transcript.frames.dropFirst().compactMap { frame -> SMTPLine? in
            if case .line(let line) = frame { return line }
            return nil
        }
        return read(Array(lines), sizeLimit: sizeLimit)
    }

    @Test("a message ends at CR LF . CR LF and keeps every line with CR LF")
    func simpleMessage() {
        let (stored, ended, reader) = read([SMTPLine("Subject: x"), SMTPLine(""), SMTPLine("body"), SMTPLine(".")])
        #expect(ended)
        #expect(stored == "Subject: x\r\n\r\nbody\r\n")
        #expect(reader.isComplete && !reader.sawBareLineEnding && !reader.exceededSizeLimit)
        #expect(reader.storedOctets == stored.utf8.count && reader.messageOctets == stored.utf8.count)
    }

    @Test("the DATA command's CR LF counts, so a first line of \".\" is an empty message")
    func emptyMessage() {
        let (stored, ended, _) = read([SMTPLine(".")])
        #expect(ended && stored.isEmpty)
    }

    @Test("one leading dot is removed")
    func dotUnstuffing() {
        let (stored, ended, _) = read([
            SMTPLine("..leading"), SMTPLine(".x"), SMTPLine(".."), SMTPLine("a.b"), SMTPLine("..."), SMTPLine("."),
        ])
        #expect(ended)
        #expect(stored == ".leading\r\nx\r\n.\r\na.b\r\n..\r\n")
    }

    @Test("only the first piece of a long line is unstuffed, and a \".\" piece is not the end")
    func longLines() {
        let (stored, ended, _) = read([
            SMTPLine("..abc", ending: .unfinished), SMTPLine(".def"), SMTPLine("ghi", ending: .unfinished),
            SMTPLine("."), SMTPLine("."),
        ])
        #expect(ended)
        #expect(stored == ".abc.def\r\nghi.\r\n")
    }

    @Test("\".\" ending in a bare LF, or after one, is not the end")
    func bareLineFeedDotIsNotTheEnd() {
        let (stored, ended, reader) = read([
            SMTPLine("a"), SMTPLine(".", ending: .bareLF), SMTPLine("b", ending: .bareLF), SMTPLine("."),
            SMTPLine("c"), SMTPLine("."),
        ])
        #expect(ended)
        #expect(stored == "a\r\n\r\nb\r\n\r\nc\r\n")
        #expect(reader.sawBareLineEnding)
    }

    @Test("smuggled end-of-data sequences do not end the message", arguments: smugglingSequences)
    func smuggling(sequence: String) throws {
        let wire = "body" + sequence + "MAIL FROM:<evil@example.com>\r\n\r\n.\r\n"
        let (stored, ended, reader) = try readWire(wire)
        #expect(ended)
        #expect(reader.sawBareLineEnding)
        #expect(stored.contains("MAIL FROM:<evil@example.com>"))
        #expect(stored.hasSuffix("\r\n"))
    }

    @Test("a bare CR before a real CR LF . CR LF is recorded, and the message ends there")
    func bareCarriageReturnBeforeTheEnd() throws {
        let (stored, ended, reader) = try readWire("body\r\r\n.\r\nMAIL FROM:<x@y>\r\n")
        #expect(ended && reader.sawBareLineEnding)
        #expect(stored == "body\r\r\n")
    }

    @Test("a bare CR inside a line is recorded")
    func bareCarriageReturn() throws {
        let (stored, ended, reader) = try readWire("a\rb\r\n.\r\n")
        #expect(ended && reader.sawBareLineEnding)
        #expect(stored == "a\rb\r\n")
    }

    @Test("clean CR LF text leaves sawBareLineEnding false")
    func cleanMessage() throws {
        let (_, ended, reader) = try readWire("From: a@b\r\n\r\nHello\r\n.\r\n")
        #expect(ended && !reader.sawBareLineEnding)
    }

    @Test("past the size limit nothing is stored, but the message is read to its end")
    func sizeLimit() {
        let (stored, ended, reader) = read(
            [SMTPLine("12345678"), SMTPLine("x"), SMTPLine("y"), SMTPLine(".")],
            sizeLimit: 10
        )
        #expect(ended)
        #expect(stored == "12345678\r\n")
        #expect(reader.exceededSizeLimit)
        #expect(reader.storedOctets == 10)
        #expect(reader.messageOctets == 16)
    }

    @Test("a message of exactly the limit is within it")
    func exactlyTheLimit() {
        let (stored, _, reader) = read([SMTPLine("12345678"), SMTPLine(".")], sizeLimit: 10)
        #expect(stored == "12345678\r\n" && !reader.exceededSizeLimit)
    }

    @Test("the size limit counts octets after unstuffing")
    func sizeAfterUnstuffing() {
        let (_, _, reader) = read([SMTPLine("..ab"), SMTPLine(".")], sizeLimit: 5)
        #expect(!reader.exceededSizeLimit && reader.storedOctets == 5)
    }

    @Test("once exceeded, the limit stays exceeded even for short lines")
    func limitStaysExceeded() {
        let (stored, _, reader) = read(
            [SMTPLine("1234567890"), SMTPLine(""), SMTPLine(".")],
            sizeLimit: 11
        )
        #expect(stored.isEmpty && reader.exceededSizeLimit && reader.storedOctets == 0)
    }

    @Test("lines after the end are ignored")
    func afterTheEnd() {
        var reader = SMTPDataReader(sizeLimit: nil)
        var message = ByteBuffer()
        #expect(reader.consume(SMTPLine("."), into: &message) == .endOfMessage)
        #expect(reader.consume(SMTPLine("more"), into: &message) == .endOfMessage)
        #expect(message.readableBytes == 0)
    }

    @Test("a long message line read by the decoder is stored whole")
    func longLineThroughDecoder() throws {
        let long = String(repeating: "x", count: 200)
        let (stored, ended, reader) = try readWire("." + long + "\r\n.\r\n")
        #expect(ended && !reader.sawBareLineEnding)
        #expect(stored == long + "\r\n")
    }
}
