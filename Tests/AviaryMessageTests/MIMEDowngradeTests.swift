import Foundation
import Testing

@testable import AviaryMessage

@Suite("MIME downgrade to 7 bit")
struct MIMEDowngradeTests {
    typealias F = MIMEFixtures

    @Test("plain 8-bit text: body quoted-printable, CTE and MIME-Version added, LF line ends kept")
    func plainText() {
        let result = F.convert(F.plainEightBit)
        #expect(
            String(decoding: result.message, as: UTF8.self) == """
                From: a@example.test
                Subject: plain
                MIME-Version: 1.0
                Content-Transfer-Encoding: quoted-printable

                Caf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e
                second line

                """
        )
        #expect(result.isChanged && result.isSevenBit && result.problems.isEmpty)
        #expect(F.decodeQuotedPrintable(F.body(result.message)) == F.body(Array(F.plainEightBit.utf8)))
    }

    @Test("UTF-8 text/plain labelled 8bit: the CTE field is replaced where it stood, CRLF kept")
    func utf8TextPlain() throws {
        let result = F.convert(F.utf8Text)
        let text = String(decoding: result.message, as: UTF8.self)
        #expect(
            text.hasPrefix(
                """
                From: a@example.test\r
                MIME-Version: 1.0\r
                Content-Type: text/plain; charset=utf-8\r
                Content-Transfer-Encoding: quoted-printable\r
                Subject: utf-8\r
                \r
                Gr=C3=BC=C3=9Fe aus K=C3=B6ln =E2=80=93 =E2=82=AC5\r
                plain ascii line\r

                """
            )
        )
        #expect(result.isSevenBit && result.problems.isEmpty)
        #expect(F.decodeQuotedPrintable(F.body(result.message)) == F.body(Array(F.utf8Text.utf8)))
        #expect(try F.pythonMismatch(Array(F.utf8Text.utf8), result.message) == nil)
    }

    @Test("multipart/alternative: the 8-bit part is encoded, the 7-bit part, preamble and epilogue are byte-exact")
    func alternative() throws {
        let original = Array(F.alternative.utf8)
        let result = F.convert(F.alternative)
        let text = String(decoding: result.message, as: UTF8.self)
        #expect(result.isSevenBit && result.problems.isEmpty, "\(result.problems)")
        #expect(text.contains("\r\n\r\nThis is a preamble.\r\n--=_alt; 42\r\n"))
        #expect(
            text.contains(
                """
                Content-Type: text/plain; charset=utf-8\r
                Content-Transfer-Encoding: quoted-printable\r
                \r
                =C3=9Cn=C3=AFc=C3=B6d=C3=A9 text\r
                --=_alt; 42\r
                Content-Type: text/html; charset=us-ascii\r
                \r
                \(F.alternativeHTML)--=_alt; 42--\r
                epilogue\r\n
                """
            )
        )
        // The multipart's own 8bit label becomes 7bit; its MIME-Version stays single.
        #expect(text.contains("\tboundary=\"=_alt; 42\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"))
        #expect(text.components(separatedBy: "MIME-Version").count == 2)
        #expect(try F.pythonMismatch(original, result.message) == nil)
    }

    @Test("nested multipart/mixed with message/rfc822: every 8-bit leaf encoded, rfc822 stays 7bit, base64 untouched")
    func nestedWithMessage() throws {
        let original = Array(F.nested.utf8)
        let result = F.convert(F.nested)
        let text = String(decoding: result.message, as: UTF8.self)
        #expect(result.isSevenBit && result.problems.isEmpty, "\(result.problems)")
        #expect(
            text.contains(
                """
                Content-Type: text/plain; charset=iso-8859-1
                Content-Transfer-Encoding: quoted-printable

                caf=C3=A9 latin-1 as UTF-8 bytes
                --inner
                Content-Type: application/octet-stream
                Content-Transfer-Encoding: base64

                AAECAwQ=
                --inner--
                """
            )
        )
        #expect(
            text.contains(
                """
                Content-Type: message/rfc822
                Content-Transfer-Encoding: 7bit

                From: b@example.test
                Subject: forwarded
                MIME-Version: 1.0
                Content-Transfer-Encoding: quoted-printable

                Forwarded body with =C3=9F
                --outer--
                """
            )
        )
        #expect(try F.pythonMismatch(original, result.message) == nil)
    }

    @Test("a line of 200 8-bit bytes gets soft breaks: no line over 76, decodes back")
    func longLine() throws {
        let message = "Subject: long\r\n\r\n" + String(repeating: "é", count: 100) + "\r\nend\r\n"
        let result = F.convert(message)
        #expect(result.isSevenBit)
        #expect(F.longestLine(result.message) <= QuotedPrintable.lineLimit)
        let body = F.body(result.message)
        #expect(String(decoding: body, as: UTF8.self).split(separator: "\r\n").count == 600 / 75 + 1)
        #expect(String(decoding: body, as: UTF8.self).hasPrefix("=C3=A9=C3=A9"))
        #expect(F.decodeQuotedPrintable(body) == F.body(Array(message.utf8)))
        #expect(try F.pythonMismatch(Array(message.utf8), result.message) == nil)
    }

    @Test("'=' is encoded, trailing spaces and tabs before a line end and at the end of the body too")
    func equalsAndTrailingSpace() {
        let message = "Subject: eq\n\na=b  \nc\t\nd é\nend "
        let result = F.convert(message)
        #expect(String(decoding: F.body(result.message), as: UTF8.self) == "a=3Db =20\nc=09\nd =C3=A9\nend=20")
        #expect(F.decodeQuotedPrintable(F.body(result.message)) == F.body(Array(message.utf8)))
    }

    @Test(
        "7-bit messages come back identical",
        arguments: [F.sevenBitMultipart, "Subject: x\r\n\r\nbody\r\n", "", "\n"]
    )
    func sevenBitUnchanged(_ message: String) {
        let result = F.convert(message)
        #expect(result.message == Array(message.utf8))
        #expect(!result.isChanged && result.problems.isEmpty)
    }

    @Test("8-bit top-level header text is left for SMTPUTF8 and reported; a 7-bit body is then unchanged")
    func eightBitHeader() {
        let message = "Subject: Grüße\r\n\r\nbody\r\n"
        let result = F.convert(message)
        #expect(result.message == Array(message.utf8))
        #expect(result.problems == [.eightBitHeader])
        #expect(!MIMEDowngrade.bodyHasEightBit(Array(message.utf8)))
        #expect(MIMEDowngrade.bodyHasEightBit(Array(F.plainEightBit.utf8)))
    }

    @Test("a base64 or quoted-printable part with 8-bit bytes is left as is and reported")
    func eightBitInEncodedPart() {
        let message = "Content-Transfer-Encoding: base64\n\nAAé=\n"
        let result = F.convert(message)
        #expect(result.message == Array(message.utf8))
        #expect(result.problems == [.eightBitEncodedBody(encoding: "base64")])
    }
}
