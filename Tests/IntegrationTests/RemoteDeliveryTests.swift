import AviaryTestSupport
import Foundation
import Testing

/// The receiving side: another Aviary, smtpd on 127.0.0.6, serving remote.test and mx.test, refusing
/// refused@ for good and later@ for now (access table).
func makeRemoteInstance() throws -> TestInstance {
    try TestInstance(
        mainCf: [
            ("myhostname", "remote.example.test"), ("virtual_mailbox_domains", "remote.test, mx.test"),
            ("smtpd_recipient_restrictions", "check_recipient_access texthash:DIR/access"),
        ],
        masterCf: [
            "127.0.0.6:0 inet n - n - - smtpd",
            "qmgr unix n - n 300 1 qmgr",
            "local unix - n n - - local",
        ],
        users: ["bob@remote.test", "later@remote.test", "refused@remote.test", "dave@mx.test"])
}

/// The sending side: mail for other domains goes out through the smtp agent; transport_maps and a
/// dnsmasq resolver say where.
func makeSenderInstance(dnsPort: Int) throws -> TestInstance {
    try TestInstance(
        mainCf: [
            ("transport_maps", "texthash:DIR/transport"), ("smtp_dns_resolver_address", "127.0.0.1:\(dnsPort)"),
            ("minimal_backoff_time", "60s"), ("delay_warning_time", "1s"),
        ],
        masterCf: [
            "127.0.0.1:0 inet n - n - - smtpd",
            "qmgr unix n - n 300 1 qmgr",
            "local unix - n n - - local",
            "smtp unix - - n - - smtp",
        ])
}

extension Integration {
    @Suite("Remote delivery", .serialized)
    struct RemoteDelivery {
        @Test("to another server: 2xx sent, 5xx bounced with the remote's reply in the DSN, 4xx deferred and delivered after it recovers; MX fallback, null MX, NXDOMAIN, dead destinations")
        func remoteDelivery() async throws {
            let dns = try await Dnsmasq([
                "--mx-host=mx.test,mx1.mx.test,10", "--mx-host=mx.test,mx2.mx.test,20",
                "--host-record=mx1.mx.test,127.0.0.9", "--host-record=mx2.mx.test,127.0.0.6",
                "--mx-host=nullmx.test,.,0",
            ])
            do {
                try await Self.run(dns)
            } catch {
                await dns.stop()
                throw error
            }
            await dns.stop()
        }

        static func run(_ dns: Dnsmasq) async throws {
            try await withInstance(try makeRemoteInstance()) { remote in
                try remote.writeFile("access", ["refused@remote.test REJECT no such person here", "later@remote.test 450 4.2.1 mailbox busy"])
                try await remote.start()
                let port = try #require(remote.port(of: "127.0.0.6:0"))
                try await withInstance(try makeSenderInstance(dnsPort: dns.port)) { sender in
                    try sender.writeFile("transport", [
                        "remote.test smtp:[127.0.0.6]:\(port)", "mx.test smtp:mx.test:\(port)", "down.test smtp:[127.0.0.9]:\(port)",
                        "slow.test smtp:[127.0.0.11]:\(port)",
                    ])
                    try await sender.start()
                    try await Self.mixedRecipients(sender: sender, remote: remote)
                    try await Self.mxFallback(sender: sender, remote: remote)
                    try await Self.dnsFailures(sender: sender)
                    try await Self.deadDestination(sender: sender)
                    try await Self.slowDestination(sender: sender, remote: remote, port: port)
                }
            }
        }

        static func mixedRecipients(sender: TestInstance, remote: TestInstance) async throws {
            let token = uniqueToken("remote")
            let sent = try await sender.swaks(
                to: "bob@remote.test,refused@remote.test,later@remote.test", from: "alice@example.test",
                ["--header", "Subject: \(token)"])
            check(sent.isSuccess, "\(sent)", sender)
            _ = try await remote.awaitMessage(for: "bob@remote.test", containing: token)
            try await sender.awaitLogLine(containing: "to=<bob@remote.test>", "relay=127.0.0.6[127.0.0.6]:\(try #require(remote.port(of: "127.0.0.6:0")))", "status=sent")
            let bounce = try await sender.awaitMessage(for: "alice", containing: "refused@remote.test")
            check(bounce.contains("Action: failed") && bounce.contains("Remote-MTA: dns; 127.0.0.6"), "DSN:\n\(bounce)", sender)
            check(
                bounce.contains("Diagnostic-Code: smtp; 554 5.7.1 <refused@remote.test>: Recipient address rejected: no such person here\n"),
                "DSN:\n\(bounce)", sender)
            try await sender.awaitLogLine(containing: "to=<later@remote.test>", "status=deferred", "said: 450 4.2.1", "mailbox busy")
            // smtp logs before it answers, and qmgr returns the bounce before it writes the delay reasons.
            func listsReason(_ listing: ToolResult) -> Bool {
                listing.standardOutput.contains("mailbox busy") && listing.standardOutput.contains("later@remote.test")
            }
            let listing = try await retrying(timeout: .seconds(30), step: .milliseconds(200)) {
                try await sender.run("aviary", ["queue", "list", "-c", sender.directory])
            } until: { listsReason($0) }
            check(listsReason(listing), "\(listing)", sender)
            // The remote recovers; a flush delivers the deferred recipient, once.
            try remote.writeFile("access", ["refused@remote.test REJECT no such person here"])
            let flush = try await sender.run("aviary", ["queue", "flush", "-c", sender.directory])
            check(flush.isSuccess, "\(flush)", sender)
            _ = try await remote.awaitMessage(for: "later@remote.test", containing: token, within: .seconds(60))
            check(remote.messages(of: "later@remote.test", containing: token).count == 1, "delivered twice", remote)
        }

        static func mxFallback(sender: TestInstance, remote: TestInstance) async throws {
            let token = uniqueToken("mx")
            let sent = try await sender.swaks(to: "dave@mx.test", ["--header", "Subject: \(token)"])
            check(sent.isSuccess, "\(sent)", sender)
            _ = try await remote.awaitMessage(for: "dave@mx.test", containing: token)
            try await sender.awaitLogLine(containing: "to=<dave@mx.test>", "relay=mx2.mx.test[127.0.0.6]", "status=sent")
        }

        static func dnsFailures(sender: TestInstance) async throws {
            let sent = try await sender.swaks(to: "x@nullmx.test,y@nowhere.test", from: "alice@example.test")
            check(sent.isSuccess, "\(sent)", sender)
            try await sender.awaitLogLine(containing: "to=<x@nullmx.test>", "status=bounced", "nullMX")
            try await sender.awaitLogLine(containing: "to=<y@nowhere.test>", "status=bounced", "Host or domain name not found")
            _ = try await sender.awaitMessage(for: "alice", containing: "y@nowhere.test")
        }

        static func deadDestination(sender: TestInstance) async throws {
            let first = try await sender.swaks(to: "a@down.test", from: "alice@example.test")
            check(first.isSuccess, "\(first)", sender)
            try await sender.awaitLogLine(containing: "to=<a@down.test>", "status=deferred", "Connection refused")
            // smtp logs before it answers; qmgr marks the destination dead when the answer comes.
            try await sender.awaitLogLine(containing: "destination unreachable, deliveries suspended")
            let second = try await sender.swaks(to: "b@down.test", from: "alice@example.test")
            check(second.isSuccess, "\(second)", sender)
            try await sender.awaitLogLine(containing: "to=<b@down.test>", "relay=none", "delivery temporarily suspended")
            // delay_warning_time = 1s: at the next attempt the sender hears, once, that the mail waits.
            try await Task.sleep(for: .seconds(2))
            _ = try await sender.run("aviary", ["queue", "flush", "-c", sender.directory])
            // alice may already hold a delay warning for the earlier test's deferred recipient.
            try await require(sender, within: .seconds(60), "a delay warning for down.test") {
                sender.messages(of: "alice", containing: "Action: delayed").contains { $0.contains("down.test") }
            }
            try await sender.awaitLogLine(containing: "sender delay notification")
        }

        /// Eight messages for a destination that accepts connections and never answers hold at most half
        /// of smtp's processes (default_destination_concurrency_limit); mail for another domain still goes.
        static func slowDestination(sender: TestInstance, remote: TestInstance, port: Int) async throws {
            let tarpit = try ChildProcess(
                path: "/usr/bin/python3", arguments: [clientsDirectory + "/tarpit.py", "127.0.0.11", String(port), "120"],
                standardOutput: sender.directory + "/tarpit.out", standardError: sender.directory + "/tarpit.err")
            defer { tarpit.signal(SIGKILL) }
            try await require(sender, within: .seconds(20), "the tarpit listens") {
                ((try? String(contentsOfFile: sender.directory + "/tarpit.out", encoding: .utf8)) ?? "").contains("ready")
            }
            for index in 0..<8 {
                let sent = try await sender.swaks(to: "user\(index)@slow.test")
                check(sent.isSuccess, "\(sent)", sender)
            }
            let token = uniqueToken("notstarved")
            let sent = try await sender.swaks(to: "bob@remote.test", ["--header", "Subject: \(token)"])
            check(sent.isSuccess, "\(sent)", sender)
            _ = try await remote.awaitMessage(for: "bob@remote.test", containing: token, within: .seconds(60))
        }
    }
}

extension Integration {
    @Suite("Mail loops", .serialized)
    struct MailLoops {
        @Test("a route that leads back to this server bounces with 5.4.6 mail for X loops back to myself, instead of going round")
        func loopsBackToMyself() async throws {
            let port = freePort()
            try await withInstance(
                try TestInstance(
                    mainCf: [("transport_maps", "texthash:DIR/transport"), ("relay_domains", "loop.test")],
                    masterCf: [
                        "127.0.0.1:0 inet n - n - - smtpd", "127.0.0.7:\(port) inet n - n - - smtpd",
                        "qmgr unix n - n 300 1 qmgr", "local unix - n n - - local", "smtp unix - - n - - smtp",
                    ])
            ) { instance in
                try instance.writeFile("transport", ["loop.test smtp:[127.0.0.7]:\(port)"])
                try await instance.start()
                let sent = try await instance.swaks(to: "someone@loop.test", from: "alice@example.test")
                check(sent.isSuccess, "\(sent)", instance)
                try await instance.awaitLogLine(containing: "greeted me with my own hostname mail.example.test")
                try await instance.awaitLogLine(
                    containing: "to=<someone@loop.test>", "dsn=5.4.6", "status=bounced (mail for [127.0.0.7]:\(port) loops back to myself)")
                try await require(instance, "the bounce in alice's Maildir") {
                    instance.maildirMessages("alice").contains {
                        String(decoding: $0, as: UTF8.self).contains("loops back to myself")
                    }
                }
                check(instance.log().components(separatedBy: "someone@loop.test").count < 6, "the message went round", instance)
            }
        }
    }
}
