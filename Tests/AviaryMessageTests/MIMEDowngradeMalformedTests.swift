import Testing

@testable import AviaryMessage

@Suite("MIME downgrade of malformed MIME, and the pieces it is built from")
struct MIMEDowngradeMalformedTests {
    typealias F = MIMEFixtures

    @Test("a multipart without boundary parameter is one body: encoded whole, reported")
    func missingBoundary() {
        let message = "Content-Type: multipart/mixed\n\n--x\n\nbody é\n--x--\n"
        let result = F.convert(message)
        #expect(
            String(decoding: result.message, as: UTF8.self) == """
                Content-Type: multipart/mixed
                MIME-Version: 1.0
                Content-Transfer-Encoding: quoted-printable

                --x

                body =C3=A9
                --x--

                """
        )
        #expect(result.problems == [.multipartWithoutBoundary])
    }

    @Test("a boundary that never appears in the body: one body")
    func boundaryNeverUsed() {
        let result = F.convert("Content-Type: multipart/mixed; boundary=zz\n\n--x\nbody é\n")
        #expect(result.isSevenBit)
        #expect(result.problems == [.multipartWithoutBoundary])
    }

    @Test("a multipart without close delimiter: its last part runs to the end and is converted")
    func unterminated() {
        let message = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst é\n--b\n\nlast é\n"
        let result = F.convert(message)
        #expect(
            String(decoding: result.message, as: UTF8.self).hasSuffix(
                "--b\nContent-Transfer-Encoding: quoted-printable\n\nfirst =C3=A9\n--b\nContent-Transfer-Encoding: quoted-printable\n\nlast =C3=A9\n"
            )
        )
        #expect(result.problems == [.unterminatedMultipart])
    }

    @Test("a header line without colon ends the header section; the new field gets an empty line after it")
    func badHeaderLine() {
        let result = F.convert("Subject: x\nthis is no header é\nmore\n")
        #expect(
            String(decoding: result.message, as: UTF8.self) == """
                Subject: x
                MIME-Version: 1.0
                Content-Transfer-Encoding: quoted-printable

                this is no header =C3=A9
                more

                """
        )
    }

    @Test("nesting deeper than the limit is copied as it is and reported")
    func tooDeep() {
        func nest(_ level: Int) -> String {
            level == 0
                ? "Content-Type: text/plain\n\ndeep é\n"
                : "Content-Type: multipart/mixed; boundary=b\(level)\n\n--b\(level)\n\(nest(level - 1))--b\(level)--\n"
        }
        let message = nest(5)
        let shallow = F.convert(message, depthLimit: 5)
        #expect(shallow.isSevenBit && shallow.problems.isEmpty)
        let deep = F.convert(message, depthLimit: 4)
        #expect(deep.message == Array(message.utf8))
        #expect(deep.problems == [.nestingTooDeep])
    }

    @Test("an 8bit label on 7-bit text is still relabelled quoted-printable (its line structure unchanged)")
    func labelledEightBit() {
        let result = F.convert("Content-Transfer-Encoding: 8BIT\n\nplain\n")
        #expect(
            String(decoding: result.message, as: UTF8.self)
                == "Content-Transfer-Encoding: quoted-printable\nMIME-Version: 1.0\n\nplain\n"
        )
    }

    @Test("every prefix of every fixture converts without a crash; what stays 8-bit is always reported")
    func prefixes() {
        for fixture in F.all {
            let bytes = Array(fixture.utf8)
            for length in 0...bytes.count {
                let result = MIMEDowngrade.sevenBit(Array(bytes[..<length]))
                #expect(result.isSevenBit || !result.problems.isEmpty, "\(fixture.prefix(length))")
            }
        }
    }

    @Test("quoted-printable lines: 76 characters at most, a last character may use the 76th column")
    func lineLimit() {
        let exact = [UInt8](repeating: UInt8(ascii: "a"), count: 76)
        #expect(QuotedPrintable.encode(exact) == exact)
        let over = [UInt8](repeating: UInt8(ascii: "a"), count: 77)
        #expect(QuotedPrintable.encode(over) == Array(String(repeating: "a", count: 75).utf8) + Array("=\r\naa".utf8))
        #expect(QuotedPrintable.encode([0x00, 13, 0x41, 13, 10, 0x7F]) == Array("=00=0DA\r\n=7F".utf8))
    }

    @Test(
        "Content-Type parameters: quoted boundaries with semicolons, comments, case",
        arguments: [
            ("Multipart/Mixed; BOUNDARY=\"a;b \\\"c\\\"\"", "multipart", "a;b \"c\""),
            ("multipart/related (comment; boundary=no); boundary=yes", "multipart", "yes"),
            ("message/rfc822", "message", nil),
        ]
    )
    func contentType(_ value: String, _ type: String, _ boundary: String?) {
        let parsed = MIMEContentType(parsing: value)
        #expect(parsed?.type == type)
        #expect(parsed?.boundary == boundary)
    }
}
