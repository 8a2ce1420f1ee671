// scripts/install.sh as a new user runs it, into a scratch root (`--root`): nothing on this host changes, no
// account is made, no port is bound. Then the installed aviary checks the installed configuration, as the
// issue's new user would before `aviary start` (which, as root with the installed master.cf, binds ports 25,
// 110, 143, ...: not in a test).

import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("install.sh into a scratch root, then aviary check")
struct InstallTests {
    /// Installs into a new root, with Debian's snakeoil certificate and key in it when `certificates` is
    /// given, and returns the root, install.sh's output and what the installed `aviary check` says about the
    /// installed configuration (pointed at the scratch root's queue, spool and certificate).
    static func installAndCheck(snakeoil certificates: TestCertificates?) async throws
        -> (root: TemporaryDirectory, install: ToolResult, check: ToolResult)
    {
        let root = TemporaryDirectory("install")
        if let certificates {
            try SafeFile.makeDirectories(root.path + "/etc/ssl/certs", mode: 0o755)
            try SafeFile.makeDirectories(root.path + "/etc/ssl/private", mode: 0o710)
            try SafeFile.writeDurably(
                try SafeFile.readAll(certificates.serverChain), to: root.path + "/etc/ssl/certs/ssl-cert-snakeoil.pem",
                mode: 0o644)
            try SafeFile.writeDurably(
                try SafeFile.readAll(certificates.serverKey), to: root.path + "/etc/ssl/private/ssl-cert-snakeoil.key",
                mode: 0o640)
        }
        let install = try await ToolResult.run(
            "/bin/bash",
            [SubmissionInstance.repositoryRoot + "/scripts/install.sh", "--root", root.path, "--no-systemd",
                "--from", SubmissionInstance.binaries],
            timeout: .seconds(120))
        guard install.isSuccess else { return (root, install, install) }
        // The installed main.cf names paths on the real system; a few lines at its end (later lines win) point
        // them into the scratch root, so that the check reads and creates nothing outside it.
        let mainCf = root.path + "/etc/aviary/main.cf"
        var text = String(decoding: try SafeFile.readAll(mainCf), as: UTF8.self)
        text = text.replacingOccurrences(of: "= /etc/ssl/", with: "= \(root.path)/etc/ssl/")
        text += """
            queue_directory = \(root.path)/var/spool/aviary
            mail_spool_directory = \(root.path)/var/mail
            virtual_mailbox_maps = passwd-file:\(root.path)/etc/aviary/users.example
            virtual_mailbox_base = \(root.path)/var/mail/vhosts
            mail_owner = nobody

            """
        try SafeFile.writeDurably(Array(text.utf8), to: mainCf, mode: 0o644)
        let check = try await ToolResult.run(
            root.path + "/usr/local/libexec/aviary/aviary", ["check", "-c", root.path + "/etc/aviary"],
            timeout: .seconds(60))
        return (root, install, check)
    }

    @Test("with Debian's snakeoil certificate, the installed main.cf names it and aviary check finds nothing wrong with TLS")
    func withSnakeoil() async throws {
        let scratch = TemporaryDirectory("install-certs")
        let certificates = try await TestCertificates.make(in: scratch.path)
        let (root, install, check) = try await Self.installAndCheck(snakeoil: certificates)
        #expect(install.isSuccess, "\(install)")
        #expect(install.standardError.contains("TLS with the ssl-cert snakeoil certificate"), "\(install)")
        let mainCf = String(decoding: try SafeFile.readAll(root.path + "/etc/aviary/main.cf"), as: UTF8.self)
        #expect(mainCf.contains("smtpd_tls_cert_file = \(root.path)/etc/ssl/certs/ssl-cert-snakeoil.pem"))
        // Without etc/passwd in the scratch root install.sh makes no accounts and leaves the queue and
        // /var/mail/vhosts to the installing user, which the check (mail_owner = nobody) reports; nothing else.
        #expect(check.status != nil, "\(check)")
        #expect(!check.standardError.contains("tls_"), "\(check)")
        var vhosts = stat()
        #expect(stat(root.path + "/var/mail/vhosts", &vhosts) == 0 && vhosts.st_mode & 0o7777 == 0o750)
    }

    @Test("without a certificate, install.sh says so and aviary check names each TLS-only service and what to set")
    func withoutCertificate() async throws {
        let (_, install, check) = try await Self.installAndCheck(snakeoil: nil)
        #expect(install.isSuccess, "\(install)")
        #expect(install.standardError.contains("no certificate yet"), "\(install)")
        let warnings = check.standardError.split(separator: "\n").filter { $0.contains("_tls_cert_file is empty") }
        for service in ["submission", "submissions", "pop3s", "imaps"] {
            #expect(warnings.contains { $0.contains("service \(service) needs TLS") }, "\(check)")
        }
        #expect(warnings.allSatisfy { $0.contains("set smtpd_tls_cert_file and smtpd_tls_key_file") }, "\(check)")
        #expect(warnings.count == 4, "\(check)")
    }
}
