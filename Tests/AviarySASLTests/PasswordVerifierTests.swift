import AviarySASL
import AviaryTestSupport
import AviaryUsers
import Foundation
import Testing

@Suite("PasswordVerifier")
struct PasswordVerifierTests {
    static let schemes = ["SHA512-CRYPT", "SHA256-CRYPT", "MD5-CRYPT", "YESCRYPT", "BLF-CRYPT"]

    @Test("a hash made now verifies its password and refuses another", arguments: schemes)
    func schemeRoundTrip(scheme: String) throws {
        try #require(scheme != "BLF-CRYPT" || PasswordVerifier.supportsCryptMethod("$2b$"))
        let stored = try PasswordVerifier.makeHash("correct horse", scheme: scheme, cost: scheme == "BLF-CRYPT" ? 5 : 0)
        #expect(stored.scheme == scheme)
        #expect(PasswordVerifier.verify("correct horse", against: stored) == .match)
        #expect(PasswordVerifier.verify("correct horsE", against: stored) == .mismatch)
        #expect(PasswordVerifier.verify("", against: stored) == .mismatch)
        // The same hash without a scheme is CRYPT: crypt(3) decides by its $id$.
        let bare = PasswordHash(stored.hash)
        #expect(bare.scheme == "CRYPT")
        #expect(PasswordVerifier.verify("correct horse", against: bare) == .match)
    }

    @Test("fixed vectors from another implementation verify")
    func fixedVectors() {
        // Python's crypt module (libxcrypt underneath) with fixed salts.
        let yescrypt = PasswordHash("$y$j9T$abcdefghijklmnop$3dL1LkYnZM.OVXuVdnnaKVDlLYT92dRwOzDZ5XiVCe.")
        #expect(PasswordVerifier.verify("secret", against: yescrypt) == .match)
        #expect(PasswordVerifier.verify("Secret", against: yescrypt) == .mismatch)
        // glibc's documented SHA-512 example (Drepper's specification, "rounds=" omitted).
        let sha512 = PasswordHash(
            "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        )
        #expect(PasswordVerifier.verify("Hello world!", against: sha512) == .match)
    }

    @Test("hashes made by python3's crypt module verify", arguments: ["METHOD_SHA512", "METHOD_SHA256"])
    func pythonHashes(method: String) async throws {
        let directory = TemporaryDirectory("python-crypt")
        let output = directory.path + "/hash"
        let script =
            "import warnings; warnings.simplefilter('ignore'); import crypt; "
            + "print(crypt.crypt('p@ss w0rd', crypt.mksalt(crypt.\(method))))"
        guard
            let process = try? ChildProcess(
                path: "/usr/bin/python3",
                arguments: ["-c", script],
                standardOutput: output
            )
        else { return }
        #expect(await process.wait(timeout: .seconds(30)) == .exited(0))
        let hash = try String(contentsOfFile: output, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let scheme = method == "METHOD_SHA512" ? "SHA512-CRYPT" : "SHA256-CRYPT"
        let stored = PasswordHash(scheme: scheme, hash: hash)
        #expect(PasswordVerifier.verify("p@ss w0rd", against: stored) == .match)
        #expect(PasswordVerifier.verify("p@ss w0rd ", against: stored) == .mismatch)
    }

    @Test("PLAIN and CLEARTEXT compare the password itself")
    func plain() {
        for scheme in ["PLAIN", "CLEARTEXT", "plain"] {
            let stored = PasswordHash(scheme: scheme, hash: "sesame")
            #expect(PasswordVerifier.verify("sesame", against: stored) == .match)
            #expect(PasswordVerifier.verify("sesam", against: stored) == .mismatch)
            #expect(PasswordVerifier.verify("sesame!", against: stored) == .mismatch)
        }
        #expect(PasswordVerifier.verify([0xC3, 0xA9], against: PasswordHash("{PLAIN}é")) == .match)
    }

    @Test("an empty stored password never verifies", arguments: ["{PLAIN}", "{CRYPT}", "{SHA512-CRYPT}", "{YESCRYPT}"])
    func emptyStoredPassword(field: String) {
        #expect(PasswordVerifier.verify("", against: PasswordHash(field)) == .mismatch)
        #expect(PasswordVerifier.verify("x", against: PasswordHash(field)) == .mismatch)
    }

    @Test("unknown schemes and malformed hashes are unusable, with a reason")
    func unusable() throws {
        let unknown = PasswordVerifier.verify("x", against: PasswordHash("{ARGON2ID}$argon2id$v=19$..."))
        #expect(unknown == .unusable(reason: "unknown password scheme {ARGON2ID}"))
        let sha512 = try PasswordVerifier.makeHash("x", scheme: "SHA512-CRYPT")
        guard
            case .unusable(let reason) = PasswordVerifier.verify(
                "x",
                against: PasswordHash(scheme: "SHA256-CRYPT", hash: sha512.hash)
            )
        else {
            Issue.record("a $6$ hash under {SHA256-CRYPT} should be unusable")
            return
        }
        #expect(reason.contains("$5$"))
        guard case .unusable(let malformed) = PasswordVerifier.verify("x", against: PasswordHash("$6$"))
        else {
            Issue.record("a bare $6$ should be unusable")
            return
        }
        #expect(!malformed.isEmpty)
        guard case .unusable = PasswordVerifier.verify("x", against: PasswordHash("$9$nonsense$")) else {
            Issue.record("an unknown $id$ should be unusable")
            return
        }
    }

    @Test("a password with a NUL byte never matches")
    func nulByte() throws {
        let stored = try PasswordVerifier.makeHash("abc", scheme: "SHA512-CRYPT")
        #expect(PasswordVerifier.verify([0x61, 0x62, 0x63, 0x00, 0x64], against: stored) == .mismatch)
        #expect(PasswordVerifier.verify([0x61, 0x62, 0x63, 0x00], against: stored) == .mismatch)
    }

    @Test("makeHash refuses schemes it cannot make")
    func makeHashRefuses() {
        #expect(throws: PasswordHashError.self) { try PasswordVerifier.makeHash("x", scheme: "PLAIN") }
        #expect(throws: PasswordHashError.self) { try PasswordVerifier.makeHash("x", scheme: "NOPE") }
    }
}

@Suite("SASLBase64")
struct SASLBase64Tests {
    @Test("encodes and decodes RFC 4648 test vectors")
    func vectors() {
        let vectors = [
            "": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
            "foobar": "Zm9vYmFy",
        ]
        for (plain, encoded) in vectors {
            #expect(SASLBase64.encode(Array(plain.utf8)) == encoded)
            #expect(SASLBase64.decode(encoded) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(SASLBase64.decode(SASLBase64.encode(all)) == all)
    }

    @Test(
        "strict decoding refuses malformed input",
        arguments: [
            "Zg", "Zg=", "Zg===", "Zm9v\r\n", "Zm 9v", "Zh==", "Zm9=",
            "=Zm9", "Zg==Zg==", "*", "Zm9v!A==", "Z===", "Zm=v",
        ]
    )
    func malformed(text: String) {
        #expect(SASLBase64.decode(text) == nil)
    }
}
