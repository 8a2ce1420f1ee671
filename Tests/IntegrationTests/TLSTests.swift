import AviaryTestSupport
import Foundation
import Testing

/// smtpd with a certificate: port "127.0.0.1:0" offers STARTTLS (may), "127.0.0.3:0" requires it
/// (encrypt), "127.0.0.4:0" is wrapper mode (465).
func makeTLSInstance(certificate: String = "server-chain.pem", key: String = "server.key") throws -> TestInstance {
    try TestInstance(
        mainCf: [
            ("smtpd_tls_cert_file", "DIR/certs/\(certificate)"), ("smtpd_tls_key_file", "DIR/certs/\(key)"),
            ("smtpd_tls_security_level", "may"),
        ],
        masterCf: [
            "127.0.0.1:0 inet n - n - - smtpd",
            "127.0.0.3:0 inet n - n - - smtpd -o smtpd_tls_security_level=encrypt",
            "127.0.0.4:0 inet n - n - - smtpd -o smtpd_tls_wrappermode=yes",
            "qmgr unix n - n 300 1 qmgr",
            "local unix - n n - - local",
        ])
}

/// Makes the instance's test certificates in DIR/certs, readable by the services.
func installCertificates(_ instance: TestInstance) async throws {
    let directory = instance.directory + "/certs"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    _ = try await TestCertificates.make(in: directory)
}

extension Integration {
    @Suite("TLS", .serialized)
    struct TLS {
        @Test("swaks --tls and --tls-on-connect deliver; Received: records the TLS version and cipher; s_client sees STARTTLS")
        func deliverOverTLS() async throws {
            try await withInstance(try makeTLSInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                let token = uniqueToken("starttls")
                let sent = try await instance.swaks(to: "alice@example.test", ["--tls", "--header", "Subject: \(token)"])
                check(sent.isSuccess, "\(sent)", instance)
                let message = try await instance.awaitMessage(for: "alice", containing: token)
                check(message.contains("(using TLSv1.3 with cipher "), "Received: lacks TLS:\n\(message)", instance)
                check(message.contains("with ESMTPS id"), "protocol is not ESMTPS:\n\(message)", instance)

                let wrapped = uniqueToken("wrapped")
                let port = try #require(instance.port(of: "127.0.0.4:0"))
                let onConnect = try await instance.swaks(
                    to: "alice@example.test", port: port, ["--server", "127.0.0.4", "--tls-on-connect", "--header", "Subject: \(wrapped)"])
                check(onConnect.isSuccess, "\(onConnect)", instance)
                _ = try await instance.awaitMessage(for: "alice", containing: wrapped)

                let client = try await instance.run(
                    "openssl",
                    ["s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(instance.smtpPort)", "-brief"],
                    stdin: Array("QUIT\n".utf8), timeout: .seconds(30))
                let output = client.standardOutput + client.standardError
                check(output.contains("CONNECTION ESTABLISHED") && output.contains("Protocol version: TLSv1.3"), "\(client)", instance)
                try await instance.awaitLogLine(containing: "Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher")
            }
        }

        @Test("plaintext pipelined behind STARTTLS is discarded: the MAIL FROM sent with it never counts")
        func startTLSInjection() async throws {
            try await withInstance(try makeTLSInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                let result = try await instance.run(
                    "python3", [clientsDirectory + "/tls_client.py", "injection", String(instance.smtpPort)])
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any], "\(result)")
                let starttls = object["starttls"] as? [String] ?? []
                let rcpt = object["rcpt"] as? [String] ?? []
                check(starttls.first?.hasPrefix("220 2.0.0") == true, "\(object)", instance)
                check(rcpt.first?.hasPrefix("503 5.5.1 Error: need MAIL command") == true, "\(object)", instance)
                try await instance.awaitLogLine(containing: "discarding 1 line(s) sent in plaintext behind STARTTLS")
            }
        }

        @Test("smtpd_tls_security_level = encrypt: MAIL before STARTTLS gets 530 5.7.0; TLS 1.1 is refused")
        func encryptRequired() async throws {
            try await withInstance(try makeTLSInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                let transcript = try await instance.transcript(
                    say("EHLO client.example.test") + say("MAIL FROM:<s@example.test>") + say("QUIT"), service: "127.0.0.3:0")
                check(transcript.codes == [220, 250, 530, 221], "\(transcript)", instance)
                check(transcript.replies[2].contains("5.7.0 Must issue a STARTTLS command first"), "\(transcript)", instance)
                check(transcript.replies[1].contains("STARTTLS"), "\(transcript)", instance)
                let old = try await instance.run(
                    "openssl",
                    ["s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(instance.smtpPort)", "-tls1_1", "-cipher",
                     "DEFAULT@SECLEVEL=0", "-brief"],
                    stdin: Array("QUIT\n".utf8), timeout: .seconds(30))
                check(!(old.standardOutput + old.standardError).contains("CONNECTION ESTABLISHED"), "\(old)", instance)
            }
        }

        @Test("an expired certificate or a key that does not match is a clear error at start; smtpd runs without TLS")
        func badCertificateFiles() async throws {
            for (certificate, key, expected) in [
                ("expired.pem", "expired.key", "smtpd_tls_cert_file DIR/certs/expired.pem: certificate expired on 2024-01-01 00:00:00 UTC"),
                ("server-chain.pem", "other.key", "private key does not match certificate"),
            ] {
                try await withInstance(try makeTLSInstance(certificate: certificate, key: key)) { instance in
                    try await installCertificates(instance)
                    try await instance.start()
                    let transcript = try await instance.transcript(
                        say("EHLO client.example.test") + say("STARTTLS") + say("QUIT"))
                    check(transcript.codes == [220, 250, 454, 221], "\(transcript)", instance)
                    check(!transcript.replies[1].contains("STARTTLS"), "\(transcript)", instance)
                    let line = expected.replacingOccurrences(of: "DIR", with: instance.directory)
                    try await instance.awaitLogLine(containing: line)
                    let encrypt = try await instance.transcript(
                        say("EHLO client.example.test") + say("MAIL FROM:<s@example.test>"), service: "127.0.0.3:0")
                    check(encrypt.codes == [220, 250, 530], "\(encrypt)", instance)
                }
            }
        }
    }
}

/// smtpd with TLS and AUTH; only 127.0.0.1 is in mynetworks, so 127.0.0.2 is a stranger that must log in.
func makeAuthInstance() throws -> TestInstance {
    try TestInstance(
        mainCf: [
            ("smtpd_tls_cert_file", "DIR/certs/server-chain.pem"), ("smtpd_tls_key_file", "DIR/certs/server.key"),
            ("smtpd_sasl_auth_enable", "yes"), ("mynetworks", "127.0.0.1/32"), ("smtpd_auth_failure_delay", "0"),
        ])
}

extension Integration {
    @Suite("SMTP AUTH", .serialized)
    struct SMTPAuth {
        @Test("AUTH is offered only after STARTTLS; PLAIN and LOGIN log in and may relay; a wrong password gets 535 5.7.8")
        func authentication() async throws {
            try await withInstance(try makeAuthInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                let user = "alice@example.test"
                let stranger = ["--local-interface", "127.0.0.2", "--tls"]
                let denied = try await instance.swaks(to: "x@elsewhere.test", stranger + ["--quit-after", "RCPT"])
                check(denied.serverLines.contains { $0.contains("554 5.7.1 <x@elsewhere.test>: Relay access denied") }, "\(denied)", instance)
                for mechanism in ["PLAIN", "LOGIN"] {
                    let relayed = try await instance.swaks(
                        to: "x@elsewhere.test",
                        stranger + ["--auth", mechanism, "--auth-user", user, "--auth-password", TestInstance.password])
                    check(relayed.isSuccess && relayed.serverLines.contains { $0.contains("235 2.7.0 Authentication successful") },
                          "\(relayed)", instance)
                }
                try await instance.awaitLogLine(containing: "sasl_method=LOGIN, sasl_username=alice@example.test")
                let wrong = try await instance.swaks(
                    to: "alice@example.test", stranger + ["--auth", "PLAIN", "--auth-user", user, "--auth-password", "Gu3ss-Me-N0t"])
                check(wrong.serverLines.contains { $0.contains("535 5.7.8 Error: authentication failed") }, "\(wrong)", instance)
                try await instance.awaitLogLine(containing: "localhost[127.0.0.2]: SASL PLAIN authentication failed")
                check(!instance.log().contains("Gu3ss-Me-N0t"), "the password reached the log", instance)

                let result = try await instance.run(
                    "python3",
                    [clientsDirectory + "/tls_client.py", "login", String(instance.smtpPort), user, TestInstance.password,
                     "alice@example.test", "--plain-first"])
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any], "\(result)")
                check(object["error"] is NSNull, "\(object)", instance)
                check(!((object["features_plain"] as? [String]) ?? []).contains("auth"), "\(object)", instance)
                check(((object["auth_plain"] as? [Any])?.first as? Int) == 503, "\(object)", instance)
                check((object["auth_line"] as? String)?.contains("PLAIN") == true, "\(object)", instance)
                _ = try await instance.awaitMessage(for: "alice", containing: "hello over TLS")
            }
        }

        @Test("STARTTLS forgets a login made in plaintext: AUTH is offered again and relaying needs a new login")
        func startTLSForgetsLogin() async throws {
            try await withInstance(
                try TestInstance(mainCf: [
                    ("smtpd_tls_cert_file", "DIR/certs/server-chain.pem"), ("smtpd_tls_key_file", "DIR/certs/server.key"),
                    ("smtpd_sasl_auth_enable", "yes"), ("smtpd_tls_auth_only", "no"), ("mynetworks", "127.0.0.1/32"),
                ])
            ) { instance in
                try await installCertificates(instance)
                try await instance.start()
                let script = """
                    import smtplib, ssl, sys
                    s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), source_address=('127.0.0.2', 0), timeout=30)
                    s.ehlo()
                    s.login(sys.argv[2], sys.argv[3])
                    context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
                    s.starttls(context=context)
                    s.ehlo()
                    print('auth offered' if s.has_extn('auth') else 'no auth')
                    s.mail('alice@example.test')
                    print(s.rcpt('x@elsewhere.test')[0])
                    s.quit()
                    """
                let result = try await instance.run(
                    "python3", ["-c", script, String(instance.smtpPort), "alice@example.test", TestInstance.password])
                check(result.standardOutput == "auth offered\n554\n", "\(result)", instance)
            }
        }
    }
}
