import ArgumentParser
import AviaryAuthentication
import AviaryCore
import AviaryTLS

#if canImport(Glibc)
import Glibc
#endif

extension AviaryCommand {
    /// `aviary dkim keygen DOMAIN SELECTOR`: a signing key and the DNS record that publishes it, like OpenDKIM's
    /// opendkim-genkey.
    public struct DKIM: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "dkim", abstract: "DKIM keys.", subcommands: [Keygen.self])

        public init() {}

        public struct Keygen: ParsableCommand {
            public static let configuration = CommandConfiguration(
                abstract: "Write a DKIM private key and print the DNS TXT record that publishes it.",
                discussion: """
                    Writes DIRECTORY/SELECTOR.private (mode 0600; an existing file is never replaced) and prints \
                    the record for SELECTOR._domainkey.DOMAIN, split into strings of at most 255 characters.
                    """)

            @Option(name: .shortAndLong, help: "Where to write the key.") var directory = "."
            @Option(name: .shortAndLong, help: "rsa or ed25519.") var type = "rsa"
            @Option(name: .shortAndLong, help: "RSA key size in bits (at least 1024).") var bits = 2048
            @Argument(help: "The signing domain (d=).") var domain: String
            @Argument(help: "The selector (s=).") var selector: String

            public init() {}

            public func run() throws {
                do {
                    let key = try DKIMKeyGenerator.generate(
                        domain: domain, selector: selector, type: type, bits: bits, directory: directory)
                    printError("aviary: wrote \(key.path)")
                    print(key.zoneLine)
                } catch {
                    printError("aviary: fatal: \(error)")
                    throw ExitCode.failure
                }
            }
        }
    }
}

/// Makes a DKIM key pair: the private key to a file, the public key as the record to publish.
public enum DKIMKeyGenerator {
    public struct Generated: Sendable {
        /// The private key file.
        public var path: String
        /// The TXT record's text (`v=DKIM1; k=rsa; p=...`).
        public var record: String
        /// The record as a zone-file line, its text split into quoted strings of at most 255 characters.
        public var zoneLine: String
    }

    public static func generate(domain: String, selector: String, type: String, bits: Int, directory: String) throws(AdminError)
        -> Generated
    {
        let domain = domain.lowercased().trimmingWhitespace()
        let selector = selector.lowercased().trimmingWhitespace()
        let isName = { (name: String) in
            !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }
                && !name.hasPrefix(".") && !name.hasSuffix(".")
        }
        guard isName(domain), isName(selector) else { throw AdminError("\"\(domain)\" and \"\(selector)\" must be DNS names") }
        let kind: SignatureKey.Kind
        switch type.lowercased() {
        case "rsa":
            guard (1024...8192).contains(bits) else { throw AdminError("RSA keys have 1024 to 8192 bits, not \(bits)") }
            kind = .rsa(bits: bits)
        case "ed25519": kind = .ed25519
        default: throw AdminError("unknown key type \"\(type)\" (rsa or ed25519)")
        }
        guard let key = SigningKey.generate(kind) else { throw AdminError("OpenSSL could not make a \(type) key") }
        let path = directory + "/" + selector + ".private"
        // An existing key may be the one the DNS publishes: replacing it would break signing.
        guard access(path, F_OK) != 0 else { throw AdminError("\(path) exists; remove it first or choose another selector") }
        do {
            try SafeFile.writeDurably(key.pem, to: path, mode: 0o600)
        } catch {
            throw AdminError("cannot write \(path): \(error)")
        }
        let record = DKIMSigner(domain: domain, selector: selector, key: key).keyRecord
        var strings: [String] = []
        var rest = Substring(record)
        while !rest.isEmpty {
            strings.append("\"" + rest.prefix(255) + "\"")
            rest = rest.dropFirst(255)
        }
        return Generated(
            path: path, record: record,
            zoneLine: "\(selector)._domainkey.\(domain).\tIN\tTXT\t( " + strings.joined(separator: "\n\t") + " )")
    }
}
