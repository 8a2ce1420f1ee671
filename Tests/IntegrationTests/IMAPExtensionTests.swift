import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// MULTIAPPEND, STATUS=SIZE, BINARY and UTF8=ACCEPT through master, smtpd, local and imapd, used by
    /// imapclient and imaplib over imaps.
    @Suite("IMAP extensions", .serialized)
    struct IMAPExtensions {
        static let user = "alice@example.test"

        /// Part 2 is base64 of the bytes 0, 1, 2, 255, 65.
        static let message = """
            From: Sender <sender@example.test>
            To: \(user)
            Subject: with an attachment
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="sep"
            
            --sep
            Content-Type: text/plain
            
            see the attachment
            --sep
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: base64
            
            AAEC/0E=
            --sep--

            """

        @Test("imapclient's multiappend() and folder_status(SIZE), imaplib's FETCH BINARY and ENABLE UTF8=ACCEPT")
        func extensions() async throws {
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                let report = try await instance.sendWithSMTPLib(
                    from: "sender@example.test", to: [Self.user], message: Array(Self.message.utf8))
                check(report["error"] is NSNull, "\(report)", instance)
                let delivered = try await waitUntil(timeout: .seconds(30)) {
                    instance.maildirFiles(Self.user).count >= 1
                }
                check(delivered, "not delivered", instance)

                let tlsPort = try #require(instance.port(of: "127.0.0.7:0"))
                // imapclient is installed for Debian's Python (install-deps.sh), which may not be first on PATH.
                let result = try await instance.run(
                    "/usr/bin/python3",
                    [
                        clientsDirectory + "/imap_clients.py", "extensions", "127.0.0.7", String(tlsPort), Self.user,
                        TestInstance.password,
                    ]
                )
                let object = try #require(
                    (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))) as? [String: Any],
                    "\(result)"
                )
                // imapclient upper-cases capability names.
                let capabilities = (object["capabilities"] as? [String]) ?? []
                for name in ["MULTIAPPEND", "BINARY", "STATUS=SIZE", "UTF8=ACCEPT", "IMAP4REV2"] {
                    check(capabilities.contains(name), "\(name) in \(capabilities)", instance)
                }
                check(
                    (object["multiappend"] as? String)?.contains("[APPENDUID ") == true
                        && (object["multiappend"] as? String)?.contains(":") == true,
                    "\(object)",
                    instance
                )
                let maildir = instance.maildir(Self.user)
                check(IMAP.files(in: maildir).count == 3, "\(IMAP.files(in: maildir))", instance)
                let status = object["status"] as? [String: Int]
                check(status?["MESSAGES"] == 3, "\(object)", instance)
                check(status?["SIZE"] != nil && status?["SIZE"] == object["size_sum"] as? Int, "\(object)", instance)
                check(
                    (object["binary_line"] as? String)?.hasSuffix(" (BINARY.SIZE[2] 5 BINARY[2] ~{5}") == true,
                    "\(object)",
                    instance
                )
                check((object["binary"] as? [Int]) == [0, 1, 2, 255, 65], "\(object)", instance)
                check((object["enable"] as? [String])?.first == "OK", "\(object)", instance)
                check((object["create"] as? String) == "OK", "\(object)", instance)
                check((object["list"] as? [String]) == ["(\\HasNoChildren) \".\" \"Entwürfe\""], "\(object)", instance)
                check(
                    (object["status_utf8"] as? [String]) == ["\"Entwürfe\" (MESSAGES 0 SIZE 0)"],
                    "\(object)",
                    instance
                )
                // On disk the folder has its modified UTF-7 name, as Dovecot stores it.
                check(SafeFile.isDirectory(maildir + ".Entw&APw-rfe/cur"), "\(maildir)", instance)
            }
        }
    }
}
