import AviaryAuthentication
import AviaryCore
import AviaryTLS
import AviaryTestSupport
import Foundation
import Testing

/// Signatures Aviary makes, verified by dkimpy (python3-dkim) with the key record Aviary prints, and by
/// Aviary's own verifier.
@Suite("DKIM signing, verified by dkimpy")
struct DKIMSignerTests {
    static let message = Array(
        ("From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: signed\r\n\tby Aviary \r\n"
            + "Date: Mon, 7 Dec 2026 21:00:00 +0000\r\nMessage-ID: <2@example.com>\r\n\r\nHello  Bob, \r\n\r\n\r\n").utf8)

    /// A new private key from `openssl genpkey` (`RSA` or `ED25519`).
    static func key(_ algorithm: String, in directory: TemporaryDirectory) async throws -> SigningKey {
        let path = directory.path + "/\(algorithm).pem"
        var arguments = ["genpkey", "-algorithm", algorithm, "-out", path]
        if algorithm == "RSA" { arguments += ["-pkeyopt", "rsa_keygen_bits:2048"] }
        let child = try ChildProcess(path: "/usr/bin/openssl", arguments: arguments)
        guard await child.wait(timeout: .seconds(60)) == .exited(0) else { throw TestSupportError("openssl genpkey failed") }
        return try #require(SigningKey(pem: Array(try SafeFile.readText(path).utf8)))
    }

    @Test("RSA and Ed25519, relaxed and simple: dkimpy and Aviary verify; a changed body fails in both")
    func signedByAviary() async throws {
        let directory = TemporaryDirectory("dkim-signer")
        let keys = [("rsa", try await Self.key("RSA", in: directory)), ("ed", try await Self.key("ED25519", in: directory))]
        var cases: [(String, [UInt8], String)] = []
        for (selector, key) in keys {
            for canonicalization in DKIMCanonicalization.allCases {
                var signer = DKIMSigner(domain: "example.com", selector: selector, key: key, now: { 1_796_670_000 })
                (signer.headerCanonicalization, signer.bodyCanonicalization) = (canonicalization, canonicalization)
                let field = try #require(signer.signature(for: Self.message))
                let signed = Array(field.utf8) + Self.message
                cases.append(("\(selector)-\(canonicalization)", signed, signer.keyRecord))
                let zone = ["\(selector)._domainkey.example.com": [ZoneDNS.Record.txt([signer.keyRecord])]]
                let ours = DKIMVerifier(dns: ZoneDNS(zone)).verify(message: signed)
                #expect(ours.map(\.result) == [.pass], "\(selector) \(canonicalization): \(ours)\n\(field)")
                var changed = signed
                changed.replaceSubrange(changed.count - 10..<changed.count - 9, with: [UInt8(ascii: "X")])
                #expect(DKIMVerifier(dns: ZoneDNS(zone)).verify(message: changed).map(\.result) == [.fail])
            }
        }
        let input = cases.map { "\($0.0)\t\(Data($0.1).base64EncodedString())\t\($0.2)" }.joined(separator: "\n")
        try SafeFile.writeDurably(Array(input.utf8), to: directory.path + "/cases")
        let output = try await runPythonClient(
            """
            import base64, sys, dkim
            for line in open(sys.argv[2]):
                name, message, record = line.rstrip("\\n").split("\\t")
                message = base64.b64decode(message)
                selector = name.split("-")[0]
                dns = lambda qname, timeout=5: record.encode() if qname.decode().rstrip(".") == selector + "._domainkey.example.com" else None
                good = dkim.verify(message, dnsfunc=dns)
                bad = dkim.verify(message.replace(b"Hello", b"Jello"), dnsfunc=dns)
                print(name, good, bad)
            """, in: directory.path, port: 0, arguments: [directory.path + "/cases"])
        #expect(
            output == """
                rsa-simple True False
                rsa-relaxed True False
                ed-simple True False
                ed-relaxed True False

                """)
    }

    @Test("the key record: RSA as SubjectPublicKeyInfo, Ed25519 as its 32 raw bytes")
    func keyRecords() async throws {
        let directory = TemporaryDirectory("dkim-keys")
        let rsa = DKIMSigner(domain: "example.com", selector: "s", key: try await Self.key("RSA", in: directory))
        let ed = DKIMSigner(domain: "example.com", selector: "s", key: try await Self.key("ED25519", in: directory))
        #expect(rsa.keyRecord.hasPrefix("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"))
        #expect(ed.keyRecord.hasPrefix("v=DKIM1; k=ed25519; p=") && ed.keyRecord.count == "v=DKIM1; k=ed25519; p=".count + 44)
        #expect(SigningKey(pem: Array("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n".utf8)) == nil)
    }
}
