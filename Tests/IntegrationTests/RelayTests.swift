import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// Relay control: only 127.0.0.1 is in mynetworks, so a client connecting from 127.0.0.2 is a stranger.
    @Suite("Relay control", .sharedInstance { try TestInstance(mainCf: [("mynetworks", "127.0.0.1/32")]) })
    struct Relay {
        @Test("a client outside mynetworks may not relay: 554 5.7.1 Relay access denied")
        func strangerMayNotRelay() async throws {
            let instance = try Current.required()
            let sent = try await instance.swaks(
                to: "x@elsewhere.test",
                ["--local-interface", "127.0.0.2", "--quit-after", "RCPT"]
            )
            check(!sent.isSuccess, "\(sent)", instance)
            check(
                sent.serverLines.contains { $0.hasPrefix("<** 554 5.7.1 <x@elsewhere.test>: Relay access denied") },
                "\(sent)",
                instance
            )
            try await instance.awaitLogLine(containing: "NOQUEUE: reject: RCPT from localhost[127.0.0.2]: 554 5.7.1")
        }

        @Test("a client outside mynetworks may still send to a local virtual user")
        func strangerMaySendToLocalUser() async throws {
            let instance = try Current.required()
            let token = uniqueToken("stranger")
            let sent = try await instance.swaks(
                to: "alice@example.test",
                ["--local-interface", "127.0.0.2", "--header", "Subject: \(token)"]
            )
            check(sent.isSuccess, "\(sent)", instance)
            let message = try await instance.awaitMessage(for: "alice", containing: token)
            check(message.contains("[127.0.0.2]"), "Received: names the client address:\n\(message)", instance)
        }

        @Test("a client in mynetworks may relay")
        func trustedClientMayRelay() async throws {
            let instance = try Current.required()
            let sent = try await instance.swaks(to: "x@elsewhere.test", ["--local-interface", "127.0.0.1"])
            check(sent.isSuccess && queuedID(in: sent.standardOutput) != nil, "\(sent)", instance)
        }
    }
}
