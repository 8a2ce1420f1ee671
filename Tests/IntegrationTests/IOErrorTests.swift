import AviaryTestSupport
import Foundation
import Testing

/// The system's cc, or the clang that comes with the Swift toolchain.
let faultShimCompiler = ["cc", "clang", "gcc"].first { TestInstance.isAvailable($0) }

extension Integration {
    /// Real processes with write, fsync and rename made to fail on command by a small LD_PRELOAD shim
    /// (Tests/Faults/faultshim.c, built with cc or Swift's clang here): nothing answered 250 may be lost, nothing half-written delivered.
    @Suite("I/O errors", .serialized, .enabled(if: faultShimCompiler != nil, "needs a C compiler (cc, or Swift's clang) for the fault shim"))
    struct IOErrors {
        static let shimSource = ((clientsDirectory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent + "/Faults/faultshim.c"

        /// Makes a call fail: the next `fail` calls on files whose path contains `needle`, after `skip` that pass.
        func inject(_ instance: TestInstance, _ call: String, skip: Int = 0, fail: Int = 1, in needle: String) throws {
            // Writable by every service, whichever account it runs as.
            try instance.writeFile("faults/\(call)", bytes: Array("\(skip) \(fail) \(needle)\n".utf8), mode: 0o666)
        }

        func clear(_ instance: TestInstance, _ call: String) {
            unlink(instance.directory + "/faults/" + call)
        }

        /// Files in incoming/, temporary ones included.
        func incoming(_ instance: TestInstance) -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: instance.spool + "/incoming")) ?? []
        }

        @Test("write, fsync or rename failing in smtpd's queue file, or the fsync of incoming/ after the rename: 451 4.3.0 and nothing left; an fsync failing in local's Maildir delivery or a rename in qmgr: delivered later, once")
        func queueAndMailbox() async throws {
            try await withInstance(
                try TestInstance(mainCf: [("queue_run_delay", "1s"), ("minimal_backoff_time", "1s"), ("maximal_backoff_time", "2s")])
            ) { instance in
                let shim = instance.directory + "/faultshim.so"
                let built = try await instance.run(try #require(faultShimCompiler), ["-shared", "-fPIC", "-o", shim, Self.shimSource, "-ldl"])
                try #require(built.isSuccess, "\(built)")
                try instance.makeOwnedDirectory(instance.directory + "/faults")
                try await instance.start(environment: ["LD_PRELOAD": shim, "AVIARY_FAULTS": instance.directory + "/faults"])

                var refused: [String] = []
                for call in ["write", "fsync", "rename"] {
                    try inject(instance, call, in: "/spool/incoming/")
                    let token = uniqueToken("fault-\(call)")
                    let sent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(token)"])
                    check(sent.serverLines.contains { $0.contains(" 451 4.3.0 ") }, "\(call): \(sent)", instance)
                    check(incoming(instance).isEmpty, "\(call): left in incoming/: \(incoming(instance))", instance)
                    clear(instance, call)
                    refused.append(token)
                }
                // The fsync of incoming/ after the rename (the file's own fsync passes): the message is taken
                // back before the 451, so the client's retry is not a second copy.
                try inject(instance, "fsync", skip: 1, in: "/spool/incoming")
                let directoryToken = uniqueToken("fault-directory-fsync")
                let directorySent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(directoryToken)"])
                check(directorySent.serverLines.contains { $0.contains(" 451 4.3.0 ") }, "directory fsync: \(directorySent)", instance)
                check(incoming(instance).isEmpty, "directory fsync: left in incoming/: \(incoming(instance))", instance)
                clear(instance, "fsync")
                refused.append(directoryToken)

                try inject(instance, "fsync", in: "/vmail/")
                let token = uniqueToken("fault-local")
                let sent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(token)"])
                check(sent.isSuccess, "\(sent)", instance)
                try await instance.awaitLogLine(containing: "to=<alice@example.test>", "status=deferred")
                try await require(instance, within: .seconds(60), "the deferred message delivered") {
                    instance.maildirMessages("alice").contains { String(decoding: $0, as: UTF8.self).contains(token) }
                        && instance.isQueueEmpty
                }
                clear(instance, "fsync")

                // qmgr cannot move the message into active/ once: it stays queued and goes later, once.
                try inject(instance, "rename", in: "/spool/active/")
                let moved = uniqueToken("fault-qmgr")
                let accepted = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(moved)"])
                check(accepted.isSuccess, "\(accepted)", instance)
                try await require(instance, within: .seconds(60), "the message qmgr could not move delivered") {
                    instance.maildirMessages("alice").contains { String(decoding: $0, as: UTF8.self).contains(moved) }
                        && instance.isQueueEmpty
                }
                clear(instance, "rename")

                let texts = instance.maildirMessages("alice").map { String(decoding: $0, as: UTF8.self) }
                check(texts.filter { $0.contains(token) }.count == 1, "\(texts.count) messages", instance)
                check(texts.filter { $0.contains(moved) }.count == 1, "\(texts.count) messages", instance)
                check(texts.allSatisfy { text in refused.allSatisfy { !text.contains($0) } }, "a refused message was delivered", instance)
                check(texts.allSatisfy { $0.contains("This is a test mailing") }, "a message is cut short", instance)
            }
        }
    }
}
