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
        #expect(!fine.contains { $0.severity == .error }, "\(fine)")
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
}
