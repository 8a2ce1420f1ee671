import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// SORT and THREAD through master, smtpd, local and imapd, read by imapclient over imaps.
    @Suite("IMAP SORT and THREAD", .serialized)
    struct IMAPSort {
        static let user = "alice@example.test"

        /// The THREAD mailbox of AviaryIMAPTests' ThreadingTests, as sent (day 0 is 30 November 2026).
        static let messages: [(subject: String, day: Int, id: String?, references: String?)] = [
            ("Meeting", 1, "a", nil), ("Re: Meeting", 2, "b", "<a@example.test>"),
            ("Re: Meeting", 4, "c", "<a@example.test> <b@example.test>"), ("Re: Meeting", 3, "d", "<a@example.test>"),
            ("Lunch", 5, "e", "<x@example.test>"), ("Re: Lunch", 6, "f", "<x@example.test>"),
            ("Re: Party", 7, "g", "<y@example.test>"), ("Party", 8, "h", nil), ("Re: Meeting", 0, "i", nil),
            ("Other", 9, nil, nil),
        ]

        static let script = """
            import imapclient, json, ssl, sys
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
            c = imapclient.IMAPClient("127.0.0.7", port=int(sys.argv[1]), ssl=True, ssl_context=tls, timeout=30)
            c.login(sys.argv[2], sys.argv[3])
            c.select_folder("INBOX")
            out = {"capabilities": sorted(x.decode() for x in c.capabilities())}
            out["reverse_date"] = c.sort(["REVERSE DATE"])
            out["subject"] = c.sort(["SUBJECT", "DATE"])
            out["references"] = c.thread("REFERENCES")
            out["orderedsubject"] = c.thread("ORDEREDSUBJECT")
            c.logout()
            print(json.dumps(out))
            """

        @Test("imapclient's sort() and thread() over imaps get the orders and trees worked out by hand")
        func sortAndThread() async throws {
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                // One at a time, so that the mailbox order is the sending order.
                for (number, message) in Self.messages.enumerated() {
                    let date =
                        message.day == 0 ? "30 Nov 2026 12:00:00 +0000" : "\(message.day) Dec 2026 12:00:00 +0000"
                    var text = "From: Sender <sender@example.test>\nTo: \(Self.user)\nSubject: \(message.subject)\n"
                    text += "Date: \(date)\n"
                    if let id = message.id { text += "Message-ID: <\(id)@example.test>\n" }
                    if let references = message.references { text += "References: \(references)\n" }
                    text += "\nbody\n"
                    let report = try await instance.sendWithSMTPLib(
                        from: "sender@example.test", to: [Self.user], message: Array(text.utf8))
                    check(report["error"] is NSNull, "\(report)", instance)
                    let delivered = try await waitUntil(timeout: .seconds(30)) {
                        instance.maildirFiles(Self.user).count > number
                    }
                    check(delivered, "message \(number + 1) not delivered", instance)
                }
                let tlsPort = try #require(instance.port(of: "127.0.0.7:0"))
                try instance.writeFile(instance.directory + "/sort.py", bytes: Array(Self.script.utf8))
                // imapclient is installed for Debian's Python (install-deps.sh), which may not be first on PATH.
                let result = try await instance.run(
                    "/usr/bin/python3",
                    [instance.directory + "/sort.py", String(tlsPort), Self.user, TestInstance.password]
                )
                let output = result.standardOutput
                check(output.contains("\"SORT\"") && output.contains("\"THREAD=REFERENCES\""), "\(result)", instance)
                check(output.contains("\"reverse_date\": [10, 8, 7, 6, 5, 3, 4, 2, 1, 9]"), "\(result)", instance)
                check(output.contains("\"subject\": [5, 6, 9, 1, 2, 4, 3, 10, 7, 8]"), "\(result)", instance)
                check(
                    output.contains("\"references\": [[1, [9], [2, 3], [4]], [[5], [6]], [8, 7], [10]]"),
                    "\(result)",
                    instance
                )
                check(
                    output.contains("\"orderedsubject\": [[9, [1], [2], [4], [3]], [5, 6], [7, 8], [10]]"),
                    "\(result)",
                    instance
                )
            }
        }
    }
}
