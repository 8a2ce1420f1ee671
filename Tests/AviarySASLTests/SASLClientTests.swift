import AviarySASL
import Testing

@Suite("SASLClient")
struct SASLClientTests {
    @Test("picks the first preferred mechanism the server offers")
    func choose() {
        #expect(SASLClient.choose(offered: ["login", "CRAM-MD5", "PLAIN"]) == .plain)
        #expect(SASLClient.choose(offered: ["LOGIN"]) == .login)
        #expect(SASLClient.choose(offered: ["CRAM-MD5"]) == nil)
        #expect(SASLClient.choose(offered: ["PLAIN", "LOGIN"], preference: [.login]) == .login)
    }

    @Test("PLAIN sends authzid NUL authcid NUL password once")
    func plain() throws {
        var client = SASLClient(mechanism: .plain, username: "u@example.org", password: "pw")
        #expect(client.initialResponse() == Array("\0u@example.org\0pw".utf8))
        #expect(throws: SASLFailure.self) { try client.respond(to: []) }
        var waiting = SASLClient(mechanism: .plain, username: "u", password: "pw", authorizationIdentity: "a")
        #expect(try waiting.respond(to: []) == Array("a\0u\0pw".utf8))
    }

    @Test("LOGIN answers the two prompts in order and refuses a third")
    func login() throws {
        var client = SASLClient(mechanism: .login, username: "u", password: "pw")
        #expect(client.initialResponse() == nil)
        #expect(try client.respond(to: Array("Username:".utf8)) == Array("u".utf8))
        #expect(try client.respond(to: Array("Password:".utf8)) == Array("pw".utf8))
        #expect(throws: SASLFailure.self) { try client.respond(to: []) }
    }

    @Test("the client authenticates against the server", arguments: SASLClient.Mechanism.allCases)
    func againstServer(mechanism: SASLClient.Mechanism) async throws {
        let users = try UsersFixture()
        let authenticator = users.authenticator()
        var client = SASLClient(mechanism: mechanism, username: "carol@example.org", password: "carol-secret")
        var step = await authenticator.begin(
            mechanism: mechanism.rawValue,
            initialResponse: client.initialResponse(),
            isEncrypted: true,
            logger: testLogger
        )
        var rounds = 0
        while case .challenge(let challenge, let exchange) = step, rounds < 5 {
            rounds += 1
            step = await exchange.step(response: try client.respond(to: challenge))
        }
        #expect(step.username == "carol@example.org")
    }
}
