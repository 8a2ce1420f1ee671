import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension Integration {
    /// DNS blocklists and policy servers through the real master and smtpd: dnsmasq serves the lists, Debian's
    /// postgrey and policyd-spf are the policy servers, and clients/policy_server.py one that misbehaves.
    /// mynetworks leaves 127.0.0.0/8 out, so the test clients are judged like clients on the internet.
    @Suite("DNS blocklists and policy services")
    struct PolicyDelegation {
        static let outsideNetworks = ("mynetworks", "10.0.0.0/8")

        @Test(
            "reject_rbl_client and reject_rhsbl_*: Postfix's reply with the list's TXT record; =pattern filters; a list that does not answer is skipped with a warning; permit_dnswl_client permits a listed client, but not for relaying, and defers what a later list refuses when it does not answer"
        )
        func blocklists() async throws {
            try await Dnsmasq.serving([
                "--host-record=1.0.0.127.rbl.test,127.0.0.2",
                "--txt-record=1.0.0.127.rbl.test,Listed: see http://rbl.test/q/127.0.0.1",
                "--host-record=2.0.0.127.other.test,127.0.0.10",
                "--host-record=1.0.0.127.other.test,127.0.0.10",
                "--host-record=spam.test.dbl.test,127.0.1.2",
                "--host-record=bad.test.dbl.test,127.0.1.2",
                "--host-record=1.0.0.127.wl.test,127.0.10.2",
            ]) { dns in try await Self.runBlocklists(dnsPort: dns.port) }
        }

        static func runBlocklists(dnsPort: Int) async throws {
            let instance = try TestInstance(
                mainCf: [
                    Self.outsideNetworks, ("smtp_dns_resolver_address", "127.0.0.1:\(dnsPort)"),
                    // dnsmasq refuses names outside test/ (it has no upstream): a list that cannot be asked.
                    (
                        "smtpd_client_restrictions",
                        "reject_rbl_client down.invalid, reject_rbl_client other.test=127.0.0.2, reject_rbl_client rbl.test"
                    ),
                    ("smtpd_helo_restrictions", "reject_rhsbl_helo dbl.test"),
                    ("smtpd_sender_restrictions", "reject_rhsbl_sender dbl.test"),
                ],
                masterCf: [
                    "127.0.0.1:0 inet n - n - - smtpd",
                    "127.0.0.2:0 inet n - n - - smtpd -o smtpd_client_restrictions=reject_rbl_client,other.test=127.0.0.[2..11]",
                    "127.0.0.3:0 inet n - n - - smtpd -o smtpd_client_restrictions=",
                    "127.0.0.4:0 inet n - n - - smtpd -o smtpd_client_restrictions=permit_dnswl_client,wl.test,reject_rbl_client,rbl.test",
                    "127.0.0.5:0 inet n - n - - smtpd"
                        + " -o smtpd_client_restrictions=permit_dnswl_client,down.invalid,reject_rbl_client,rbl.test",
                    "qmgr unix n - n 300 1 qmgr",
                    "local unix - n n - - local",
                ]
            )
            try await withInstance(instance) { instance in
                try await instance.start()
                func attempt(
                    _ service: String,
                    source: String? = nil,
                    helo: String = "client.test",
                    sender: String = "s@good.test"
                ) async throws -> Transcript {
                    try await instance.transcript(
                        say("EHLO \(helo)") + say("MAIL FROM:<\(sender)>") + say("RCPT TO:<alice@example.test>")
                            + say("QUIT"),
                        service: service,
                        source: source
                    )
                }
                let listed = try await attempt("127.0.0.1:0")
                check(listed.codes == [220, 250, 250, 554, 221], "\(listed)", instance)
                check(
                    listed.replies[3]
                        == "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using rbl.test; Listed: see http://rbl.test/q/127.0.0.1",
                    "\(listed)",
                    instance
                )
                try await instance.awaitLogLine(
                    containing:
                        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using rbl.test"
                )
                try await instance.awaitLogLine(containing: "1.0.0.127.down.invalid: RBL lookup error")

                let filtered = try await attempt("127.0.0.2:0", source: "127.0.0.2")
                check(filtered.codes == [220, 250, 250, 554, 221], "\(filtered)", instance)
                check(
                    filtered.replies[3]
                        == "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using other.test",
                    "\(filtered)",
                    instance
                )

                let helo = try await attempt("127.0.0.3:0", helo: "bad.test")
                check(
                    helo.replies[3] == "554 5.7.1 Service unavailable; Helo command [bad.test] blocked using dbl.test",
                    "\(helo)",
                    instance
                )
                let sender = try await attempt("127.0.0.3:0", sender: "ceo@spam.test")
                check(
                    sender.replies[3]
                        == "554 5.7.1 Service unavailable; Sender address [ceo@spam.test] blocked using dbl.test",
                    "\(sender)",
                    instance
                )
                let clean = try await attempt("127.0.0.3:0")
                check(clean.codes == [220, 250, 250, 250, 221], "\(clean)", instance)

                let allowed = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<s@good.test>") + say("RCPT TO:<alice@example.test>")
                        + say("RCPT TO:<x@elsewhere.test>") + say("QUIT"),
                    service: "127.0.0.4:0")
                check(allowed.codes == [220, 250, 250, 250, 554, 221], "\(allowed)", instance)
                check(allowed.replies[4].contains("blocked using rbl.test"), "\(allowed)", instance)
                let unanswered = try await attempt("127.0.0.5:0")
                check(
                    unanswered.replies[3] == "450 4.7.1 <127.0.0.1>: Client host rejected: Service unavailable",
                    "\(unanswered)", instance)
            }
        }

        @Test(
            "postgrey: the first attempt gets 450 4.2.0 Greylisted (postgrey's DSN, as with Postfix), a retry after its delay is accepted and carries X-Greylist:"
        )
        func postgrey() async throws {
            let port = freePort()
            let instance = try TestInstance(mainCf: [
                Self.outsideNetworks,
                ("smtpd_recipient_restrictions", "check_policy_service inet:127.0.0.1:\(port)"),
            ])
            try await withInstance(instance) { instance in
                let database = instance.directory + "/postgrey"
                try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
                var account = ["--user=\(NSUserName())"]
                if Privileges.isRoot, let postgrey = getpwnam("postgrey") {
                    chown(database, postgrey.pointee.pw_uid, postgrey.pointee.pw_gid)
                    account = ["--user=postgrey", "--group=postgrey"]
                }
                let server = try instance.launch(
                    "/usr/sbin/postgrey",
                    ["--inet=127.0.0.1:\(port)", "--delay=1", "--dbdir=\(database)", "--pidfile=\(database)/pid"]
                        + account,
                    name: "postgrey",
                    mergingErrors: true
                )
                let listening = await waitUntil(timeout: .seconds(20)) { !server.isRunning || Self.accepts(port) }
                check(listening && server.isRunning, instance.launchedOutput("postgrey"), instance)
                try await instance.start()

                let conversation =
                    say("EHLO client.test") + say("MAIL FROM:<s@greylisted.test>") + say("RCPT TO:<alice@example.test>")
                let first = try await instance.transcript(conversation + say("QUIT"))
                check(first.codes == [220, 250, 250, 450, 221], "\(first)", instance)
                check(
                    first.replies[3].hasPrefix(
                        "450 4.2.0 <alice@example.test>: Recipient address rejected: Greylisted, see http"
                    ),
                    "\(first)",
                    instance
                )
                // Retries until postgrey's delay (1 s) has passed: bounded in count and time.
                let retried = try await retrying(timeout: .seconds(30), step: .milliseconds(500)) {
                    try await instance.transcript(
                        conversation + say("DATA") + say("Subject: greylisted\r\n\r\nhello\r\n.") + say("QUIT")
                    )
                } until: {
                    $0.codes.count > 3 && $0.codes[3] != 450
                }
                check(
                    retried.codes == [220, 250, 250, 250, 354, 250, 221],
                    "\(retried)\n\(instance.launchedOutput("postgrey"))",
                    instance
                )
                let delivered = await waitUntil(timeout: .seconds(30)) { instance.maildirMessages("alice").count == 1 }
                check(delivered, "\(instance.maildirFiles("alice"))", instance)
                let message = String(decoding: instance.maildirMessages("alice").first ?? [], as: UTF8.self)
                let head = message.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n")[0]
                let order = ["\nX-Greylist: delayed ", "\nReceived: from"].map { head.range(of: $0)?.lowerBound }
                check(order.allSatisfy { $0 != nil } && order[0]! < order[1]!, head, instance)
            }
        }

        /// Whether something accepts TCP connections on 127.0.0.1:`port`.
        static func accepts(_ port: Int) -> Bool {
            (try? LineSocket(port: port)) != nil
        }

        @Test(
            "policyd-spf (spawned per connection as Postfix's spawn does): an SPF fail is refused with its 550 5.7.23; a pass is delivered with its Received-SPF:"
        )
        func policydSPF() async throws {
            try await Dnsmasq.serving([
                "--txt-record=forged.test,v=spf1 ip4:192.0.2.0/24 -all",
                "--txt-record=good.test,v=spf1 ip4:127.0.0.1 -all",
            ]) { dns in try await Self.runPolicydSPF(dnsPort: dns.port) }
        }

        static func runPolicydSPF(dnsPort: Int) async throws {
            let instance = try TestInstance(mainCf: [
                Self.outsideNetworks,
                ("smtpd_recipient_restrictions", "check_policy_service unix:DIR/policyd-spf.sock"),
            ])
            try await withInstance(instance) { instance in
                // Debian's configuration, except that 127.0.0.0/8 is not skipped: the test client is judged.
                try instance.writeFile(
                    "policyd-spf.conf",
                    [
                        "debugLevel = 1", "TestOnly = 1", "HELO_reject = Fail", "Mail_From_reject = Fail",
                        "PermError_reject = False", "TempError_Defer = False", "skip_addresses = 192.0.2.0/24",
                    ]
                )
                let socket = instance.directory + "/policyd-spf.sock"
                _ = try instance.launch(
                    "/usr/bin/python3",
                    [
                        clientsDirectory + "/policy_server.py", "spawn", socket,
                        instance.directory + "/policyd-spf.log",
                        String(dnsPort), "/usr/bin/policyd-spf", instance.directory + "/policyd-spf.conf",
                    ],
                    name: "policyd-spf"
                )
                check(
                    await waitUntil(timeout: .seconds(20)) { instance.launchedOutput("policyd-spf").contains("ready") },
                    "spawn",
                    instance
                )
                try await instance.start()

                let forged = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<ceo@forged.test>") + say("RCPT TO:<alice@example.test>")
                        + say("QUIT")
                )
                check(
                    forged.codes == [220, 250, 250, 550, 221],
                    "\(forged)\n\(instance.launchedOutput("policyd-spf"))",
                    instance
                )
                check(
                    forged.replies[3].hasPrefix(
                        "550 5.7.23 <alice@example.test>: Recipient address rejected: Message rejected due to: SPF fail"
                    ),
                    "\(forged)",
                    instance
                )

                let good = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<news@good.test>") + say("RCPT TO:<alice@example.test>")
                        + say("DATA")
                        + say("Subject: authorized\r\n\r\nhello\r\n.") + say("QUIT")
                )
                check(good.codes == [220, 250, 250, 250, 354, 250, 221], "\(good)", instance)
                let delivered = await waitUntil(timeout: .seconds(30)) { instance.maildirMessages("alice").count == 1 }
                check(delivered, "\(instance.maildirFiles("alice"))", instance)
                let message = String(decoding: instance.maildirMessages("alice").first ?? [], as: UTF8.self)
                check(
                    message.contains("\nReceived-SPF: Pass (mailfrom) identity=mailfrom; client-ip=127.0.0.1"),
                    message,
                    instance
                )
            }
        }

        @Test(
            "a policy server that answers garbage, too much, nothing, or hangs up, or is not there, gets the default action; a held request holds up no other session; connections are reused"
        )
        func misbehavingServers() async throws {
            let modes = ["dunno", "garbage", "overlong", "stall", "close"]
            let instance = try TestInstance(
                mainCf: [
                    Self.outsideNetworks, ("smtpd_policy_service_timeout", "2s"),
                    ("smtpd_policy_service_retry_delay", "0s"),
                    ("smtpd_recipient_restrictions", "check_policy_service unix:DIR/dunno.sock"),
                ],
                masterCf: [
                    // One process: the held session and the others share it.
                    "127.0.0.1:0 inet n - n - 1 smtpd",
                    "127.0.0.2:0 inet n - n - - smtpd -o smtpd_recipient_restrictions=check_policy_service,unix:DIR/garbage.sock",
                    "127.0.0.3:0 inet n - n - - smtpd -o smtpd_recipient_restrictions=check_policy_service,unix:DIR/overlong.sock",
                    "127.0.0.4:0 inet n - n - - smtpd -o smtpd_recipient_restrictions=check_policy_service,unix:DIR/stall.sock",
                    "127.0.0.5:0 inet n - n - - smtpd -o smtpd_recipient_restrictions=check_policy_service,unix:DIR/close.sock",
                    "127.0.0.6:0 inet n - n - - smtpd -o smtpd_recipient_restrictions=check_policy_service,unix:DIR/nobody.sock",
                    "127.0.0.7:0 inet n - n - - smtpd -o smtpd_recipient_restrictions=check_policy_service,unix:DIR/stall.sock"
                        + " -o smtpd_policy_service_default_action=DUNNO",
                    "qmgr unix n - n 300 1 qmgr",
                    "local unix - n n - - local",
                ],
                users: ["alice@example.test", "bob@example.test", "held@example.test"]
            )
            try await withInstance(instance) { instance in
                let release = instance.directory + "/release"
                for mode in modes {
                    _ = try instance.launch(
                        "/usr/bin/python3",
                        [
                            clientsDirectory + "/policy_server.py", mode, instance.directory + "/\(mode).sock",
                            instance.directory + "/\(mode).log", release,
                        ],
                        name: mode
                    )
                }
                let ready = await waitUntil(timeout: .seconds(20)) {
                    modes.allSatisfy { instance.launchedOutput($0).contains("ready") }
                }
                check(ready, modes.map { instance.launchedOutput($0) }.joined(separator: "\n"), instance)
                try await instance.start()
                func serverLog(_ mode: String) -> [String] {
                    ((try? String(contentsOfFile: instance.directory + "/\(mode).log", encoding: .utf8)) ?? "")
                        .split(separator: "\n").map(String.init)
                }
                func rcpt(_ service: String, _ recipients: [String] = ["alice@example.test"]) async throws -> Transcript
                {
                    try await instance.transcript(
                        say("EHLO client.test") + say("MAIL FROM:<s@sender.test>")
                            + recipients.flatMap { say("RCPT TO:<\($0)>") } + say("QUIT"),
                        service: service
                    )
                }

                for (service, mode) in [
                    ("127.0.0.2:0", "garbage"), ("127.0.0.3:0", "overlong"), ("127.0.0.4:0", "stall"),
                    ("127.0.0.5:0", "close"), ("127.0.0.6:0", "nobody"),
                ] {
                    let refused = try await rcpt(service)
                    check(refused.codes == [220, 250, 250, 451, 221], "\(mode): \(refused)", instance)
                    check(
                        refused.replies[3]
                            == "451 4.3.5 <alice@example.test>: Recipient address rejected: Server configuration problem",
                        "\(mode): \(refused)",
                        instance
                    )
                    try await instance.awaitLogLine(
                        containing: "problem talking to server unix:\(instance.directory)/\(mode).sock"
                    )
                }
                let lenient = try await rcpt("127.0.0.7:0")
                check(lenient.codes == [220, 250, 250, 250, 221], "default action DUNNO: \(lenient)", instance)

                // One session waits for the server; another of the same process is answered meanwhile.
                let held = Task { try await rcpt("127.0.0.1:0", ["held@example.test"]) }
                let asked = await waitUntil(timeout: .seconds(30)) {
                    serverLog("dunno").contains("request RCPT held@example.test")
                }
                check(asked, "\(serverLog("dunno"))", instance)
                let meanwhile = try await rcpt("127.0.0.1:0", ["alice@example.test", "bob@example.test"])
                check(meanwhile.codes == [220, 250, 250, 250, 250, 221], "\(meanwhile)", instance)
                _ = FileManager.default.createFile(atPath: release, contents: nil)
                let released = try await held.value
                check(released.codes == [220, 250, 250, 250, 221], "\(released)", instance)

                // Both connections are now idle in the pool: later sessions reuse them.
                let connections = serverLog("dunno").filter { $0.hasPrefix("connect ") }.count
                check(connections == 2, "\(serverLog("dunno"))", instance)
                for _ in 0..<3 {
                    let again = try await rcpt("127.0.0.1:0", ["alice@example.test", "bob@example.test"])
                    check(again.codes == [220, 250, 250, 250, 250, 221], "\(again)", instance)
                }
                check(
                    serverLog("dunno").filter { $0.hasPrefix("connect ") }.count == connections,
                    "\(serverLog("dunno"))",
                    instance
                )
                check(
                    serverLog("dunno").filter { $0.hasPrefix("request RCPT") }.count == 9,
                    "\(serverLog("dunno"))",
                    instance
                )
            }
        }
    }
}
