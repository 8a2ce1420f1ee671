import AviaryTLS
import AviaryTestSupport
import Testing

@Suite("TLS contexts")
struct TLSContextTests {
    let directory = TemporaryDirectory("tls")

    func certificates() async throws -> TestCertificates {
        try await TestCertificates.make(in: directory.path)
    }

    @Test("a certificate chain and its key make a server context")
    func serverContext() async throws {
        let certs = try await certificates()
        let context = try TLSContext.server(
            certificateFile: TLSFile(certs.serverChain, parameter: "smtpd_tls_cert_file"),
            keyFile: TLSFile(certs.serverKey, parameter: "smtpd_tls_key_file")
        )
        #expect(context.role == .server)
    }

    @Test("an expired certificate is refused with its date")
    func expired() async throws {
        let certs = try await certificates()
        let error = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(certs.expiredCertificate, parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(certs.expiredKey, parameter: "smtpd_tls_key_file")
            )
        }
        #expect(error?.code == .certificateExpired)
        #expect(
            error?.message
                == "smtpd_tls_cert_file \(certs.expiredCertificate): certificate expired on 2024-01-01 00:00:00 UTC"
        )
    }

    @Test("a certificate not valid yet is refused with its date")
    func notYetValid() async throws {
        let certs = try await certificates()
        let error = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(certs.futureCertificate, parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(certs.futureKey, parameter: "smtpd_tls_key_file")
            )
        }
        #expect(error?.code == .certificateNotYetValid)
        #expect(error?.message.hasSuffix("certificate not valid before 2099-01-01 00:00:00 UTC") == true)
    }

    @Test("a key that does not match the certificate is refused")
    func mismatchedKey() async throws {
        let certs = try await certificates()
        let error = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(certs.serverChain, parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(certs.otherKey, parameter: "smtpd_tls_key_file")
            )
        }
        #expect(error?.code == .keyMismatch)
        #expect(
            error?.message
                == "smtpd_tls_key_file \(certs.otherKey): private key does not match certificate in "
                + "smtpd_tls_cert_file \(certs.serverChain)"
        )
    }

    @Test("a missing certificate file is named with the system's reason")
    func missingCertificate() async throws {
        let certs = try await certificates()
        let error = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(directory.path + "/absent.pem", parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(certs.serverKey, parameter: "smtpd_tls_key_file")
            )
        }
        #expect(error?.code == .unreadableFile)
        #expect(
            error?.message == "smtpd_tls_cert_file \(directory.path)/absent.pem: cannot read: No such file or directory"
        )
    }

    @Test("a missing key file is named with the system's reason")
    func missingKey() async throws {
        let certs = try await certificates()
        let error = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(certs.serverChain, parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(directory.path + "/absent.key", parameter: "smtpd_tls_key_file")
            )
        }
        #expect(
            error?.message == "smtpd_tls_key_file \(directory.path)/absent.key: cannot read: No such file or directory"
        )
    }

    @Test("a file that holds no certificate or no key is refused with OpenSSL's reason")
    func notPEM() async throws {
        let certs = try await certificates()
        let certificateError = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(certs.directory + "/ca.cnf", parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(certs.serverKey, parameter: "smtpd_tls_key_file")
            )
        }
        #expect(certificateError?.code == .invalidCertificate)
        #expect(certificateError?.message.contains("cannot load certificate chain: error:") == true)
        let keyError = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(certs.serverChain, parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(certs.serverCertificate, parameter: "smtpd_tls_key_file")
            )
        }
        #expect(keyError?.code == .invalidKey)
    }

    @Test("client contexts load a CA file and refuse a missing one")
    func clientContext() async throws {
        let certs = try await certificates()
        let context = try TLSContext.client(
            caFile: TLSFile(certs.caCertificate, parameter: "smtp_tls_CAfile"),
            useSystemStore: true
        )
        #expect(context.role == .client)
        let error = #expect(throws: TLSError.self) {
            try TLSContext.client(
                caFile: TLSFile(directory.path + "/absent.pem", parameter: "smtp_tls_CAfile"),
                useSystemStore: false
            )
        }
        #expect(
            error?.message == "smtp_tls_CAfile \(directory.path)/absent.pem: cannot read: No such file or directory"
        )
    }

    @Test("a cipher list OpenSSL does not know is refused")
    func badCiphers() async throws {
        let certs = try await certificates()
        let error = #expect(throws: TLSError.self) {
            try TLSContext.server(
                certificateFile: TLSFile(certs.serverChain),
                keyFile: TLSFile(certs.serverKey),
                ciphers: "NOSUCHCIPHER"
            )
        }
        #expect(error?.code == .configuration)
    }

    @Test(
        "Postfix protocol settings become a version range",
        arguments: [
            (">=TLSv1.2", TLSProtocolVersion.tls12...TLSProtocolVersion.tls13),
            (">=TLSv1 <=TLSv1.2", .tls1...TLSProtocolVersion.tls12),
            ("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", .tls12...TLSProtocolVersion.tls13),
            ("TLSv1.3", .tls13...TLSProtocolVersion.tls13),
            ("", .tls1...TLSProtocolVersion.tls13),
        ]
    )
    func protocolRanges(setting: String, expected: ClosedRange<TLSProtocolVersion>) throws {
        #expect(try TLSProtocolVersion.range(postfixProtocols: setting) == expected)
    }

    @Test("Postfix protocol settings with unknown names or no version left are refused")
    func badProtocolRanges() {
        for setting in [">=TLSv1.4x", "!TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3", "<=SSLv3"] {
            #expect(throws: TLSError.self) {
                try TLSProtocolVersion.range(postfixProtocols: setting, parameter: "smtpd_tls_protocols")
            }
        }
    }
}
