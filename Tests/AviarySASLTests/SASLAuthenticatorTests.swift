import AviarySASL
import AviaryTestSupport
import AviaryUsers
import Foundation
import Logging
import Testing

/// A users file with one user per password scheme, written to a temporary directory.
final class UsersFixture {
    let directory: TemporaryDirectory
    let path: String

    init() throws {
        directory = TemporaryDirectory("sasl-users")
        path = directory.path + "/users"
        let yescrypt = try PasswordVerifier.makeHash("yes-secret", scheme: "YESCRYPT")
        let sha512 = try PasswordVerifier.makeHash("alice-secret", scheme: "SHA512-CRYPT")
        let sha256 = try PasswordVerifier.makeHash("carol-secret", scheme: "SHA256-CRYPT")
        let lines = [
            "# test users",
            "alice@example.org:\(sha512):5000:5000::/var/mail/alice::",
            "yves@example.org:\(yescrypt.hash)",
            "carol@example.org:\(sha256)",
            "plain@example.org:{PLAIN}plain-secret",
            "nopass@example.org::5000:5000",
            "broken@example.org:{ARGON9}xyz",
        ]
        try write(lines)
    }

    func write(_ lines: [String]) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func authenticator(
        mechanisms: [String] = ["PLAIN", "LOGIN"],
        securityOptions: Set<SASLSecurityOption> = [.noAnonymous],
        tlsSecurityOptions: Set<SASLSecurityOption>? = nil,
        sasldbPath: String? = nil,
        userRealm: String? = nil
    ) -> SASLAuthenticator {
        let configuration = SASLServerConfiguration(
            serviceName: "smtp",
            serverName: "mx.example.org",
            userRealm: userRealm,
            users: .files([path]),
            mechanisms: mechanisms,
            sasldbPath: sasldbPath,
            securityOptions: securityOptions,
            tlsSecurityOptions: tlsSecurityOptions
        )
        return SASLAuthenticator(configuration: configuration, logger: testLogger)
    }
}

let testLogger = Logger(label: "aviary.sasl.test")

/// `authzid NUL authcid NUL password` (RFC 4616).
func plainResponse(_ authcid: String, _ password: String, authzid: String = "") -> [UInt8] {
    Array(authzid.utf8) + [0] + Array(authcid.utf8) + [0] + Array(password.utf8)
}

extension SASLStep {
    var username: String? {
        if case .success(let username) = self { return username }
        return nil
    }

    var failure: SASLFailure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }

    var challenge: ([UInt8], SASLExchange)? {
        if case .challenge(let bytes, let exchange) = self { return (bytes, exchange) }
        return nil
    }
}

@Suite("SASLAuthenticator")
struct SASLAuthenticatorTests {
    let users: UsersFixture
    let authenticator: SASLAuthenticator

    init() throws {
        users = try UsersFixture()
        authenticator = users.authenticator()
    }

    func plain(_ authcid: String, _ password: String, authzid: String = "", isEncrypted: Bool = true) async -> SASLStep
    {
        await authenticator.begin(
            mechanism: "PLAIN",
            initialResponse: plainResponse(authcid, password, authzid: authzid),
            isEncrypted: isEncrypted,
            logger: testLogger
        )
    }

    @Test("PLAIN with an initial response succeeds for every password scheme")
    func plainSchemes() async {
        #expect(await plain("alice@example.org", "alice-secret").username == "alice@example.org")
        #expect(await plain("yves@example.org", "yes-secret").username == "yves@example.org")
        #expect(await plain("carol@example.org", "carol-secret").username == "carol@example.org")
        #expect(await plain("plain@example.org", "plain-secret").username == "plain@example.org")
    }

    @Test("user names match as the users file folds them, and the canonical name comes back")
    func canonicalName() async {
        #expect(await plain("alice@EXAMPLE.Org", "alice-secret").username == "alice@example.org")
        // PasswdFile folds the whole name, as Postfix folds table lookups.
        #expect(await plain("Alice@example.org", "alice-secret").username == "alice@example.org")
    }

    @Test("a wrong password, an unknown user and an empty password field fail as the client's fault")
    func wrongPassword() async throws {
        let wrong = try #require(await plain("alice@example.org", "alice-secreT").failure)
        #expect(wrong.code == .authenticationFailed)
        #expect(wrong.isClientFault)
        #expect(wrong.reason.contains("wrong password for alice@example.org"))
        #expect(wrong.clientText == "authentication failure")
        let unknown = try #require(await plain("mallory@example.org", "x").failure)
        #expect(unknown.code == .authenticationFailed)
        #expect(unknown.reason.contains("user not found"))
        let noPassword = try #require(await plain("nopass@example.org", "").failure)
        #expect(noPassword.code == .authenticationFailed)
        let noPassword2 = try #require(await plain("nopass@example.org", "anything").failure)
        #expect(noPassword2.reason.contains("has no password"))
    }

    @Test("an unusable stored hash is a temporary failure")
    func unusableHash() async throws {
        let failure = try #require(await plain("broken@example.org", "xyz").failure)
        #expect(failure.code == .temporary)
        #expect(!failure.isClientFault)
        #expect(failure.reason.contains("unknown password scheme {ARGON9}"))
    }

    @Test("PLAIN refuses an authorization identity other than the authenticated user")
    func authzid() async throws {
        let other = try #require(
            await plain("alice@example.org", "alice-secret", authzid: "carol@example.org").failure
        )
        #expect(other.code == .authenticationFailed)
        #expect(other.reason.contains("may not log in as carol@example.org"))
        #expect(
            await plain("alice@example.org", "alice-secret", authzid: "alice@example.org").username
                == "alice@example.org"
        )
        #expect(
            await plain("alice@example.org", "alice-secret", authzid: "alice@Example.ORG").username
                == "alice@example.org"
        )
    }

    @Test("PLAIN without an initial response sends an empty challenge first")
    func plainWithoutInitialResponse() async throws {
        let first = await authenticator.begin(
            mechanism: "plain",
            initialResponse: nil,
            isEncrypted: true,
            logger: testLogger
        )
        let (challenge, exchange) = try #require(first.challenge)
        #expect(challenge.isEmpty)
        let second = await exchange.step(response: plainResponse("carol@example.org", "carol-secret"))
        #expect(second.username == "carol@example.org")
    }

    @Test("LOGIN asks for Username: then Password:")
    func login() async throws {
        let first = await authenticator.begin(
            mechanism: "LOGIN",
            initialResponse: nil,
            isEncrypted: true,
            logger: testLogger
        )
        let (usernamePrompt, exchange) = try #require(first.challenge)
        #expect(String(decoding: usernamePrompt, as: UTF8.self) == "Username:")
        let second = await exchange.step(response: Array("alice@example.org".utf8))
        let (passwordPrompt, sameExchange) = try #require(second.challenge)
        #expect(String(decoding: passwordPrompt, as: UTF8.self) == "Password:")
        #expect(sameExchange === exchange)
        let third = await exchange.step(response: Array("alice-secret".utf8))
        #expect(third.username == "alice@example.org")
        // The attempt is over: its exchange cannot go on.
        #expect(await exchange.step(response: []).failure?.code == .cancelled)
    }

    @Test("LOGIN with a wrong password fails")
    func loginWrongPassword() async throws {
        let first = await authenticator.begin(
            mechanism: "LOGIN",
            initialResponse: nil,
            isEncrypted: false,
            logger: testLogger
        )
        let (_, exchange) = try #require(first.challenge)
        _ = await exchange.step(response: Array("alice@example.org".utf8))
        let last = await exchange.step(response: Array("nope".utf8))
        #expect(last.failure?.code == .authenticationFailed)
    }

    @Test("abort ends the exchange; a later step fails as cancelled")
    func abort() async throws {
        let first = await authenticator.begin(
            mechanism: "LOGIN",
            initialResponse: nil,
            isEncrypted: true,
            logger: testLogger
        )
        let (_, exchange) = try #require(first.challenge)
        #expect(exchange.abort().code == .cancelled)
        #expect(await exchange.step(response: Array("alice@example.org".utf8)).failure?.code == .cancelled)
    }

    @Test("unknown or malformed mechanisms are unsupported")
    func unknownMechanism() async {
        for name in ["X-NOPE", "CRAM-MD5", "pl ain", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] {
            let step = await authenticator.begin(
                mechanism: name,
                initialResponse: nil,
                isEncrypted: true,
                logger: testLogger
            )
            #expect(step.failure?.code == .unsupportedMechanism, "\(name)")
        }
    }

    @Test("a second attempt after a failure works: each attempt has a fresh context")
    func freshContext() async {
        #expect(await plain("alice@example.org", "bad").failure != nil)
        #expect(await plain("alice@example.org", "alice-secret").username == "alice@example.org")
        #expect(await plain("carol@example.org", "alice-secret").failure != nil)
        #expect(await plain("carol@example.org", "carol-secret").username == "carol@example.org")
    }

    @Test("20 parallel attempts all get their own answer")
    func concurrency() async {
        // On several SASL threads at once (real mutexes in libsasl2): every outcome still belongs to its attempt.
        let cases: [(String, String, String?)] = (0..<80).map { index in
            switch index % 5 {
            case 0: ("alice@example.org", "alice-secret", "alice@example.org")
            case 1: ("yves@example.org", "yes-secret", "yves@example.org")
            case 2: ("carol@example.org", "wrong", nil)
            case 3: ("mallory@example.org", "guess", nil)
            default: ("plain@example.org", "plain-secret", "plain@example.org")
            }
        }
        let authenticator = self.authenticator
        let results = await withTaskGroup(of: (Int, String?).self) { group in
            for (index, item) in cases.enumerated() {
                group.addTask {
                    let step = await authenticator.begin(
                        mechanism: index % 2 == 0 ? "PLAIN" : "plain",
                        initialResponse: plainResponse(item.0, item.1),
                        isEncrypted: true,
                        logger: testLogger
                    )
                    return (index, step.username)
                }
            }
            var results: [Int: String?] = [:]
            for await (index, username) in group { results[index] = username }
            return results
        }
        #expect(results.count == 80)
        for (index, item) in cases.enumerated() {
            #expect(results[index] == item.2, "attempt \(index)")
        }
    }

    @Test("a changed users file counts at the next attempt")
    func reload() async throws {
        #expect(await plain("plain@example.org", "plain-secret").username == "plain@example.org")
        try users.write(["plain@example.org:{PLAIN}new-secret"])
        // Make sure the modification time differs even on a coarse clock.
        var times = [timeval(tv_sec: time(nil) + 10, tv_usec: 0), timeval(tv_sec: time(nil) + 10, tv_usec: 0)]
        #expect(utimes(users.path, &times) == 0)
        #expect(await plain("plain@example.org", "plain-secret").failure != nil)
        #expect(await plain("plain@example.org", "new-secret").username == "plain@example.org")
        #expect(await plain("alice@example.org", "alice-secret").failure != nil)
    }
}

@Suite("SASL security options")
struct SASLSecurityOptionTests {
    @Test("noplaintext without TLS offers no PLAIN or LOGIN; with TLS it does")
    func noPlaintext() async throws {
        let users = try UsersFixture()
        let authenticator = users.authenticator(securityOptions: [.noAnonymous, .noPlaintext])
        #expect(await authenticator.mechanisms(isEncrypted: false).isEmpty)
        #expect(Set(await authenticator.mechanisms(isEncrypted: true)) == ["PLAIN", "LOGIN"])
        let refused = await authenticator.begin(
            mechanism: "PLAIN",
            initialResponse: plainResponse("alice@example.org", "alice-secret"),
            isEncrypted: false,
            logger: testLogger
        )
        #expect(refused.failure?.code == .encryptionRequired)
        let allowed = await authenticator.begin(
            mechanism: "PLAIN",
            initialResponse: plainResponse("alice@example.org", "alice-secret"),
            isEncrypted: true,
            logger: testLogger
        )
        #expect(allowed.username == "alice@example.org")
    }

    @Test("the TLS options apply once TLS is active")
    func tlsOptions() async throws {
        let users = try UsersFixture()
        let authenticator = users.authenticator(
            mechanisms: ["PLAIN", "LOGIN", "ANONYMOUS"],
            securityOptions: [.noAnonymous, .noPlaintext],
            tlsSecurityOptions: []
        )
        #expect(await authenticator.mechanisms(isEncrypted: false).isEmpty)
        #expect(Set(await authenticator.mechanisms(isEncrypted: true)) == ["PLAIN", "LOGIN", "ANONYMOUS"])
    }

    @Test("the mechanism list follows the configuration; start() names the ones not installed")
    func mechanismList() async throws {
        let users = try UsersFixture()
        let authenticator = users.authenticator(mechanisms: ["LOGIN", "X-MISSING"])
        #expect(await authenticator.mechanisms(isEncrypted: false) == ["LOGIN"])
        #expect(try await authenticator.start() == ["X-MISSING"])
        #expect(
            await authenticator.begin(
                mechanism: "PLAIN",
                initialResponse: plainResponse("alice@example.org", "alice-secret"),
                isEncrypted: true,
                logger: testLogger
            ).failure?.code == .unsupportedMechanism
        )
    }

    @Test("option words parse as Postfix writes them")
    func parse() {
        let (options, unknown) = SASLSecurityOption.parse("noanonymous, noplaintext  mutual_auth,bogus")
        #expect(options == [.noAnonymous, .noPlaintext, .mutualAuth])
        #expect(unknown == ["bogus"])
    }
}
