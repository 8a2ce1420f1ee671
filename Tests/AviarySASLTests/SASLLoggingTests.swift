import AviarySASL
import Logging
import Synchronization
import Testing

/// Collects log lines for inspection.
final class LogCapture: Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])

    var logger: Logger {
        var logger = Logger(label: "aviary.sasl.capture") { _ in Handler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.lines.withLock { $0.append((event.level, event.message.description)) }
        }
    }
}

@Suite("SASL logging")
struct SASLLoggingTests {
    @Test("a refused password logs no libsasl2 noise above debug and never the password")
    func quietFailures() async throws {
        let users = try UsersFixture()
        let capture = LogCapture()
        let authenticator = users.authenticator()
        for (user, password) in [("alice@example.org", "Secret-Guess-1"), ("nobody@example.org", "Secret-Guess-2")] {
            let step = await authenticator.begin(
                mechanism: "PLAIN",
                initialResponse: plainResponse(user, password),
                isEncrypted: true,
                logger: capture.logger
            )
            #expect(step.failure?.code == .authenticationFailed)
        }
        let lines = capture.lines.withLock { $0 }
        #expect(!lines.contains { $0.0 >= .info }, "\(lines)")
        #expect(!lines.contains { $0.1.contains("Secret-Guess") })
        #expect(!lines.contains { $0.1.contains("unknown password verifier") })
    }
}
