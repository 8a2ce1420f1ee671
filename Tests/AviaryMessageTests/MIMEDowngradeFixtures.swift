import Foundation

@testable import AviaryMessage

/// Messages for the MIME downgrade tests, and the checks they share.
enum MIMEFixtures {
    static let plainEightBit = "From: a@example.test\nSubject: plain\n\nCafé crème brûlée\nsecond line\n"

    static let utf8Text = """
        From: a@example.test\r
        MIME-Version: 1.0\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: 8bit\r
        Subject: utf-8\r
        \r
        Grüße aus Köln – €5\r
        plain ascii line\r

        """

    static let alternativeHTML = "<html><body><p>Hello = world</p></body></html>\r\n"
    static let alternative = """
        From: a@example.test\r
        MIME-Version: 1.0\r
        Content-Type: multipart/alternative;\r
        \tboundary="=_alt; 42"\r
        Content-Transfer-Encoding: 8bit\r
        \r
        This is a preamble.\r
        --=_alt; 42\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: 8bit\r
        \r
        Ünïcödé text\r
        --=_alt; 42\r
        Content-Type: text/html; charset=us-ascii\r
        \r
        \(alternativeHTML)\
        --=_alt; 42--\r
        epilogue\r

        """

    static let nested = """
        From: a@example.test
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary=outer

        --outer
        Content-Type: multipart/mixed; boundary="inner"

        --inner
        Content-Type: text/plain; charset=iso-8859-1

        caf\u{E9} latin-1 as UTF-8 bytes
        --inner
        Content-Type: application/octet-stream
        Content-Transfer-Encoding: base64

        AAECAwQ=
        --inner--
        --outer
        Content-Type: message/rfc822
        Content-Transfer-Encoding: 8bit

        From: b@example.test
        Subject: forwarded

        Forwarded body with ß
        --outer--

        """

    static let sevenBitMultipart = """
        From: a@example.test\r
        MIME-Version: 1.0\r
        Content-Type: multipart/mixed; boundary=b\r
        \r
        --b\r
        Content-Type: text/plain\r
        \r
        a = b, trailing spaces   \r
        --b\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: quoted-printable\r
        \r
        caf=C3=A9\r
        --b--\r

        """

    /// Every fixture, for the properties all must have.
    static let all: [String] = [plainEightBit, utf8Text, alternative, nested, sevenBitMultipart]

    static func convert(_ text: String, depthLimit: Int = MIMEDowngrade.defaultDepthLimit) -> MIMEDowngrade.Result {
        MIMEDowngrade.sevenBit(Array(text.utf8), depthLimit: depthLimit)
    }

    /// Quoted-printable decoding (RFC 2045 6.7): `=XX`, soft breaks (`=` before LF or CR LF) removed.
    static func decodeQuotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        func hex(_ byte: UInt8) -> UInt8? { UInt8(String(UnicodeScalar(byte)), radix: 16) }
        while index < bytes.count {
            let byte = bytes[index]
            if byte != 61 {
                output.append(byte)
                index += 1
            } else if index + 1 < bytes.count, bytes[index + 1] == 10 {
                index += 2
            } else if index + 2 < bytes.count, bytes[index + 1] == 13, bytes[index + 2] == 10 {
                index += 3
            } else if index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(byte)
                index += 1
            }
        }
        return output
    }

    /// The body of a single-part message (after the first empty line).
    static func body(_ bytes: [UInt8]) -> [UInt8] {
        let header = MIMEHeaderSection(bytes, 0..<bytes.count)
        return Array(bytes[header.bodyStart...])
    }

    /// The longest line, line end excluded.
    static func longestLine(_ bytes: [UInt8]) -> Int {
        bytes.split(separator: 10, omittingEmptySubsequences: false).map { $0.last == 13 ? $0.count - 1 : $0.count }
            .max() ?? 0
    }

    static let python = "/usr/bin/python3"

    /// Python's `email` package reads both messages and compares every leaf part's content type and decoded
    /// payload; returns nil when they match, else what Python printed.
    static func pythonMismatch(_ original: [UInt8], _ converted: [UInt8]) throws -> String? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mime-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let paths = ["a", "b"].map { directory.appendingPathComponent($0).path }
        FileManager.default.createFile(atPath: paths[0], contents: Data(original))
        FileManager.default.createFile(atPath: paths[1], contents: Data(converted))
        let script = """
            import email, sys
            def leaves(path):
                message = email.message_from_bytes(open(path, 'rb').read())
                return [(p.get_content_type(), p.get_payload(decode=True) or b'')
                        for p in message.walk() if not p.is_multipart()]
            a, b = leaves(sys.argv[1]), leaves(sys.argv[2])
            print('same' if a == b else repr(a) + '\\n' + repr(b))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script] + paths
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text == "same" ? nil : text
    }
}
