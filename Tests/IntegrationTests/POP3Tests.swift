import AviaryTestSupport
import Foundation
import Testing

/// pop3d through master: 110 with STLS ("127.0.0.1:0") and 995-style TLS on connect ("127.0.0.5:0").
func makePOP3Instance() throws -> TestInstance {
    try TestInstance(
        mainCf: [
            ("smtpd_tls_cert_file", "DIR/certs/server-chain.pem"), ("smtpd_tls_key_file", "DIR/certs/server.key"),
        ],
        masterCf: [
            "127.0.0.1:0 inet n - n - - pop3d",
            "127.0.0.5:0 inet n - n - - pop3d -o pop3d_tls_wrappermode=yes",
            "qmgr unix n - n 300 1 qmgr",
            "local unix - n n - - local",
        ])
}

/// Message `number` of the test mailbox: LF line ends as local writes them, a lone "." line, 8-bit text.
func pop3Message(_ number: Int) -> [UInt8] {
    var text = "Return-Path: <sender@example.test>\nFrom: sender@example.test\nTo: alice@example.test\n"
    text += "Subject: pop3 message \(number)\nMessage-ID: <pop3-\(number)@example.test>\n\n"
    text += "line one of \(number)\n.\n..two dots\nGr\u{00FC}\u{00DF}e aus K\u{00F6}ln\n"
    for line in 0..<(number % 7) * 20 { text += "filler line \(line) of message \(number)\n" }
    return Array(text.utf8)
}

extension Integration {
    @Suite("POP3", .serialized)
    struct POP3 {
        /// Writes the 100 messages into alice's Maildir, owned like local's deliveries.
        static func fillMailbox(_ instance: TestInstance) throws -> [[UInt8]] {
            let maildir = instance.vmail + "/example.test/alice"
            for sub in ["", "/cur", "/new", "/tmp"] { try instance.makeOwnedDirectory(maildir + sub) }
            var messages: [[UInt8]] = []
            for number in 1...100 {
                let message = pop3Message(number)
                let path = maildir + "/new/17000\(String(format: "%05d", number)).M\(number)P1Q1.test"
                try instance.writeFile(path, bytes: message, mode: 0o600)
                instance.give(path, to: instance.mailOwner)
                messages.append(message)
            }
            return messages
        }

        @Test("fetchmail (STLS), getmail6 (pop3s), poplib, curl and s_client read 100 messages byte-exact and leave them")
        func clients() async throws {
            try await withInstance(try makePOP3Instance()) { instance in
                try await installCertificates(instance)
                let messages = try Self.fillMailbox(instance)
                try await instance.start()
                let port = instance.smtpPort
                let tlsPort = try #require(instance.port(of: "127.0.0.5:0"))
                let user = "alice@example.test"

                // poplib: from this host a plaintext login works (as in Dovecot); from 127.0.0.2 USER is refused
                // before STLS (pop3d_tls_auth_only = yes), then everything goes over STLS.
                let poplib = try await instance.run(
                    "python3", [clientsDirectory + "/pop3_clients.py", "poplib", "127.0.0.1", String(port), user, TestInstance.password])
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(poplib.standardOutput.utf8)) as? [String: Any], "\(poplib)")
                check((object["capa_plain"] as? [String])?.contains("STLS") == true, "\(object)", instance)
                check((object["login_from_this_host"] as? String) == "accepted", "\(object)", instance)
                check((object["user_before_tls"] as? String)?.hasPrefix("-ERR") == true, "\(object)", instance)
                check((object["capa_tls"] as? [String])?.contains("USER") == true, "\(object)", instance)
                check((object["stat"] as? [Int])?.first == 100, "\(object)", instance)
                check((object["uidl"] as? [String])?.count == 100, "\(object)", instance)

                // fetchmail with STLS, keeping the messages; each one must arrive intact.
                let fetched = instance.directory + "/fetched"
                try FileManager.default.createDirectory(atPath: fetched, withIntermediateDirectories: true)
                let rc = instance.directory + "/fetchmailrc"
                try instance.writeFile(
                    rc,
                    bytes: Array(
                        """
                        set no syslog
                        poll 127.0.0.1 port \(port) protocol POP3 timeout 30
                          user "\(user)" there with password "\(TestInstance.password)" is "root" here
                          sslproto "tls1.2+" no sslcertck keep fetchall
                          mda "/bin/sh -c 'cat > \(fetched)/msg.$$'"

                        """.utf8), mode: 0o600)
                let fetchmail = try await instance.run(
                    "fetchmail", ["-f", rc, "--nodetach", "-i", instance.directory + "/fetchids"], timeout: .seconds(120))
                let files = (try? FileManager.default.contentsOfDirectory(atPath: fetched)) ?? []
                check(files.count == 100, "fetchmail fetched \(files.count):\n\(fetchmail)", instance)
                var intact = 0
                for file in files {
                    let bytes = Array((try? Data(contentsOf: URL(fileURLWithPath: fetched + "/" + file))) ?? Data())
                    if messages.contains(where: { bytes.count >= $0.count && Array(bytes.suffix($0.count)) == $0 }) { intact += 1 }
                }
                check(intact == 100, "\(intact) of \(files.count) messages arrived byte-exact", instance)

                // getmail6 over pop3s: 100 messages, still kept on the server.
                let getmailDirectory = instance.directory + "/getmail"
                let getmail = try await instance.run(
                    "python3",
                    [clientsDirectory + "/pop3_clients.py", "getmail", "127.0.0.5", String(tlsPort), user,
                     TestInstance.password, getmailDirectory], timeout: .seconds(150))
                check(getmail.standardOutput.contains("\"files\": 100"), "\(getmail)", instance)

                // curl: LIST over STLS, RETR 1 over pop3s.
                let list = try await instance.run(
                    "curl", ["-s", "--ssl-reqd", "-k", "--user", "\(user):\(TestInstance.password)", "pop3://127.0.0.1:\(port)/"])
                check(list.standardOutput.utf8.filter { $0 == 10 }.count == 100, "\(list)", instance)
                let retr = try await instance.run(
                    "curl", ["-s", "-k", "--user", "\(user):\(TestInstance.password)", "pop3s://127.0.0.5:\(tlsPort)/1"])
                check(retr.standardOutput.contains("Subject: pop3 message "), "\(retr)", instance)

                let client = try await instance.run(
                    "openssl", ["s_client", "-starttls", "pop3", "-connect", "127.0.0.1:\(port)", "-brief"],
                    stdin: Array("QUIT\r\n".utf8), timeout: .seconds(30))
                check((client.standardOutput + client.standardError).contains("CONNECTION ESTABLISHED"), "\(client)", instance)

                // Nothing was deleted (every client kept the mail).
                let left = try FileManager.default.contentsOfDirectory(atPath: instance.vmail + "/example.test/alice/cur").count
                    + FileManager.default.contentsOfDirectory(atPath: instance.vmail + "/example.test/alice/new").count
                check(left == 100, "\(left) messages left", instance)
                try await instance.awaitLogLine(containing: "login: user=<alice@example.test>")
            }
        }
    }
}
