import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// The short form of scripts/soak.sh: a few random kills under load, then the exactly-once count.
    @Suite("Crash soak", .serialized)
    struct CrashSoak {
        static let script = (((clientsDirectory as NSString).deletingLastPathComponent as NSString)
            .deletingLastPathComponent as NSString).deletingLastPathComponent + "/scripts/soak.py"

        /// Runs scripts/soak.py with `options` and checks its promise: every 250 delivered exactly once.
        static func soak(_ options: [String]) async throws {
            // The soak makes its own instance; this one only lends its tool runner and scratch directory.
            let runner = try TestInstance()
            let result = try await runner.run(
                "python3", [script, "--binaries", TestInstance.binaries] + options + ["--drain", "120"],
                timeout: .seconds(300))
            await runner.cleanUp()
            print("soak: \(result.standardOutput)")
            #expect(result.isSuccess, "\(result)")
            let counts = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
            #expect((counts?["missing"] as? Int) == 0 && (counts?["duplicates"] as? Int) == 0, "\(result)")
            #expect(((counts?["acknowledged"] as? Int) ?? 0) > 0, "\(result)")
        }

        @Test("mail from smtplib, swaks and sendmail while smtpd, qmgr, local, smtp, pickup and master are killed at random: every 250 delivered exactly once, the queue empty")
        func shortSoak() async throws {
            try await Self.soak(["--rounds", "8", "--interval", "1.0", "--time-limit", "40"])
        }

        @Test("smtpd and qmgr killed every few tenths of a second: commits that share a directory fsync (DirectorySync) and queue files being retired into spare/ or written again lose nothing and deliver nothing twice")
        func groupCommitSoak() async throws {
            try await Self.soak(["--rounds", "12", "--interval", "0.4", "--victims", "smtpd,smtpd,qmgr", "--time-limit", "30"])
        }
    }
}
