import AviaryCore
import AviaryQueue
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
                to: "alice@example.test",
                from: "bob@elsewhere.test",
                ["--header", "Subject: \(token)", "--body", "Hello Alice,\nthis is \(token).\n"]
            )
            check(sent.isSuccess && sent.standardOutput.contains("<-  250 2.0.0 Ok: queued as"), "\(sent)", instance)

            let message = try await instance.awaitMessage(for: "alice", containing: token)
            let (headers, body) = headersAndBody(Array(message.utf8))
            check(headers.first == "Return-Path: <bob@elsewhere.test>", "first header: \(headers)", instance)
            check(headers.contains("Delivered-To: alice@example.test"), "headers: \(headers)", instance)
            let received = headers.first { $0.hasPrefix("Received:") } ?? ""
            check(received.contains("by mail.example.test"), "Received: \(received)", instance)
            check(received.contains("[127.0.0.1]") && received.contains("for <alice@example.test>"), received, instance)
            check(headers.contains("Subject: \(token)"), "headers: \(headers)", instance)
            check(
                String(decoding: body, as: UTF8.self).contains("Hello Alice,\nthis is \(token).\n"),
                message,
                instance
            )
            check(!message.contains("\r"), "Maildir files use LF line endings", instance)
            let path = instance.maildirFiles("alice").first {
                (try? String(contentsOfFile: $0, encoding: .utf8))?.contains(token) == true
            }
            check(path?.contains("/vmail/example.test/alice/new/") == true, "path \(path ?? "-")", instance)
            try await instance.awaitLogLine(
                containing: "to=<alice@example.test>, relay=local",
                "status=sent (delivered to maildir)"
            )
        }

        @Test("an unknown virtual user is refused with 550 5.1.1")
        func unknownVirtualUser() async throws {
            let instance = try Current.required()
            let sent = try await instance.swaks(to: "nobody@example.test", ["--quit-after", "RCPT"])
            check(!sent.isSuccess, "swaks should fail: \(sent)", instance)
            check(
                sent.serverLines.contains {
                    $0.hasPrefix("<** 550 5.1.1 <nobody@example.test>") && $0.contains("User unknown")
                },
                "\(sent)",
                instance
            )
            try await instance.awaitLogLine(containing: "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1")
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
            let found = try #require(
                listing.first { $0["queue_id"] as? String == id },
                "\(id) not in \(listing)\n\(instance.report())"
            )
            check(found["queue_name"] as? String == "deferred", "\(found)", instance)
            check(found["sender"] as? String == "alice@example.test", "\(found)", instance)
            check(
                (found["message_size"] as? Int ?? 0) > 0 && (found["arrival_time"] as? Int ?? 0) > 0,
                "\(found)",
                instance
            )
            let recipients = found["recipients"] as? [[String: Any]] ?? []
            check(
                recipients.count == 1 && recipients.first?["address"] as? String == "x@elsewhere.test",
                "\(found)",
                instance
            )
            let reason = recipients.first?["delay_reason"] as? String ?? ""
            check(reason.contains("transport unavailable"), "delay_reason: \(reason)", instance)

            let text = try await instance.run("aviary", ["queue", "list", "-c", instance.directory])
            check(text.isSuccess, "\(text)", instance)
            let line = text.standardOutput.split(separator: "\n").first { $0.hasPrefix(id) }.map(String.init) ?? ""
            check(line.contains("alice@example.test"), "mailq line for \(id):\n\(text.standardOutput)", instance)
            check(text.standardOutput.contains("transport unavailable"), text.standardOutput, instance)
            check(text.standardOutput.contains("x@elsewhere.test"), text.standardOutput, instance)
            try await instance.awaitLogLine(containing: "\(id): to=<x@elsewhere.test>", "status=deferred")
        }

        @Test("a garbage file in incoming/ is moved to corrupt/ with a warning, and delivery goes on")
        func corruptQueueFile() async throws {
            let instance = try Current.required()
            let name = "0TOVN7V57Z4Z842"
            let incoming = instance.spool + "/incoming/" + name
            try instance.writeFile(
                incoming,
                bytes: Array("this is not a queue file\n\u{1}\u{2}garbage\n".utf8),
                mode: 0o600
            )
            instance.give(incoming, to: instance.mailOwner)

            let token = uniqueToken("after-corrupt")
            let sent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(token)"])
            check(sent.isSuccess, "\(sent)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: token)
            try await require(instance, "\(name) in corrupt/") {
                FileManager.default.fileExists(atPath: instance.spool + "/corrupt/" + name)
            }
            check(!FileManager.default.fileExists(atPath: incoming), "still in incoming/", instance)
            let warning = try await instance.awaitLogLine(containing: "warning", "corrupt")
            check(warning.contains(name), "the warning should name the file: \(warning)", instance)
            let listing = try await instance.run("aviary", ["queue", "list", "-c", instance.directory])
            check(!listing.standardOutput.contains(name), "corrupt files are not listed as mail: \(listing)", instance)
        }
        @Test("a queue file qmgr cannot read (EACCES) is deferred and delivered once readable, never moved to corrupt/")
        func unreadableQueueFile() async throws {
            let instance = try Current.required()
            let token = uniqueToken("unreadable")
            // Written as the test process (root in CI, where qmgr runs as mail_owner), mode 0: qmgr may rename
            // it but not open it.
            let queue = QueueDirectory(root: instance.spool)
            let writer = try QueueWriter(
                directory: queue, queue: .hold,
                envelope: QueueEnvelope(
                    arrivalTime: Date().timeIntervalSince1970, sender: "bob@elsewhere.test",
                    recipients: [QueueRecipient(address: "alice@example.test")]))
            try writer.append(Array("Subject: \(token)\r\n\r\nbody\r\n".utf8))
            let id = try writer.commit()
            chmod(queue.path(of: id, in: .hold), 0)
            try queue.move(id, from: .hold, to: .incoming)
            queue.wakeQueueManager()

            let warning = try await instance.awaitLogLine(containing: "\(id)", "cannot read queue file")
            check(warning.contains("try again"), warning, instance)
            try await require(instance, "\(id) in deferred/") { SafeFile.exists(queue.path(of: id, in: .deferred)) }
            check(!SafeFile.exists(queue.path(of: id, in: .corrupt)), "moved to corrupt/", instance)

            chmod(queue.path(of: id, in: .deferred), 0o600)
            instance.give(queue.path(of: id, in: .deferred), to: instance.mailOwner)
            let flushed = try await instance.run("aviary", ["queue", "flush", "-c", instance.directory])
            check(flushed.isSuccess, "\(flushed)", instance)
            _ = try await instance.awaitMessage(for: "alice", containing: token)
        }

        @Test("one message to alice and to a remote address: alice gets it now, only the remote recipient stays queued")
        func mixedRecipients() async throws {
            let instance = try Current.required()
            let token = uniqueToken("mixed")
            let sent = try await instance.swaks(
                to: "alice@example.test,y@elsewhere.test",
                from: "alice@example.test",
                ["--header", "Subject: \(token)"]
            )
            let id = try #require(queuedID(in: sent.standardOutput), "\(sent)")
            let message = try await instance.awaitMessage(for: "alice", containing: token)
            check(message.contains("Delivered-To: alice@example.test\n"), message, instance)
            try await require(instance, "\(id) deferred for y@elsewhere.test only") {
                instance.queueFiles(.deferred).contains { $0.hasSuffix("/" + id) }
            }
            let listing = try await instance.queueListJSON()
            let entry = try #require(listing.first { $0["queue_id"] as? String == id }, "\(listing)")
            let pending = (entry["recipients"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
            check(pending == ["y@elsewhere.test"], "pending recipients: \(pending)", instance)
            check(instance.messages(of: "alice", containing: token).count == 1, "delivered once", instance)
        }

        @Test("aviary conf prints the effective configuration: -n what main.cf sets, names one by one, -d defaults")
        func conf() async throws {
            let instance = try Current.required()
            let nonDefault = try await instance.run("aviary", ["conf", "-c", instance.directory, "-n"])
            check(nonDefault.isSuccess, "\(nonDefault)", instance)
            let lines = Set(nonDefault.standardOutput.split(separator: "\n").map(String.init))
            for expected in [
                "myhostname = mail.example.test", "mydestination = localhost", "mynetworks = 127.0.0.0/8",
                "virtual_mailbox_domains = example.test", "queue_directory = \(instance.spool)",
                "virtual_mailbox_maps = passwd-file:\(instance.directory)/users",
            ] {
                check(lines.contains(expected), "missing \(expected) in:\n\(nonDefault.standardOutput)", instance)
            }
            check(!lines.contains { $0.hasPrefix("message_size_limit") }, "-n shows only what main.cf sets", instance)
            let named = try await instance.run(
                "aviary",
                ["conf", "-c", instance.directory, "message_size_limit", "myhostname"]
            )
            check(
                named.standardOutput == "message_size_limit = 10240000\nmyhostname = mail.example.test\n",
                "\(named)",
                instance
            )
            let defaults = try await instance.run(
                "aviary",
                ["conf", "-c", instance.directory, "-d", "myhostname", "mail_owner"]
            )
            check(defaults.standardOutput == "myhostname =\nmail_owner = aviary\n", "\(defaults)", instance)
            let unknown = try await instance.run("aviary", ["conf", "-c", instance.directory, "no_such_parameter"])
            check(
                unknown.status == .exited(1) && unknown.standardError.contains("unknown parameter"),
                "\(unknown)",
                instance
            )
        }
    }
}
