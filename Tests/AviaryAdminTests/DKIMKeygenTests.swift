import AviaryAuthentication
import AviaryCore
import AviaryDNS
import AviaryTLS
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import AviaryAdmin

@Suite("aviary dkim keygen")
struct DKIMKeygenTests {
    /// The record keygen printed, served for `selector._domainkey.domain` only.
    struct OneRecord: TXTLookup {
        var name: String
        var record: String
        func txtRecords(_ asked: String) -> DNSLookup<[[UInt8]]> { asked == name ? .found([Array(record.utf8)]) : .notFound }
    }

    @Test("RSA and Ed25519: a 0600 key file, a record that verifies what the key signs, strings of at most 255 characters; an existing key is never replaced")
    func keygen() throws {
        let directory = TemporaryDirectory("dkim-keygen")
        let message = Array("From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n".utf8)
        for (type, selector) in [("rsa", "rsa2026"), ("ed25519", "ed2026")] {
            let generated = try DKIMKeyGenerator.generate(
                domain: "Example.COM", selector: selector, type: type, bits: 2048, directory: directory.path)
            var status = stat()
            #expect(stat(generated.path, &status) == 0 && status.st_mode & 0o777 == 0o600)
            let key = try #require(SigningKey(pem: Array(try SafeFile.readText(generated.path).utf8)))
            let signer = DKIMSigner(domain: "example.com", selector: selector, key: key)
            let signed = Array(try #require(signer.signature(for: message)).utf8) + message
            let dns = OneRecord(name: "\(selector)._domainkey.example.com", record: generated.record)
            #expect(DKIMVerifier(dns: dns).verify(message: signed).map(\.result) == [.pass], "\(type)")
            #expect(generated.zoneLine.hasPrefix("\(selector)._domainkey.example.com.\tIN\tTXT\t( \"v=DKIM1; k=\(type); p="))
            let strings = generated.zoneLine.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            #expect(strings.allSatisfy { $0.count <= 255 } && strings.joined() == generated.record)
            #expect(throws: AdminError.self) {
                try DKIMKeyGenerator.generate(domain: "example.com", selector: selector, type: type, bits: 2048, directory: directory.path)
            }
        }
        #expect(throws: AdminError.self) {
            try DKIMKeyGenerator.generate(domain: "example.com", selector: "weak", type: "rsa", bits: 512, directory: directory.path)
        }
        #expect(throws: AdminError.self) {
            try DKIMKeyGenerator.generate(domain: "example.com", selector: "x", type: "dsa", bits: 2048, directory: directory.path)
        }
        #expect(throws: AdminError.self) {
            try DKIMKeyGenerator.generate(domain: "example.com", selector: "../etc", type: "rsa", bits: 2048, directory: directory.path)
        }
    }
}
