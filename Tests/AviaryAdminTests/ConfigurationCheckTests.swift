import AviaryAdmin
import AviaryConfig
import AviaryCore
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("aviary check")
struct ConfigurationCheckTests {
    static func check(_ mainCf: String, in directory: TemporaryDirectory) throws -> [ConfigurationDiagnostic] {
        try SafeFile.writeDurably(Array(mainCf.utf8), to: directory.path + "/main.cf")
        try SafeFile.writeDurably(Array("qmgr unix n - n 300 1 qmgr\n".utf8), to: directory.path + "/master.cf")
        return ConfigurationCheck.run(directory: directory.path)
    }

    @Test("an expired certificate and a key that does not match are errors that name the file and the reason")
    func certificates() async throws {
        let directory = TemporaryDirectory("check")
        let certificates = try await TestCertificates.make(in: directory.path + "/certs")
        let expired = try Self.check(
            "smtpd_tls_cert_file = \(certificates.expiredCertificate)\nsmtpd_tls_key_file = \(certificates.expiredKey)\n",
            in: directory)
        #expect(expired.contains {
            $0.severity == .error && $0.message.contains("smtpd_tls_cert_file \(certificates.expiredCertificate): certificate expired on")
        }, "\(expired)")
        let mismatched = try Self.check(
            "smtpd_tls_cert_file = \(certificates.serverChain)\nsmtpd_tls_key_file = \(certificates.otherKey)\n", in: directory)
        #expect(mismatched.contains { $0.severity == .error && $0.message.contains("does not match") }, "\(mismatched)")
        let fine = try Self.check(
            "smtpd_tls_cert_file = \(certificates.serverChain)\nsmtpd_tls_key_file = \(certificates.serverKey)\n", in: directory)
        #expect(!fine.contains { $0.message.contains("tls_") }, "\(fine)")
        let soon = try Self.check(
            "smtpd_tls_cert_file = \(certificates.soonCertificate)\nsmtpd_tls_key_file = \(certificates.soonKey)\n", in: directory)
        #expect(soon.contains {
            $0.severity == .warning && $0.message.contains("smtpd_tls_cert_file \(certificates.soonCertificate): certificate expires on")
                && ($0.message.contains("(in 9 day(s))") || $0.message.contains("(in 10 day(s))"))
        }, "\(soon)")
        #expect(!soon.contains { $0.severity == .error }, "\(soon)")
        let missing = try Self.check(
            "smtpd_tls_cert_file = \(certificates.serverChain)\nsmtpd_tls_key_file = \(directory.path)/none.key\n", in: directory)
        #expect(missing.contains {
            $0.severity == .error && $0.message.contains("smtpd_tls_key_file \(directory.path)/none.key: cannot read: No such file")
        }, "\(missing)")
    }

    @Test("a certificate set by a master.cf -o override is checked too, and reported with its service line")
    func overriddenCertificate() async throws {
        let directory = TemporaryDirectory("check")
        let certificates = try await TestCertificates.make(in: directory.path + "/certs")
        try SafeFile.writeDurably(
            Array("smtpd_tls_cert_file = \(certificates.serverChain)\nsmtpd_tls_key_file = \(certificates.serverKey)\n".utf8),
            to: directory.path + "/main.cf")
        try SafeFile.writeDurably(
            Array("""
                smtp inet n - n - - smtpd
                pop3s inet n - n - - pop3d -o pop3d_tls_wrappermode=yes
                  -o pop3d_tls_cert_file=\(certificates.expiredCertificate) -o pop3d_tls_key_file=\(certificates.expiredKey)
                qmgr unix n - n 300 1 qmgr

                """.utf8), to: directory.path + "/master.cf")
        let problems = ConfigurationCheck.run(directory: directory.path).filter { $0.message.contains("_tls_") }
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first.map {
            $0.severity == .error && $0.file.hasSuffix("master.cf") && $0.line == 2
                && $0.message.contains("pop3d_tls_cert_file \(certificates.expiredCertificate): certificate expired on 2024-01-01")
        } == true, "\(problems)")
        #expect(ConfigurationCheck.startProblems(directory: directory.path).filter { $0.message.contains("_tls_") } == problems)
    }

    @Test("smtp_tls_CAfile that mail_owner cannot read is an error (smtp reads it after dropping privileges)",
        .enabled(if: getuid() == 0, "needs root to check as another account"))
    func clientCAFile() async throws {
        let directory = TemporaryDirectory("check")
        chmod(directory.path, 0o755)
        let certificates = try await TestCertificates.make(in: directory.path + "/certs")
        chmod(certificates.directory, 0o755)
        chmod(certificates.caCertificate, 0o600)
        let mainCf = "mail_owner = nobody\nsmtp_tls_security_level = may\nsmtp_tls_CAfile = \(certificates.caCertificate)\n"
        let refused = try Self.check(mainCf, in: directory)
        #expect(refused.contains {
            $0.severity == .error && $0.parameter == "smtp_tls_CAfile" && $0.message.contains("is not readable by nobody")
        }, "\(refused)")
        chmod(certificates.caCertificate, 0o644)
        #expect(try !Self.check(mainCf, in: directory).contains { $0.parameter == "smtp_tls_CAfile" })
    }

    @Test("lookup tables named by transport_maps and check_*_access are read and their errors reported")
    func tables() throws {
        let directory = TemporaryDirectory("check")
        try SafeFile.writeDurably(Array("example.com\n".utf8), to: directory.path + "/transport")
        let problems = try Self.check(
            "transport_maps = texthash:\(directory.path)/transport\n"
                + "smtpd_recipient_restrictions = check_recipient_access texthash:\(directory.path)/missing, reject_unauth_destination\n",
            in: directory)
        #expect(problems.contains { $0.message.contains("\"example.com\" has no value") }, "\(problems)")
        #expect(problems.contains { $0.file.hasSuffix("/missing") || $0.message.contains("missing") }, "\(problems)")
    }

    @Test("mailbox_size_limit below message_size_limit is an error; the defaults and 0 (no limit) are fine")
    func sizeLimits() throws {
        let directory = TemporaryDirectory("check")
        let small = try Self.check("mailbox_size_limit = 1000000\n", in: directory)
        #expect(small.contains {
            $0.severity == .error && $0.parameter == "mailbox_size_limit"
                && $0.message.contains("smaller than message_size_limit (10240000)")
        }, "\(small)")
        #expect(try !Self.check("", in: directory).contains { $0.parameter == "mailbox_size_limit" })
        #expect(try !Self.check("mailbox_size_limit = 0\n", in: directory).contains { $0.parameter == "mailbox_size_limit" })
    }

    @Test("a master.cf service that needs TLS while its certificate parameter is empty is reported with its line")
    func tlsServiceWithoutCertificate() throws {
        let directory = TemporaryDirectory("check")
        try SafeFile.writeDurably(Array("".utf8), to: directory.path + "/main.cf")
        try SafeFile.writeDurably(
            Array("""
                smtp inet n - n - - smtpd
                submission inet n - n - - smtpd
                  -o smtpd_tls_security_level=encrypt
                imaps inet n - n - - imapd -o imapd_tls_wrappermode=yes
                qmgr unix n - n 300 1 qmgr

                """.utf8), to: directory.path + "/master.cf")
        let problems = ConfigurationCheck.run(directory: directory.path).filter { $0.parameter?.hasSuffix("_tls_cert_file") == true }
        #expect(problems.map(\.line) == [2, 4], "\(problems)")
        #expect(problems.first?.message.contains("service submission needs TLS (smtpd_tls_security_level = encrypt)") == true)
        #expect(problems.last?.message.contains("imapd_tls_cert_file is empty") == true)
    }

    @Test("virtual_mailbox_base that the delivering account cannot write is an error; a writable one is fine")
    func mailboxBaseWritable() throws {
        let directory = TemporaryDirectory("check")
        chmod(directory.path, 0o755)  // the delivering account must reach it
        let base = directory.path + "/vmail"
        try SafeFile.makeDirectories(base + "/existing", mode: 0o555)
        chmod(base, 0o555)
        let mainCf = "mail_owner = nobody\nvirtual_mailbox_domains = example.test\nvirtual_mailbox_base = \(base)/existing/new\n"
        let refused = try Self.check(mainCf, in: directory)
        #expect(refused.contains {
            $0.severity == .error && $0.parameter == "virtual_mailbox_base" && $0.message.contains("is not writable by")
        }, "\(refused)")
        chmod(base + "/existing", 0o777)
        #expect(try !Self.check(mainCf, in: directory).contains { $0.parameter == "virtual_mailbox_base" })
    }

    @Test("aviary check creates a missing queue tree, as postfix check does, and then nothing more")
    func createsQueue() throws {
        let directory = TemporaryDirectory("check")
        let mainCf = "queue_directory = \(directory.path)/spool\nmail_owner = nobody\n"
        try SafeFile.writeDurably(Array(mainCf.utf8), to: directory.path + "/main.cf")
        var notes: [String] = []
        #expect(ConfigurationCheck.createQueueDirectories(directory: directory.path) { notes.append($0) }.isEmpty)
        #expect(notes.count == 1 && notes[0].contains("created the missing queue directories"), "\(notes)")
        #expect(SafeFile.isDirectory(directory.path + "/spool/maildrop") && SafeFile.isDirectory(directory.path + "/spool/incoming"))
        #expect(ConfigurationCheck.createQueueDirectories(directory: directory.path) { notes.append($0) }.isEmpty)
        #expect(notes.count == 1)
    }

    @Test("a missing mail_spool_directory is reported when local delivers there, with the mkdir and chown that fix it")
    func mailSpool() throws {
        let directory = TemporaryDirectory("check")
        try SafeFile.writeDurably(
            Array("mail_spool_directory = \(directory.path)/mail\n".utf8), to: directory.path + "/main.cf")
        try SafeFile.writeDurably(Array("local unix - n n - - local\n".utf8), to: directory.path + "/master.cf")
        let missing = ConfigurationCheck.run(directory: directory.path)
        #expect(missing.contains {
            $0.parameter == "mail_spool_directory" && $0.message.contains("\(directory.path)/mail does not exist")
                && $0.message.contains("fix: mkdir -m 2775 \(directory.path)/mail && chown root:mail \(directory.path)/mail")
        }, "\(missing)")
        try SafeFile.makeDirectories(directory.path + "/mail", mode: 0o755)
        #expect(!ConfigurationCheck.run(directory: directory.path).contains { $0.parameter == "mail_spool_directory" })
    }

    @Test("maillog_file in a directory that does not exist is reported; one that can be created is fine")
    func logFile() throws {
        let directory = TemporaryDirectory("check")
        let problems = try Self.check("maillog_file = \(directory.path)/log/maillog\n", in: directory)
        #expect(problems.contains {
            $0.parameter == "maillog_file" && $0.message.contains("maillog_file \(directory.path)/log/maillog: \(directory.path)/log does not exist;")
        }, "\(problems)")
        try SafeFile.makeDirectories(directory.path + "/log", mode: 0o755)
        #expect(try !Self.check("maillog_file = \(directory.path)/log/maillog\n", in: directory).contains {
            $0.parameter == "maillog_file"
        })
    }

    @Test("a queue directory or queue file with the wrong owner is reported with the chown that fixes it",
        .enabled(if: getuid() == 0, "needs root to give files away"))
    func queueOwnership() throws {
        let directory = TemporaryDirectory("check")
        let spool = directory.path + "/spool"
        let mainCf = "queue_directory = \(spool)\nmail_owner = nobody\n"
        try SafeFile.writeDurably(Array(mainCf.utf8), to: directory.path + "/main.cf")
        _ = ConfigurationCheck.createQueueDirectories(directory: directory.path) { _ in }
        #expect(try !Self.check(mainCf, in: directory).contains { $0.parameter == "queue_directory" })
        chown(spool + "/hold", 0, 0)
        try SafeFile.writeDurably(Array("x".utf8), to: spool + "/deferred/A/4XYZ12345", mode: 0o600)
        let problems = try Self.check(mainCf, in: directory).filter { $0.parameter == "queue_directory" }
        #expect(problems.contains {
            $0.message.contains("queue directory \(spool)/hold is owned by root, not nobody")
                && $0.message.contains("chown nobody \(spool)/hold")
        }, "\(problems)")
        #expect(problems.contains {
            $0.message.contains("1 file(s) in \(spool)/deferred not owned by nobody")
                && $0.message.contains("fix: chown -R nobody \(spool)/deferred")
        }, "\(problems)")
        // master puts the directory right as it starts; the file stays: only the file is mentioned at start.
        try SafeFile.writeDurably(Array("qmgr unix n - n 300 1 qmgr\n".utf8), to: directory.path + "/master.cf")
        #expect(ConfigurationCheck.startProblems(directory: directory.path).filter { $0.parameter == "queue_directory" }.count == 1)
    }
}
