import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    @Suite("Quota", .serialized)
    struct Quota {
        static let user = "alice@example.test"

        @Test(
            "imaplib sees the quota (GETQUOTAROOT), APPEND and COPY over it get NO [OVERQUOTA], MOVE and EXPUNGE work, and mail over it bounces with 5.2.2"
        )
        func quotaThroughMaster() async throws {
            try await withInstance(
                try TestInstance(
                    masterCf: [
                        "127.0.0.1:0 inet n - n - - smtpd",
                        "127.0.0.6:0 inet n - n - - imapd",
                        "qmgr unix n - n 300 1 qmgr",
                        "local unix - n n - - local",
                    ],
                    users: [Self.user, "bob@example.test"]
                )
            ) { instance in
                try await instance.start()
                try await Integration.IMAP.deliver(2, to: instance)
                let used = instance.maildirFiles(Self.user).reduce(0) { total, path in
                    total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
                }
                // Room for 300 bytes more and 10 messages; the users file is read again when it changes.
                let limit = used + 300
                try instance.writeFile(
                    "users",
                    [
                        "\(Self.user):{SHA512-CRYPT}\(TestInstance.passwordHash)::::::userdb_quota_rule=*:bytes=\(limit):messages=10",
                        "bob@example.test:{SHA512-CRYPT}\(TestInstance.passwordHash)",
                    ]
                )
                let port = try #require(instance.port(of: "127.0.0.6:0"))
                let session = try await instance.run(
                    "python3",
                    [
                        clientsDirectory + "/imap_quota.py", "127.0.0.6", String(port), Self.user,
                        TestInstance.password, "1000",
                    ]
                )
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(session.standardOutput.utf8)) as? [String: Any],
                    "\(session)"
                )
                check(((object["capability"] as? [String]) ?? []).contains("QUOTA"), "\(object)", instance)
                let quotaLine = "\"User quota\" (STORAGE \((used + 1023) / 1024) \((limit + 1023) / 1024) MESSAGE 2 10)"
                check(
                    (object["getquotaroot"] as? [[String]]) == [["INBOX \"User quota\""], [quotaLine]],
                    "\(object)",
                    instance
                )
                check((object["getquota"] as? String) == "OK \(quotaLine)", "\(object)", instance)
                check((object["setquota"] as? String)?.hasPrefix("NO [NOPERM]") == true, "\(object)", instance)
                check((object["append"] as? String)?.hasPrefix("NO [OVERQUOTA]") == true, "\(object)", instance)
                check((object["copy"] as? String)?.hasPrefix("NO [OVERQUOTA]") == true, "\(object)", instance)
                check((object["move"] as? String)?.hasPrefix("OK") == true, "a MOVE needs no room: \(object)", instance)
                check((object["expunge"] as? String)?.hasPrefix("OK") == true, "\(object)", instance)
                check((object["after"] as? String)?.contains("MESSAGE 1 10") == true, "\(object)", instance)

                // One message fits again; a bigger one does not: local bounces it, and the sender gets the DSN.
                let token = uniqueToken("overquota")
                let sent = try await instance.swaks(
                    to: Self.user,
                    from: "bob@example.test",
                    [
                        "--header", "Subject: \(token)", "--body",
                        String(repeating: "too big for the quota ", count: 100),
                    ]
                )
                check(sent.isSuccess, "\(sent)", instance)
                try await instance.awaitLogLine(
                    containing: "to=<\(Self.user)>",
                    "dsn=5.2.2, status=bounced (Mailbox full: quota exceeded"
                )
                let dsn = try await instance.awaitMessage(for: "bob@example.test", containing: token)
                check(dsn.contains("Status: 5.2.2") && dsn.contains("Action: failed"), dsn, instance)
                check(dsn.contains("Mailbox full"), dsn, instance)
                check(instance.messages(of: Self.user, containing: token).isEmpty, "delivered over quota", instance)
            }
        }
    }
}
