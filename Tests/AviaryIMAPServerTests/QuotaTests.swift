import AviaryCore
import AviaryMailbox
import Testing

@Suite("imapd QUOTA (RFC 9208)")
struct IMAPQuotaTests {
    @Test("Without a quota: QUOTAROOT names no root, GETQUOTA has none, SETQUOTA is the administrator's")
    func unlimited() async throws {
        try await IMAPServerHarness.run { harness in
            let (capability, root, quota, set) = try await harness.transcript { client in
                _ = try client.login()
                return (
                    try client.command("CAPABILITY"), try client.command("GETQUOTAROOT INBOX"),
                    try client.command("GETQUOTA \"User quota\""),
                    try client.status("SETQUOTA \"User quota\" (STORAGE 1)")
                )
            }
            #expect(capability.first?.contains(" QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE") == true, "\(capability)")
            #expect(root.first == "* QUOTAROOT INBOX", "\(root)")
            #expect(root.last?.hasSuffix(" OK Getquotaroot completed.") == true)
            #expect(quota.last?.contains(" NO [NONEXISTENT] ") == true, "\(quota)")
            #expect(set.contains(" NO [NOPERM] "), "\(set)")
        }
    }

    @Test(
        "With mailbox_quota_limit: the root and usage in KiB and messages over INBOX and folders; APPEND over it is NO [OVERQUOTA]"
    )
    func limited() async throws {
        try await IMAPServerHarness.run(extra: "mailbox_quota_limit = 4096") { harness in
            let message = String(repeating: "x", count: 1500)
            let lines = try await harness.transcript { client in
                _ = try client.login()
                var lines: [String] = []
                lines += try client.command("APPEND INBOX {\(message.utf8.count)+}\r\n\(message)")
                lines += try client.command("APPEND Sent {\(message.utf8.count)+}\r\n\(message)")
                lines += try client.command("GETQUOTAROOT Sent")
                lines += try client.command("APPEND INBOX {\(message.utf8.count)+}\r\n\(message)")
                lines += try client.command("GETQUOTAROOT nosuchfolder")
                return lines
            }
            #expect(lines[0].hasPrefix("t2 OK [APPENDUID ") && lines[1].hasPrefix("t3 OK [APPENDUID "), "\(lines)")
            #expect(
                Array(lines[2...4]) == [
                    "* QUOTAROOT Sent \"User quota\"", "* QUOTA \"User quota\" (STORAGE 3 4)",
                    "t4 OK Getquotaroot completed.",
                ]
            )
            #expect(lines[5] == "t5 NO [OVERQUOTA] Quota exceeded (mailbox for user is full).")
            #expect(lines[6].hasPrefix("t6 NO [NONEXISTENT] "), "\(lines)")
            #expect(try SafeFile.readText(harness.aliceMaildir.path + "/maildirsize") == "4096S\n0 0\n1500 1\n1500 1\n")
        }
    }

    @Test("A MULTIAPPEND that does not fit as a whole stores none of its messages: NO [OVERQUOTA]; one that fits, all")
    func multiappend() async throws {
        try await IMAPServerHarness.run(extra: "mailbox_quota_limit = 4096") { harness in
            let message = String(repeating: "x", count: 1500)
            let lines = try await harness.transcript { client in
                _ = try client.login()
                var lines: [String] = []
                let three = String(repeating: " {\(message.utf8.count)+}\r\n\(message)", count: 3)
                lines += try client.command("APPEND INBOX" + three)
                lines += try client.command("STATUS INBOX (MESSAGES)")
                let two = String(repeating: " {\(message.utf8.count)+}\r\n\(message)", count: 2)
                lines += try client.command("APPEND INBOX" + two)
                return lines
            }
            #expect(lines[0] == "t2 NO [OVERQUOTA] Quota exceeded (mailbox for user is full).", "\(lines)")
            #expect(lines[1] == "* STATUS INBOX (MESSAGES 0)", "\(lines)")
            #expect(lines.last?.hasPrefix("t4 OK [APPENDUID ") == true && lines.last?.contains(" 1:2] ") == true, "\(lines)")
            #expect(try SafeFile.readText(harness.aliceMaildir.path + "/maildirsize") == "4096S\n0 0\n3000 2\n")  // one line for the whole APPEND
        }
    }
}
