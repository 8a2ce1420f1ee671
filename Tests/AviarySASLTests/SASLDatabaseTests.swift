import AviarySASL
import AviaryTestSupport
import Foundation
import Testing

/// Mechanisms with stored secrets: a sasldb made by `saslpasswd2`, as an administrator would.
@Suite("SASL with a sasldb")
struct SASLDatabaseTests {
    static let saslpasswd2 = "/usr/sbin/saslpasswd2"

    /// Makes a sasldb holding bob@example.org with `password`; nil when sasl2-bin is missing.
    static func makeDatabase(in directory: TemporaryDirectory, password: String) async throws -> String? {
        guard FileManager.default.isExecutableFile(atPath: saslpasswd2) else { return nil }
        let database = directory.path + "/sasldb2"
        let input = directory.path + "/password"
        try password.write(toFile: input, atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            path: saslpasswd2,
            arguments: ["-p", "-c", "-f", database, "-u", "example.org", "-a", "aviary", "bob"],
            standardInput: input
        )
        #expect(await process.wait(timeout: .seconds(30)) == .exited(0))
        return database
    }

    /// HMAC-MD5 in lower-case hex, from python3 (the client's half of CRAM-MD5).
    static func hmacMD5(key: String, message: [UInt8], in directory: TemporaryDirectory) async throws -> String {
        let output = directory.path + "/hmac"
        let hex = message.map { String(format: "%02x", $0) }.joined()
        let script =
            "import hmac, sys; print(hmac.new(sys.argv[1].encode(), bytes.fromhex(sys.argv[2]), 'md5').hexdigest())"
        let process = try ChildProcess(
            path: "/usr/bin/python3",
            arguments: ["-c", script, key, hex],
            standardOutput: output
        )
        #expect(await process.wait(timeout: .seconds(30)) == .exited(0))
        return try String(contentsOfFile: output, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("CRAM-MD5 against a sasldb made by saslpasswd2")
    func cramMD5() async throws {
        let users = try UsersFixture()
        guard let database = try await Self.makeDatabase(in: users.directory, password: "cram-secret") else { return }
        let authenticator = users.authenticator(
            mechanisms: ["CRAM-MD5", "PLAIN"],
            sasldbPath: database,
            userRealm: "example.org"
        )
        #expect(Set(await authenticator.mechanisms(isEncrypted: false)) == ["CRAM-MD5", "PLAIN"])

        for (password, succeeds) in [("cram-secret", true), ("wrong", false)] {
            let first = await authenticator.begin(
                mechanism: "CRAM-MD5",
                initialResponse: nil,
                isEncrypted: false,
                logger: testLogger
            )
            let (challenge, exchange) = try #require(first.challenge)
            #expect(challenge.first == UInt8(ascii: "<"))
            let digest = try await Self.hmacMD5(key: password, message: challenge, in: users.directory)
            let last = await exchange.step(response: Array("bob \(digest)".utf8))
            if succeeds {
                #expect(last.username == "bob@example.org")
            } else {
                #expect(last.failure?.code == .authenticationFailed)
            }
        }
    }

    @Test("CRAM-MD5 with an initial response is a protocol error")
    func cramMD5InitialResponse() async throws {
        let users = try UsersFixture()
        guard let database = try await Self.makeDatabase(in: users.directory, password: "cram-secret") else { return }
        let authenticator = users.authenticator(
            mechanisms: ["CRAM-MD5"],
            sasldbPath: database,
            userRealm: "example.org"
        )
        let step = await authenticator.begin(
            mechanism: "CRAM-MD5",
            initialResponse: Array("bob x".utf8),
            isEncrypted: false,
            logger: testLogger
        )
        #expect(step.failure?.code == .authenticationFailed)
    }

    @Test("with pwcheck_method auxprop, PLAIN falls through to the sasldb for users not in the users file")
    func plainFallsThrough() async throws {
        let users = try UsersFixture()
        guard let database = try await Self.makeDatabase(in: users.directory, password: "db-secret") else { return }
        let configuration = SASLServerConfiguration(
            serviceName: "smtp",
            serverName: "mx.example.org",
            userRealm: "example.org",
            users: .files([users.path]),
            mechanisms: ["PLAIN"],
            pwcheckMethod: "auxprop",
            sasldbPath: database
        )
        let authenticator = SASLAuthenticator(configuration: configuration, logger: testLogger)
        func plain(_ user: String, _ password: String) async -> SASLStep {
            await authenticator.begin(
                mechanism: "PLAIN",
                initialResponse: plainResponse(user, password),
                isEncrypted: true,
                logger: testLogger
            )
        }
        #expect(await plain("bob", "db-secret").username == "bob@example.org")
        #expect(await plain("bob@example.org", "db-secret").username == "bob@example.org")
        #expect(await plain("alice@example.org", "alice-secret").username == "alice@example.org")
        let failure = try #require(await plain("bob", "wrong").failure)
        #expect(failure.code == .authenticationFailed)
        #expect(failure.reason.contains("user not found: bob@example.org"))
    }
}
