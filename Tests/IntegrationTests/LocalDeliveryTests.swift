import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The contract configuration plus `alias_maps = hash:DIR/aliases` for the local domain `localhost`.
func makeAliasInstance() throws -> TestInstance {
    let instance = try TestInstance(
        users: ["alice@example.test", "bob@example.test"],
        aliases: [
            "# aliases(5) for the integration tests",
            "team: alice@example.test",
            "piper: \"|/usr/bin/tee -a DIR/pipe.out\"",
            "filer: DIR/file.mbox",
            "listed: :include:DIR/list.txt",
            "ghost: nosuchuser",
        ]
    )
    try instance.writeFile("list.txt", ["alice@example.test", "bob@example.test"])
    // As root, alias commands and files run as default_privs (nobody), who may not create files in DIR.
    let nobody = Privileges.isRoot ? SystemAccount.named("nobody") : nil
    for name in ["pipe.out", "file.mbox"] {
        try instance.writeFile(name, bytes: [], mode: 0o600)
        instance.give(instance.directory + "/" + name, to: nobody)
    }
    return instance
}

extension Integration {
    @Suite("Local delivery: aliases, commands, files, bounces", .sharedInstance(makeAliasInstance))
    struct LocalDelivery {
        @Test("an alias to a virtual user is delivered to her Maildir")
        func aliasToVirtualUser() async throws {
            let instance = try Current.required()
            let token = uniqueToken("team")
            let sent = try await instance.swaks(to: "team@localhost", ["--header", "Subject: \(token)"])
            check(sent.isSuccess, "\(sent)", instance)
            let message = try await instance.awaitMessage(for: "alice", containing: token)
            check(message.contains("Delivered-To: team@localhost\n"), message, instance)
        }

        @Test("a |command alias gets the message on its standard input")
        func commandAlias() async throws {
            let instance = try Current.required()
            let token = uniqueToken("piper")
            let sent = try await instance.swaks(
                to: "piper@localhost",
                ["--header", "Subject: \(token)", "--body", "piped \(token)"]
            )
            check(sent.isSuccess, "\(sent)", instance)
            let path = instance.directory + "/pipe.out"
            try await require(instance, "\(token) in pipe.out") {
                (try? String(contentsOfFile: path, encoding: .utf8))?.contains("piped \(token)") == true
            }
            let text = try String(contentsOfFile: path, encoding: .utf8)
            check(text.contains("Delivered-To: piper@localhost") && text.contains("Subject: \(token)"), text, instance)
            try await instance.awaitLogLine(containing: "to=<piper@localhost>", "relay=local", "status=sent")
        }

        @Test("a /file alias appends the message in mbox format")
        func fileAlias() async throws {
            let instance = try Current.required()
            let token = uniqueToken("filer")
            let sent = try await instance.swaks(
                to: "filer@localhost",
                from: "carol@example.test",
                ["--header", "Subject: \(token)", "--body", "From the start of a line\nfiled \(token)"]
            )
            check(sent.isSuccess, "\(sent)", instance)
            let path = instance.directory + "/file.mbox"
            try await require(instance, "\(token) in file.mbox") {
                (try? String(contentsOfFile: path, encoding: .utf8))?.contains("filed \(token)") == true
            }
            let text = try String(contentsOfFile: path, encoding: .utf8)
            check(text.hasPrefix("From carol@example.test "), "mbox starts with a From_ line:\n\(text)", instance)
            check(text.contains("\n>From the start of a line\n"), "body From_ quoted with >:\n\(text)", instance)
        }

        @Test("an :include: list delivers to everyone listed")
        func includeList() async throws {
            let instance = try Current.required()
            let token = uniqueToken("listed")
            let sent = try await instance.swaks(to: "listed@localhost", ["--header", "Subject: \(token)"])
            check(sent.isSuccess, "\(sent)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: token)
            _ = try await instance.awaitMessage(for: "bob", containing: token)
        }

        @Test("an alias to a nonexistent user bounces: the sender gets a DSN with 5.1.1, the queue ends empty")
        func bounceToSender() async throws {
            let instance = try Current.required()
            let token = uniqueToken("ghost")
            let sent = try await instance.swaks(
                to: "ghost@localhost",
                from: "alice@example.test",
                ["--header", "Subject: \(token)"]
            )
            check(sent.isSuccess, "\(sent)", instance)
            try await require(instance, "a DSN for \(token) to alice") {
                instance.messages(of: "alice", containing: token).contains { $0.contains("multipart/report") }
            }
            let dsn = instance.messages(of: "alice", containing: token).first { $0.contains("multipart/report") } ?? ""
            check(dsn.contains("report-type=delivery-status"), dsn, instance)
            check(dsn.contains("Status: 5.1.1"), dsn, instance)
            check(dsn.contains("Action: failed"), dsn, instance)
            check(dsn.contains("Final-Recipient: rfc822; ghost@localhost"), dsn, instance)
            check(dsn.contains("Return-Path: <>"), "a DSN has the null sender:\n\(dsn)", instance)
            try await instance.awaitLogLine(containing: "to=<ghost@localhost>", "dsn=5.1.1, status=bounced")
            try await require(instance, "an empty queue") { instance.isQueueEmpty }
            let listing = try await instance.run("aviary", ["queue", "list", "-c", instance.directory])
            check(listing.standardOutput.contains("Mail queue is empty"), "\(listing)", instance)
        }

        @Test("a message already Delivered-To alice bounces as a mail loop (5.4.6) and is not delivered")
        func deliveredToLoop() async throws {
            let instance = try Current.required()
            let token = uniqueToken("loop")
            let sent = try await instance.swaks(
                to: "alice@example.test",
                from: "alice@example.test",
                ["--header", "Subject: \(token)", "--add-header", "Delivered-To: alice@example.test"]
            )
            check(sent.isSuccess, "\(sent)", instance)
            try await require(instance, "a DSN for \(token) to alice") {
                instance.messages(of: "alice", containing: token).contains { $0.contains("multipart/report") }
            }
            try await require(instance, "an empty queue") { instance.isQueueEmpty }
            let copies = instance.messages(of: "alice", containing: token)
            check(copies.count == 1, "only the DSN should hold \(token), found \(copies.count)", instance)
            check(copies.first?.contains("Status: 5.4.6") == true, copies.first ?? "", instance)
            try await instance.awaitLogLine(
                containing: "dsn=5.4.6, status=bounced (mail forwarding loop for alice@example.test)"
            )
        }
        @Test("one message to a good alias and a bad one: delivered once, the DSN reports only the bad recipient")
        func partialBounce() async throws {
            let instance = try Current.required()
            let token = uniqueToken("partial")
            let sent = try await instance.swaks(
                to: "team@localhost,ghost@localhost",
                from: "bob@example.test",
                ["--header", "Subject: \(token)"]
            )
            check(sent.isSuccess, "\(sent)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: token)
            try await require(instance, "a DSN for \(token) to bob") {
                instance.messages(of: "bob", containing: token).contains { $0.contains("multipart/report") }
            }
            try await require(instance, "an empty queue") { instance.isQueueEmpty }
            let dsn = instance.messages(of: "bob", containing: token).first ?? ""
            check(dsn.contains("Final-Recipient: rfc822; ghost@localhost"), dsn, instance)
            check(!dsn.contains("Final-Recipient: rfc822; team@localhost"), dsn, instance)
            check(instance.messages(of: "alice", containing: token).count == 1, "alice's copy", instance)
        }
    }
}
