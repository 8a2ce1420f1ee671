import AviaryTestSupport
import Foundation
import Testing

extension TestInstance {
    /// Sends `message` with clients/smtplib_send.py (Python's smtplib) and returns its JSON report. smtplib sends
    /// a `bytes` message as it is (it only fixes line endings of a `str`), so give it CR LF line endings.
    func sendWithSMTPLib(
        from sender: String,
        to recipients: [String],
        message: [UInt8],
        options: [String] = []
    ) async throws -> [String: Any] {
        let file = directory + "/run-smtplib-\(UInt32.random(in: 0...UInt32.max)).eml"
        try writeFile(file, bytes: message.withCRLF)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await run(
            "python3",
            [clientsDirectory + "/smtplib_send.py", String(smtpPort), sender, recipients.joined(separator: ","), file]
                + options
        )
        try #require(result.isSuccess, "\(result)")
        return try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any],
            "\(result)"
        )
    }
}

extension Array where Element == UInt8 {
    /// LF line endings made CR LF.
    var withCRLF: [UInt8] { flatMap { $0 == 10 ? [13, 10] : [$0] } }
}

/// Whether `delivered` is `original` (LF line endings) behind the headers local and smtpd add, byte for byte.
func isOriginalBehindTraceHeaders(_ delivered: [UInt8], original: [UInt8]) -> (Bool, String) {
    guard delivered.count > original.count, Array(delivered.suffix(original.count)) == original else {
        return (false, "the delivered file does not end with the original message")
    }
    let added = String(decoding: delivered.prefix(delivered.count - original.count), as: UTF8.self)
    let lines = added.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    let allowed = ["Return-Path:", "Delivered-To:", "Received:", " ", "\t"]
    let unexpected = lines.filter { line in !allowed.contains { line.hasPrefix($0) } }
    return (unexpected.isEmpty, "added lines: \(lines)")
}

extension Integration.SMTPProtocol {
    @Test("smtplib sendmail(): delivered byte for byte (CR LF made LF), dots unstuffed, refused recipient reported")
    func smtplibPlain() async throws {
        let instance = try Current.required()
        let token = uniqueToken("smtplib")
        let original = Array(
            """
            From: Bob <bob@elsewhere.test>
            To: alice@example.test
            Subject: \(token)
            Message-ID: <\(token)@elsewhere.test>

            Hello Alice,
            .this line starts with a dot
            ..and this one with two
            .
            trailing spaces \u{20}\u{20}
            \ttab first
            From the start of a line (no > quoting in Maildir)

            end

            """.utf8
        )
        let report = try await instance.sendWithSMTPLib(
            from: "bob@elsewhere.test",
            to: ["alice@example.test", "nobody@example.test"],
            message: original
        )
        check(report["error"] is NSNull, "\(report)", instance)
        let refused = report["refused"] as? [String: [Any]] ?? [:]
        check(
            refused.keys.sorted() == ["nobody@example.test"] && refused["nobody@example.test"]?.first as? Int == 550,
            "\(report)",
            instance
        )

        _ = try await instance.awaitMessage(for: "alice", containing: token)
        let delivered = try #require(
            instance.maildirMessages("alice").first {
                String(decoding: $0, as: UTF8.self).contains(token)
            }
        )
        let (exact, detail) = isOriginalBehindTraceHeaders(delivered, original: original)
        check(exact, "\(detail)\n--- delivered ---\n\(String(decoding: delivered, as: UTF8.self))", instance)
        check(String(decoding: delivered, as: UTF8.self).hasPrefix("Return-Path: <bob@elsewhere.test>\n"), "", instance)
    }

    @Test("smtplib with SMTPUTF8 and BODY=8BITMIME: UTF-8 sender, 8-bit body, delivered byte for byte")
    func smtplibEightBit() async throws {
        let instance = try Current.required()
        let token = uniqueToken("utf8")
        var original = Array(
            """
            From: Pär <pär@example.test>
            To: alice@example.test
            Subject: Grüße \(token)
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            Grüße aus Zürich — ñandú, 日本語, 🐦
            .dot-stuffed ünïcode
            \(String(repeating: "é", count: 490))

            """.utf8
        )
        // Octets that are not UTF-8 at all: 8BITMIME promises any octet but NUL, CR and LF goes through.
        original += [0x4C, 0x61, 0x74, 0x69, 0x6E, 0x2D, 0x31, 0x3A, 0x20, 0xE9, 0xE8, 0xFF, 0x80, 0x0A]
        original += Array("last line\n".utf8)
        let report = try await instance.sendWithSMTPLib(
            from: "pär@example.test",
            to: ["alice@example.test"],
            message: original,
            options: ["SMTPUTF8", "BODY=8BITMIME"]
        )
        check(report["error"] is NSNull, "\(report)", instance)
        let features = report["features"] as? [String] ?? []
        check(features.contains("smtputf8") && features.contains("8bitmime"), "EHLO features: \(features)", instance)

        _ = try await instance.awaitMessage(for: "alice", containing: token)
        let delivered = try #require(
            instance.maildirMessages("alice").first {
                String(decoding: $0, as: UTF8.self).contains(token)
            }
        )
        let (exact, detail) = isOriginalBehindTraceHeaders(delivered, original: original)
        check(exact, "\(detail)\n--- delivered ---\n\(String(decoding: delivered, as: UTF8.self))", instance)
        let text = String(decoding: delivered, as: UTF8.self)
        check(text.hasPrefix("Return-Path: <pär@example.test>\n"), text, instance)
        check(text.contains("with UTF8ESMTP"), "Received: should say UTF8ESMTP:\n\(text)", instance)
    }
}
