import AviaryAdmin
import AviaryConfig
import AviaryCore
import AviaryTestSupport
import Testing

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
}
