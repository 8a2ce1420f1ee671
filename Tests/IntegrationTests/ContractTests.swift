import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// The README's contract configuration, verbatim but for the ephemeral port and the maillog.
    @Suite("Contract configuration", .sharedInstance { try TestInstance() })
    struct Contract {
        @Test("swaks to alice@example.test is delivered to her Maildir with Received, Delivered-To and Return-Path")
        func deliveryToVirtualUser() async throws {
            let instance = try Current.required()
            let token = uniqueToken("contract")
            let sent = try await instance.swaks(
                to: "alice@example.test", from: "bob@elsewhere.test",
                ["--header", "Subject: \(token)", "--body", "Hello Alice,\nthis is \(token).\n"])
            check(sent.isSuccess && sent.standardOutput.contains("<-  250 2.0.0 Ok: queued as"), "\(sent)", instance)

            let message = try await instance.awaitMessage(for: "alice", containing: token)
            let (headers, body) = headersAndBody(Array(message.utf8))
            check(headers.first == "Return-Path: <bob@elsewhere.test>", "first header: \(headers)", instance)
            check(headers.contains("Delivered-To: alice@example.test"), "headers: \(headers)", instance)
            let received = headers.first { $0.hasPrefix("Received:") } ?? ""
            check(received.contains("by mail.example.test"), "Received: \(received)", instance)
            check(received.contains("[127.0.0.1]") && received.contains("for <alice@example.test>"), received, instance)
            check(headers.contains("Subject: \(token)"), "headers: \(headers)", instance)
            check(String(decoding: body, as: UTF8.self).contains("Hello Alice,\nthis is \(token).\n"), message, instance)
            check(!message.contains("\r"), "Maildir files use LF line endings", instance)
            let path = instance.maildirFiles("alice").first { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains(token) == true }
            check(path?.contains("/vmail/example.test/alice/new/") == true, "path \(path ?? "-")", instance)
            check(
                instance.log().contains("to=<alice@example.test>, relay=local")
                    && instance.log().contains("status=sent (delivered to maildir)"), "log", instance)
        }

        @Test("an unknown virtual user is refused with 550 5.1.1")
        func unknownVirtualUser() async throws {
            let instance = try Current.required()
            let sent = try await instance.swaks(to: "nobody@example.test", ["--quit-after", "RCPT"])
            check(!sent.isSuccess, "swaks should fail: \(sent)", instance)
            check(
                sent.serverLines.contains { $0.hasPrefix("<** 550 5.1.1 <nobody@example.test>") && $0.contains("User unknown") },
                "\(sent)", instance)
            check(instance.log().contains("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1"), "log", instance)
        }

        @Test("mail to a remote domain from mynetworks is accepted and stays deferred: transport unavailable")
        func remoteRecipientIsDeferred() async throws {
            let instance = try Current.required()
            let sent = try await instance.swaks(to: "x@elsewhere.test", from: "alice@example.test")
            let id = try #require(queuedID(in: sent.standardOutput), "no queue ID in \(sent)")
            check(sent.isSuccess, "\(sent)", instance)

            try await require(instance, "\(id) in deferred/") {
                instance.queueFiles(.deferred).contains { $0.hasSuffix("/" + id) }
            }
            let listing = try await instance.queueListJSON()
            let found = try #require(listing.first { $0["queue_id"] as? String == id }, "\(id) not in \(listing)\n\(instance.report())")
            check(found["queue_name"] as? String == "deferred", "\(found)", instance)
            check(found["sender"] as? String == "alice@example.test", "\(found)", instance)
            check((found["message_size"] as? Int ?? 0) > 0 && (found["arrival_time"] as? Int ?? 0) > 0, "\(found)", instance)
            let recipients = found["recipients"] as? [[String: Any]] ?? []
            check(recipients.count == 1 && recipients.first?["address"] as? String == "x@elsewhere.test", "\(found)", instance)
            let reason = recipients.first?["delay_reason"] as? String ?? ""
            check(reason.contains("transport unavailable"), "delay_reason: \(reason)", instance)

            let text = try await instance.run("aviary", ["queue", "list", "-c", instance.directory])
            check(text.isSuccess, "\(text)", instance)
            let line = text.standardOutput.split(separator: "\n").first { $0.hasPrefix(id) }.map(String.init) ?? ""
            check(line.contains("alice@example.test"), "mailq line for \(id):\n\(text.standardOutput)", instance)
            check(text.standardOutput.contains("transport unavailable"), text.standardOutput, instance)
            check(text.standardOutput.contains("x@elsewhere.test"), text.standardOutput, instance)
            check(instance.log().contains("\(id): to=<x@elsewhere.test>") && instance.log().contains("status=deferred"), "log", instance)
        }

        @Test("a garbage file in incoming/ is moved to corrupt/ with a warning, and delivery goes on")
        func corruptQueueFile() async throws {
            let instance = try Current.required()
            let name = "0TOVN7V57Z4Z842"
            let incoming = instance.spool + "/incoming/" + name
            try instance.writeFile(incoming, bytes: Array("this is not a queue file\n\u{1}\u{2}garbage\n".utf8), mode: 0o600)
            instance.give(incoming, to: instance.mailOwner)

            let token = uniqueToken("after-corrupt")
            let sent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(token)"])
            check(sent.isSuccess, "\(sent)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: token)
            try await require(instance, "\(name) in corrupt/") {
                FileManager.default.fileExists(atPath: instance.spool + "/corrupt/" + name)
            }
            check(!FileManager.default.fileExists(atPath: incoming), "still in incoming/", instance)
            let warning = instance.log().split(separator: "\n").first { $0.contains("warning") && $0.contains("corrupt") }
            check(warning != nil, "no warning about the corrupt file", instance)
            check(warning?.contains(name) == true, "the warning should name the file: \(warning ?? "")", instance)
            let listing = try await instance.run("aviary", ["queue", "list", "-c", instance.directory])
            check(!listing.standardOutput.contains(name), "corrupt files are not listed as mail: \(listing)", instance)
        }
    }
}
