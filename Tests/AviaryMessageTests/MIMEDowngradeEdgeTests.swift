import Testing

@testable import AviaryMessage

/// Where a part's header or a delimiter line is the last line before the next delimiter (the line end between
/// them belongs to the delimiter in the MIME tree, to the part in the converter's output), lone CRs, mixed
/// line ends, composites inside composites: the output as the converter has always given it.
@Suite("MIME downgrade at the edges of parts")
struct MIMEDowngradeEdgeTests {
    /// Input, output (`nil`: unchanged), problems.
    static let cases: [(String, String?, [MIMEDowngrade.Problem])] = [
        (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n--b--\r\n",
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--b\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "--b--\r\n"
            ),
            []
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "\r\n",
                "--b\r\n",
                "Content-Transfer-Encoding: 8bit\r\n",
                "\r\n",
                "--b--\r\n"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--b\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "--b--\r\n"
            ),
            []
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\r\n--b--",
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--b\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "--b--"
            ),
            []
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\r\n--b--",
            nil,
            []
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: y\r\n\r\r\né\r\n--b--",
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--b\r\n",
                "X: y\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "=0D\r\n",
                "=C3=A9\r\n",
                "--b--"
            ),
            []
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\n\n--b\né\n--b\n\n--b--\n",
            lines(
                "Content-Type: multipart/mixed; boundary=b\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--b\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "\n",
                "=C3=A9\n",
                "--b\n",
                "\n",
                "--b--\n"
            ),
            []
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n--b\n--b--\n",
            nil,
            []
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "\r\n",
                "--b\n",
                String(repeating: "é", count: 60),
                "\r\n",
                "--b--"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--b\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=\r\n",
                "=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=\r\n",
                "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=\r\n",
                "=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=\r\n",
                "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9\r\n",
                "--b--"
            ),
            []
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=b\n",
                "\n",
                "--b\r\n",
                String(repeating: "é", count: 60),
                "\n",
                "--b--"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=b\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--b\r\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "\n",
                "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=\n",
                "=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=\n",
                "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=\n",
                "=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=\n",
                "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9\n",
                "--b--"
            ),
            []
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "\n",
                "--o\n",
                "Content-Type: multipart/mixed; boundary=i\n",
                "\n",
                "--i\n",
                "\n",
                "é\n",
                "--i--\n",
                "--o--\n"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--o\n",
                "Content-Type: multipart/mixed; boundary=i\n",
                "\n",
                "--i\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "\n",
                "=C3=A9\n",
                "--i--\n",
                "--o--\n"
            ),
            []
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "\n",
                "--o\n",
                "Content-Type: multipart/mixed; boundary=i\n",
                "\n",
                "--i\n",
                "\n",
                "é\n",
                "--i\n",
                "--o--\n"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--o\n",
                "Content-Type: multipart/mixed; boundary=i\n",
                "\n",
                "--i\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "\n",
                "=C3=A9\n",
                "--i\n",
                "--o--\n"
            ),
            [.unterminatedMultipart]
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=o\r\n",
                "\r\n",
                "--o\r\n",
                "Content-Type: multipart/mixed; boundary=i\r\n",
                "\r\n",
                "--i\r\n",
                "\r\n",
                "é\r\n",
                "--i\r\r\n",
                "--o--\r\n"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=o\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--o\r\n",
                "Content-Type: multipart/mixed; boundary=i\r\n",
                "\r\n",
                "--i\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "=C3=A9\r\n",
                "--i=0D\r\n",
                "--o--\r\n"
            ),
            [.unterminatedMultipart]
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=o\r\n",
                "\r\n",
                "--o\r\n",
                "Content-Type: multipart/mixed; boundary=i\r\n",
                "\r\n",
                "--i\r\n",
                "\r\n",
                "é\r\n",
                "--i--\r\r\n",
                "--o--\r\n"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=o\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--o\r\n",
                "Content-Type: multipart/mixed; boundary=i\r\n",
                "\r\n",
                "--i\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "=C3=A9\r\n",
                "--i--=0D\r\n",
                "--o--\r\n"
            ),
            [.unterminatedMultipart]
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "\n",
                "--o\n",
                "Content-Type: message/rfc822\n",
                "\n",
                "Subject: x\n",
                "--o\n",
                "Content-Type: message/rfc822\n",
                "\n",
                "Subject: é\n",
                "CTE: 8bit\n",
                "--o--\n"
            ),
            nil,
            [.eightBitPartHeader]
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "\n",
                "--o\n",
                "Content-Type: message/rfc822\n",
                "\n",
                "Content-Transfer-Encoding: 8bit\n",
                "--o--\n"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--o\n",
                "Content-Type: message/rfc822\n",
                "\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "MIME-Version: 1.0\n",
                "--o--\n"
            ),
            []
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=o\n",
                "\n",
                "--o\n",
                "Content-Type: message/rfc822\n",
                "\n",
                "Content-Type: multipart/mixed; boundary=i\n",
                "\n",
                "--i\n",
                "--o--\n"
            ),
            nil,
            [.unterminatedMultipart]
        ),
        (
            lines(
                "Content-Type: multipart/digest; boundary=d\n",
                "\n",
                "--d\n",
                "\n",
                "Subject: x\n",
                "\n",
                "é\n",
                "--d\n",
                "Content-Transfer-Encoding: 8bit\n",
                "--d--\n"
            ),
            lines(
                "Content-Type: multipart/digest; boundary=d\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--d\n",
                "\n",
                "Subject: x\n",
                "MIME-Version: 1.0\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "\n",
                "=C3=A9\n",
                "--d\n",
                "Content-Transfer-Encoding: 7bit\n",
                "--d--\n"
            ),
            []
        ),
        (
            lines(
                "Content-Type: multipart/mixed; boundary=b\n",
                "\n",
                "--b\n",
                "Content-Type: message/global\n",
                "Content-Transfer-Encoding: 8bit\n",
                "\n",
                "Subject: é\n",
                "\n",
                "é\n",
                "--b--\n"
            ),
            lines(
                "Content-Type: multipart/mixed; boundary=b\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--b\n",
                "Content-Type: message/global\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "\n",
                "Subject: =C3=A9\n",
                "\n",
                "=C3=A9\n",
                "--b--\n"
            ),
            []
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed\n\né\n--b--\n",
            lines(
                "Content-Type: multipart/mixed; boundary=b\n",
                "MIME-Version: 1.0\n",
                "\n",
                "--b\n",
                "Content-Type: multipart/mixed\n",
                "Content-Transfer-Encoding: quoted-printable\n",
                "\n",
                "=C3=A9\n",
                "--b--\n"
            ),
            [.multipartWithoutBoundary]
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\n\npré\n--b\n\nx\n--b--\npost é\n",
            nil,
            [.eightBitPreambleOrEpilogue]
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--",
            nil,
            []
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
            nil,
            [.unterminatedMultipart]
        ),
        (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\né\r\n--b-- \r\n",
            lines(
                "Content-Type: multipart/mixed; boundary=b\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "--b \t\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "=C3=A9\r\n",
                "--b-- \r\n"
            ),
            []
        ),
        (
            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: binary\r\n\r\nSubject: é\r\n\r\nbody é",
            lines(
                "Content-Type: message/rfc822\r\n",
                "Content-Transfer-Encoding: 7bit\r\n",
                "MIME-Version: 1.0\r\n",
                "\r\n",
                "Subject: é\r\n",
                "MIME-Version: 1.0\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "body =C3=A9"
            ),
            [.eightBitPartHeader]
        ),
        (
            "Content-Transfer-Encoding: 8bit\nSubject: x",
            "Content-Transfer-Encoding: quoted-printable\nSubject: x\nMIME-Version: 1.0\n",
            []
        ),
        (
            "Subject: x\r\n \r\n folded é\r\n\r\nbody",
            nil,
            [.eightBitHeader]
        ),
        (
            "\r\n\r\né",
            "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\r\n=C3=A9",
            []
        ),
        (
            "é",
            "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9",
            []
        ),
        (
            "\r",
            nil,
            []
        ),
    ]

    static func lines(_ lines: String...) -> String { lines.joined() }

    @Test("parts that end on a header line or a delimiter, lone CRs, mixed line ends", arguments: cases)
    func edge(_ input: String, _ expected: String?, _ problems: [MIMEDowngrade.Problem]) {
        let result = MIMEFixtures.convert(input)
        #expect(String(decoding: result.message, as: UTF8.self) == expected ?? input)
        #expect(result.isChanged == (expected != nil))
        #expect(result.problems == problems)
    }

    @Test("every prefix of every case converts without a crash; what stays 8-bit is always reported")
    func prefixes() {
        for (input, _, _) in Self.cases {
            let bytes = Array(input.utf8)
            for length in 0...bytes.count {
                let result = MIMEDowngrade.sevenBit(Array(bytes[..<length]))
                #expect(result.isSevenBit || !result.problems.isEmpty, "\(input.prefix(length))")
            }
        }
    }
}
