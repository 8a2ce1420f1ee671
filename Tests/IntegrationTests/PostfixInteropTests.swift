import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A private Postfix (Debian's package) on 127.0.0.1:PORT: virtual domains pf.test and plain.pf.test
/// (Maildirs under DIR/pfmail), STARTTLS with the test certificate, and example.test relayed to Aviary.
final class PostfixInstance {
    let directory: String
    let port: Int

    init(directory: String, aviaryPort: Int, certificates: String) async throws {
        self.directory = directory
        port = freePort()
        let etc = directory + "/etc"
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/pfmail", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/spool", withIntermediateDirectories: true)
        let nobody = try #require(SystemAccount.named("nobody"))
        chown(directory + "/pfmail", nobody.uid, nobody.gid)
        let postfix = try #require(SystemAccount.named("postfix"))
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        chown(directory + "/data", postfix.uid, postfix.gid)
        let main = """
            compatibility_level = 3.6
            queue_directory = \(directory)/spool
            data_directory = \(directory)/data
            myhostname = postfix.example.test
            mydestination =
            inet_interfaces = loopback-only
            inet_protocols = ipv4
            mynetworks = 127.0.0.0/8
            alias_maps =
            alias_database =
            virtual_mailbox_domains = pf.test, plain.pf.test
            virtual_mailbox_maps = texthash:\(etc)/vmailbox
            virtual_mailbox_base = \(directory)/pfmail
            virtual_uid_maps = static:\(nobody.uid)
            virtual_gid_maps = static:\(nobody.gid)
            transport_maps = texthash:\(etc)/transport
            smtpd_tls_cert_file = \(certificates)/server-chain.pem
            smtpd_tls_key_file = \(certificates)/server.key
            smtpd_tls_security_level = may
            smtp_tls_security_level = may
            smtpd_tls_received_header = yes
            maillog_file = \(directory)/maillog
            maillog_file_prefixes = /tmp, /var
            """
        try SafeFile.writeDurably(Array((main + "\n").utf8), to: etc + "/main.cf")
        try SafeFile.writeDurably(
            Array("carol@pf.test pf.test/carol/\ncarol@plain.pf.test plain.pf.test/carol/\n".utf8), to: etc + "/vmailbox")
        try SafeFile.writeDurably(Array("example.test smtp:[127.0.0.1]:\(aviaryPort)\n".utf8), to: etc + "/transport")
        for name in ["main.cf", "vmailbox", "transport"] { chmod(etc + "/" + name, 0o644) }
        // Debian's master.cf, services not chrooted, smtpd on our address and port, postlog off.
        let prototype = try SafeFile.readText("/etc/postfix/master.cf.proto")
        var lines: [String] = []
        for line in prototype.split(separator: "\n", omittingEmptySubsequences: false) {
            var fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if fields.first == "smtp", fields.count >= 8, fields[1] == "inet" {
                lines.append("127.0.0.1:\(port) inet n - n - - smtpd")
                continue
            }
            if fields.count >= 8, line.first?.isLetter == true, fields[4] == "y" {
                fields[4] = "n"
                lines.append(fields.joined(separator: " "))
                continue
            }
            lines.append(String(line))
        }
        try SafeFile.writeDurably(Array(lines.joined(separator: "\n").utf8), to: etc + "/master.cf")
        _ = try await ToolResult.run("/usr/sbin/postfix", ["-c", etc, "check"], timeout: .seconds(60))
        let started = try await ToolResult.run("/usr/sbin/postfix", ["-c", etc, "start"], timeout: .seconds(60))
        guard started.isSuccess, await waitUntil(timeout: .seconds(30), { canConnect(self.port) }) else {
            // postfix reports to syslog, or to stderr only on a terminal: give it one for the reason.
            let why = try? await ToolResult.run(
                "/usr/bin/script", ["-qc", "/usr/sbin/postfix -c \(etc) check", "/dev/null"], timeout: .seconds(60))
            throw TestSupportError("postfix did not start:\n\(started)\n\(why.map { "\($0)" } ?? "")")
        }
    }

    func stop() async {
        _ = try? await ToolResult.run("/usr/sbin/postfix", ["-c", directory + "/etc", "stop"], timeout: .seconds(60))
    }

    /// Messages delivered to carol@DOMAIN.
    func messages(domain: String) -> [String] {
        let new = directory + "/pfmail/\(domain)/carol/new"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []
        return names.compactMap { try? SafeFile.readText(new + "/" + $0) }
    }

    var log: String { (try? SafeFile.readText(directory + "/maillog")) ?? "" }
}

extension Integration {
    @Suite("Postfix interop", .serialized)
    struct PostfixInterop {
        @Test("Aviary -> Postfix with and without STARTTLS, Postfix -> Aviary over STARTTLS", .enabled(if: Privileges.isRoot))
        func interop() async throws {
            let instance = try TestInstance(
                mainCf: [
                    ("transport_maps", "texthash:DIR/transport"),
                    ("smtpd_tls_cert_file", "DIR/certs/server-chain.pem"), ("smtpd_tls_key_file", "DIR/certs/server.key"),
                ],
                masterCf: [
                    "127.0.0.1:0 inet n - n - - smtpd",
                    "qmgr unix n - n 300 1 qmgr",
                    "local unix - n n - - local",
                    "smtp unix - - n - - smtp -o smtp_tls_security_level=may",
                    "plainsmtp unix - - n - - smtp -o smtp_tls_security_level=none",
                ])
            try await withInstance(instance) { instance in
                try await installCertificates(instance)
                try await instance.start()
                let postfix = try await PostfixInstance(
                    directory: instance.directory + "/postfix", aviaryPort: instance.smtpPort,
                    certificates: instance.directory + "/certs")
                do {
                    try await Self.exchange(instance, postfix)
                } catch {
                    print("postfix log:\n\(postfix.log)")
                    await postfix.stop()
                    throw error
                }
                await postfix.stop()
            }
        }

        static func exchange(_ instance: TestInstance, _ postfix: PostfixInstance) async throws {
            try instance.writeFile("transport", [
                "pf.test smtp:[127.0.0.1]:\(postfix.port)", "plain.pf.test plainsmtp:[127.0.0.1]:\(postfix.port)",
            ])
            // Aviary -> Postfix, STARTTLS.
            let tlsToken = uniqueToken("to-postfix-tls")
            let first = try await instance.swaks(to: "carol@pf.test", ["--header", "Subject: \(tlsToken)"])
            check(first.isSuccess, "\(first)", instance)
            try await require(instance, within: .seconds(30), "Postfix received \(tlsToken)") {
                postfix.messages(domain: "pf.test").contains { $0.contains(tlsToken) }
            }
            let overTLS = postfix.messages(domain: "pf.test").first { $0.contains(tlsToken) } ?? ""
            check(overTLS.contains("with ESMTPS"), "Postfix's Received: shows no TLS:\n\(overTLS)", instance)
            // Aviary -> Postfix in plaintext.
            let plainToken = uniqueToken("to-postfix-plain")
            let second = try await instance.swaks(to: "carol@plain.pf.test", ["--header", "Subject: \(plainToken)"])
            check(second.isSuccess, "\(second)", instance)
            try await require(instance, within: .seconds(30), "Postfix received \(plainToken)") {
                postfix.messages(domain: "plain.pf.test").contains { $0.contains(plainToken) }
            }
            let plain = postfix.messages(domain: "plain.pf.test").first { $0.contains(plainToken) } ?? ""
            check(plain.contains("with ESMTP id") && !plain.contains("with ESMTPS"), "\(plain)", instance)
            // Postfix -> Aviary: Postfix's smtp client relays example.test to Aviary's smtpd with STARTTLS.
            let backToken = uniqueToken("from-postfix")
            let third = try await instance.swaks(
                to: "alice@example.test", port: postfix.port, ["--header", "Subject: \(backToken)"])
            check(third.isSuccess, "\(third)", instance)
            let arrived = try await instance.awaitMessage(for: "alice", containing: backToken, within: .seconds(60))
            check(arrived.contains("by mail.example.test (Aviary) with ESMTPS"), "\(arrived)", instance)
            check(arrived.contains("by postfix.example.test (Postfix)"), "\(arrived)", instance)
        }
    }
}
