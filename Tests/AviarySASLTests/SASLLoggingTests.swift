import AviarySASL
import AviaryTestSupport
import Testing

@Suite("SASL logging")
struct SASLLoggingTests {
    @Test("a refused password logs no libsasl2 noise above debug and never the password")
    func quietFailures() async throws {
        let users = try UsersFixture()
        let capture = CapturedLog()
        let authenticator = users.authenticator()
        for (user, password) in [("alice@example.org", "Secret-Guess-1"), ("nobody@example.org", "Secret-Guess-2")] {
            let step = await authenticator.begin(
                mechanism: "PLAIN",
                initialResponse: plainResponse(user, password),
                isEncrypted: true,
                logger: capture.logger(label: "aviary.sasl.capture")
            )
            #expect(step.failure?.code == .authenticationFailed)
        }
        let lines = capture.leveled
        #expect(!lines.contains { $0.0 >= .info }, "\(lines)")
        #expect(!lines.contains { $0.1.contains("Secret-Guess") })
        #expect(!lines.contains { $0.1.contains("unknown password verifier") })
    }
}
