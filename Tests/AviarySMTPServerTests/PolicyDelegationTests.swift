import AviaryConfig
import AviarySMTP
import AviaryUsers
import Logging
import Testing

@testable import AviarySMTPServer

/// DNS blocklist restrictions and the policy delegation protocol without a network: parsing the restriction
/// words, the names asked, the request on the wire, the answers read, and the access actions they carry.
@Suite("smtpd DNS blocklists and policy delegation: parsing and encoding")
struct PolicyDelegationTests {
    // MARK: - DNS blocklists

    @Test(
        "result filters: Postfix's ip_match patterns (a number or [n;n..m] per octet)",
        arguments: [
            ("127.0.0.2", ["127.0.0.2"], ["127.0.0.3", "127.0.0.20"]),
            ("127.0.0.[2..11]", ["127.0.0.2", "127.0.0.11", "127.0.0.7"], ["127.0.0.1", "127.0.0.12"]),
            ("127.0.[0;1].[2;4..6]", ["127.0.0.2", "127.0.1.5"], ["127.0.2.2", "127.0.0.3", "127.0.1.7"]),
            ("[1..127;128..255].2.3.4", ["1.2.3.4", "200.2.3.4"], ["0.2.3.4"]),
        ]
    )
    func addressPattern(_ pattern: String, _ matching: [String], _ others: [String]) throws {
        let parsed = try #require(AddressPattern(pattern))
        for address in matching { #expect(parsed.matches(address), "\(pattern) ~ \(address)") }
        for address in others { #expect(!parsed.matches(address), "\(pattern) !~ \(address)") }
    }

    @Test(
        "malformed result filters are refused",
        arguments: [
            "", "127.0.0", "127.0.0.2.5", "127.0.0.256", "1.2.3.", "1.2.[].4", "1.2.[3.4", "1.2.3.[4..1]", "1.2.3.4x",
            "1.2.[1-255].5", "a.b.c.d", "127.0.0.2,127.0.0.3",
        ]
    )
    func malformedPattern(_ pattern: String) {
        #expect(AddressPattern(pattern) == nil, "\(pattern)")
    }

    @Test("query names: reversed IPv4 octets, 32 IPv6 nibbles, an IPv4-mapped address as IPv4, domains of addresses")
    func queryNames() throws {
        let list = try #require(DNSBlocklist("RBL.Example.=127.0.0.2"))
        #expect(list.zone == "rbl.example")
        #expect(list.filter == AddressPattern("127.0.0.2"))
        #expect(list.queryName(forAddress: "192.0.2.1") == "1.2.0.192.rbl.example")
        #expect(list.queryName(forAddress: "::ffff:192.0.2.1") == "1.2.0.192.rbl.example")
        #expect(
            list.queryName(forAddress: "2001:db8::1")
                == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.rbl.example"
        )
        #expect(list.queryName(forAddress: "unknown") == nil)
        #expect(list.queryName(forDomainOf: "ceo@Spam.Example") == "spam.example.rbl.example")
        #expect(list.queryName(forDomainOf: "mail.spam.example.") == "mail.spam.example.rbl.example")
        // Postfix asks nothing for address literals, numeric last labels and names that are no host names.
        for text in ["u@[192.0.2.1]", "192.0.2.1", "u@", "", "bad name.example", "x@-bad.example", "a..b"] {
            #expect(list.queryName(forDomainOf: text) == nil, "\(text)")
        }
        #expect(DNSBlocklist("rbl.example")?.filter == nil)
        for bad in ["", "=127.0.0.2", "rbl.example=", "rbl.example=127.0.0", "rbl example", "rbl/example"] {
            #expect(DNSBlocklist(bad) == nil, "\(bad)")
        }
    }

    @Test(
        "restriction words: blocklists and policy servers take the next word; a missing or bad one is a configuration error"
    )
    func restrictionWords() {
        let words = [
            "reject_rbl_client", "zen.example=127.0.0.[2..11]", "reject_rhsbl_client", "dbl.example",
            "REJECT_RHSBL_SENDER", "dbl.example", "reject_rhsbl_helo", "dbl.example", "reject_rhsbl_recipient",
            "dbl.example",
            "check_policy_service", "unix:/run/policy", "check_policy_service", "inet:127.0.0.1:10023",
            "check_policy_service", "inet:[::1]:9998", "permit_dnswl_client", "list.dnswl.example=127.0.[0..255].[1..3]",
            "permit_rhswl_client", "wl.example",
        ]
        let parsed = Restriction.parseList(words, parameter: "smtpd_recipient_restrictions")
        #expect(
            parsed
                == .success([
                    .rejectRBLClient(DNSBlocklist("zen.example=127.0.0.[2..11]")!),
                    .rejectRHSBL(.client, DNSBlocklist("dbl.example")!),
                    .rejectRHSBL(.sender, DNSBlocklist("dbl.example")!),
                    .rejectRHSBL(.helo, DNSBlocklist("dbl.example")!),
                    .rejectRHSBL(.recipient, DNSBlocklist("dbl.example")!), .checkPolicyService(.unix("/run/policy")),
                    .checkPolicyService(.inet(host: "127.0.0.1", port: 10023)),
                    .checkPolicyService(.inet(host: "::1", port: 9998)),
                    .permitDNSWLClient(DNSBlocklist("list.dnswl.example=127.0.[0..255].[1..3]")!),
                    .permitRHSWLClient(DNSBlocklist("wl.example")!),
                ])
        )
        for bad in [
            ["reject_rbl_client"], ["reject_rbl_client", "zen.example=300.0.0.1"], ["check_policy_service"],
            ["check_policy_service", "private/policy"], ["check_policy_service", "inet:127.0.0.1"],
            ["check_policy_service", "inet:127.0.0.1:99999"], ["check_policy_service", "unix:relative"],
        ] {
            guard case .failure(let error) = Restriction.parseList(bad, parameter: "smtpd_client_restrictions") else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(error.message.hasPrefix(bad[0].lowercased() + " needs"), "\(error)")
        }
    }

    @Test("the refusal reads as Postfix's default_rbl_reply, with the TXT record as the reason when there is one")
    func blocklistReply() {
        let listed = SMTPReply.blocklisted(
            code: 554,
            "Client host",
            what: "192.0.2.1",
            zone: "zen.example",
            reason: "see https://x/192.0.2.1"
        )
        #expect(listed.code == 554)
        #expect(listed.enhancedCode == EnhancedStatusCode(5, 7, 1))
        #expect(
            listed.lines == [
                "Service unavailable; Client host [192.0.2.1] blocked using zen.example; see https://x/192.0.2.1"
            ]
        )
        let bare = SMTPReply.blocklisted(
            code: 450,
            "Sender address",
            what: "a@b.example",
            zone: "dbl.example",
            reason: nil
        )
        #expect(bare.enhancedCode == EnhancedStatusCode(4, 7, 1))
        #expect(bare.lines == ["Service unavailable; Sender address [a@b.example] blocked using dbl.example"])
    }

    @Test("a session asks the DNS about each name once, failures included")
    func blocklistCache() {
        let session = PolicySessionState(logger: Logger(label: "test"))
        var lookups: [String] = []
        for name in ["1.0.0.127.rbl.test", "1.0.0.127.down.test", "1.0.0.127.rbl.test", "1.0.0.127.down.test"] {
            _ = session.blocklistAnswer(for: name) {
                lookups.append(name)
                return name.contains("down") ? .temporaryFailure : .listed(addresses: ["127.0.0.2"], reason: nil)
            }
        }
        #expect(lookups == ["1.0.0.127.rbl.test", "1.0.0.127.down.test"])
        #expect(session.blocklistAnswer(for: "1.0.0.127.rbl.test") { .notListed } == .listed(addresses: ["127.0.0.2"], reason: nil))
    }

    // MARK: - Policy delegation protocol

    static func request() -> PolicyRequest {
        var client = ClientIdentity(name: "mail.client.example", address: "192.0.2.1")
        client.localAddress = "192.0.2.25"
        var request = PolicyRequest(
            client: client,
            heloName: "client.example",
            sender: "s@client.example",
            recipient: "r@here.example",
            saslUsername: nil,
            hasIllegalPipelining: false
        )
        request.protocolName = "ESMTP"
        request.instance = "4ZQx1b2c3"
        request.size = 1234
        request.encryption = .init(protocolName: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", keySize: 256)
        return request
    }

    @Test("the request: SMTPD_POLICY_README's attributes, one name=value per line, an empty line at the end")
    func requestEncoding() {
        let encoded = String(
            decoding: PolicyServiceRequest(Self.request(), state: "RCPT", context: "submission").encoded,
            as: UTF8.self
        )
        #expect(
            encoded == """
                request=smtpd_access_policy
                protocol_state=RCPT
                protocol_name=ESMTP
                client_address=192.0.2.1
                client_name=mail.client.example
                client_port=
                reverse_client_name=mail.client.example
                server_address=192.0.2.25
                server_port=
                helo_name=client.example
                sender=s@client.example
                recipient=r@here.example
                recipient_count=0
                queue_id=
                instance=4ZQx1b2c3
                size=1234
                etrn_domain=
                stress=
                sasl_method=
                sasl_username=
                sasl_sender=
                ccert_subject=
                ccert_issuer=
                ccert_fingerprint=
                ccert_pubkey_fingerprint=
                encryption_protocol=TLSv1.3
                encryption_cipher=TLS_AES_256_GCM_SHA384
                encryption_keysize=256
                policy_context=submission


                """
        )
    }

    @Test("at DATA the recipient count is sent; a value never carries a line break onto the wire")
    func requestAtData() {
        var request = Self.request()
        request.recipient = nil
        request.recipientCount = 3
        request.queueID = "4ZQx1b2c3"
        request.heloName = "evil\r\naction=OK\n"
        request.saslUsername = "alice"
        request.saslMethod = "PLAIN"
        let lines = String(decoding: PolicyServiceRequest(request, state: "DATA", context: "").encoded, as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.contains("protocol_state=DATA"))
        #expect(lines.contains("recipient="))
        #expect(lines.contains("recipient_count=3"))
        #expect(lines.contains("queue_id=4ZQx1b2c3"))
        #expect(lines.contains("sasl_method=PLAIN"))
        #expect(lines.contains("sasl_username=alice"))
        #expect(lines.contains("helo_name=evil action=OK "))
        #expect(!lines.contains("action=OK"))
        #expect(lines.suffix(2) == ["", ""])
    }

    @Test(
        "answers: action= then an empty line; other attributes ignored; garbage, overlong or incomplete answers are not actions",
        arguments: [
            ("action=DUNNO\n\n", PolicyServiceAnswer.action("DUNNO")),
            (
                "action=defer_if_permit Greylisted, see http://x/\n\n",
                .action("defer_if_permit Greylisted, see http://x/")
            ),
            ("log=1\naction=  REJECT go away \r\n\r\n", .action("REJECT go away")),
            ("action=OK\n", .incomplete),
            ("", .incomplete),
            ("action=OK", .incomplete),
            ("\n", .malformed("answer without action=")),
            ("hello there\n\n", .malformed("not a name=value line: \"hello there\"")),
            ("=OK\n\n", .malformed("not a name=value line: \"=OK\"")),
            ("action=\n\n", .malformed("empty action")),
            ("action=OK\n\naction=REJECT\n\n", .malformed("data after the answer")),
            ("action=" + String(repeating: "x", count: 3000) + "\n\n", .malformed("line longer than 2048 bytes")),
            (String(repeating: "a=b\n", count: 3000), .malformed("answer longer than 8192 bytes")),
        ]
    )
    func answers(_ text: String, _ expected: PolicyServiceAnswer) {
        #expect(PolicyServiceAnswer(Array(text.utf8)) == expected)
    }

    @Test("an answer that is not UTF-8 is garbage")
    func nonUTF8Answer() {
        #expect(
            PolicyServiceAnswer(Array("action=REJECT ".utf8) + [0xff, 0xfe] + Array("\n\n".utf8)) != .action("REJECT")
        )
        guard case .malformed = PolicyServiceAnswer(Array("action=REJECT ".utf8) + [0xff, 0xfe] + Array("\n\n".utf8))
        else {
            Issue.record("accepted bytes that are not UTF-8")
            return
        }
    }

    @Test("endpoints: unix:/path, inet:host:port, inet:[v6]:port; anything else is refused")
    func endpoints() {
        #expect(
            PolicyServiceEndpoint("unix:/var/spool/postfix/private/policy")
                == .unix("/var/spool/postfix/private/policy")
        )
        #expect(PolicyServiceEndpoint("inet:localhost:10023") == .inet(host: "localhost", port: 10023))
        #expect(PolicyServiceEndpoint("inet:[::1]:10023")?.description == "inet:[::1]:10023")
        for bad in ["", "unix:", "inet:", "inet::25", "inet:host:", "inet:host:0", "tcp:host:25", "private/policy"] {
            #expect(PolicyServiceEndpoint(bad) == nil, "\(bad)")
        }
    }

    // MARK: - Access actions a policy server answers with

    /// The policy of a main.cf with every default (the directory has none) but `settings`.
    static func policy(_ settings: [(String, String)] = []) -> SMTPPolicy {
        let config = try! MainConfig.load(directory: "/nonexistent-aviary-config", overrides: settings)
        return SMTPPolicy(config: config, directory: UserDirectory(config: config))
    }

    @Test("a refusal names what its list judges, as Postfix does: the client, the HELO name, the sender, the recipient")
    func listTargets() {
        let cases = [
            ("smtpd_client_restrictions", "<mail.client.example[192.0.2.1]>: Client host rejected: Access denied"),
            ("smtpd_helo_restrictions", "<client.example>: Helo command rejected: Access denied"),
            ("smtpd_sender_restrictions", "<s@client.example>: Sender address rejected: Access denied"),
            ("smtpd_relay_restrictions", "<r@here.example>: Recipient address rejected: Access denied"),
        ]
        for (parameter, text) in cases {
            let reply = Self.policy([(parameter, "reject")]).checkRecipient(Self.request())
            #expect(reply?.code == 554 && reply?.lines == [text], "\(parameter): \(String(describing: reply))")
        }
    }

    static func decide(_ actions: [String]) -> (verdicts: [SMTPPolicy.Verdict], evaluation: SMTPPolicy.Evaluation) {
        let policy = policy()
        var evaluation = SMTPPolicy.Evaluation()
        let verdicts = actions.map {
            policy.accessAction($0, target: .recipient("r@here.example"), request(), &evaluation)
        }
        return (verdicts, evaluation)
    }

    @Test("REJECT, DEFER and NNN carry their text and enhanced code (its class made the reply's), or Access denied")
    func refusals() {
        let verdicts = Self.decide([
            "REJECT", "reject 5.7.26 no DMARC", "DEFER_", "DEFER", "defer 4.7.1 Greylisted", "550 4.7.1 mixed classes",
            "450", "1700000000", "OK", "dunno whatever", "permit_mynetworks",
        ]).verdicts
        let replies = verdicts.map { verdict -> String in
            switch verdict {
            case .permit: "permit"
            case .dunno: "dunno"
            case .refuse(let reply): "\(reply.code) \(reply.enhancedCode.map { "\($0) " } ?? "")\(reply.lines.joined())"
            }
        }
        #expect(
            replies == [
                "554 5.7.1 <r@here.example>: Recipient address rejected: Access denied",
                "554 5.7.26 <r@here.example>: Recipient address rejected: no DMARC",
                "451 4.3.5 Server configuration error",
                "450 4.7.1 <r@here.example>: Recipient address rejected: Access denied",
                "450 4.7.1 <r@here.example>: Recipient address rejected: Greylisted",
                "550 5.7.1 <r@here.example>: Recipient address rejected: mixed classes",
                "450 4.7.1 <r@here.example>: Recipient address rejected: Access denied",
                "permit", "permit", "dunno", "dunno",
            ]
        )
    }

    @Test(
        "DEFER_IF_PERMIT defers what would pass; DEFER_IF_REJECT turns a later 5xx into its 4xx; PREPEND keeps valid fields only"
    )
    func conditionalActions() {
        let (verdicts, evaluation) = Self.decide([
            "DEFER_IF_PERMIT Greylisted, see http://postgrey.example/", "DEFER_IF_REJECT", "DEFER_IF_PERMIT second",
            "PREPEND X-Greylist: delayed 61 seconds", "PREPEND not a header",
            "PREPEND X-Long: " + String(repeating: "x", count: 991), "WARN look at this", "HOLD", "DISCARD",
        ])
        #expect(verdicts.allSatisfy { $0 == .dunno })
        #expect(
            evaluation.deferIfPermit?.lines == [
                "<r@here.example>: Recipient address rejected: Greylisted, see http://postgrey.example/"
            ]
        )
        #expect(evaluation.deferIfPermit?.code == 450)
        #expect(evaluation.prependedFields == ["X-Greylist: delayed 61 seconds"])
        let rejected = SMTPReply.policyRejected(.recipient("r@here.example"), code: 554, "Access denied")
        #expect(evaluation.refusal(rejected).code == 450)
        #expect(
            evaluation.refusal(rejected).lines == ["<r@here.example>: Recipient address rejected: Service unavailable"]
        )
        let deferred = SMTPReply.policyRejected(.recipient("r@here.example"), code: 451, "later")
        #expect(evaluation.refusal(deferred) == deferred)
        #expect(evaluation.passed(Self.request()) == evaluation.deferIfPermit)
    }

    @Test("PREPEND fields reach the session only when the check lets the recipient through")
    func prependedFields() {
        var request = Self.request()
        let session = PolicySessionState(logger: Logger(label: "test"))
        request.session = session
        var evaluation = SMTPPolicy.Evaluation()
        evaluation.prependedFields = ["X-Greylist: delayed 1 seconds", "Received-SPF: pass"]
        #expect(evaluation.passed(request) == nil)
        #expect(
            String(decoding: session.takePrependedFields(), as: UTF8.self)
                == "X-Greylist: delayed 1 seconds\r\nReceived-SPF: pass\r\n"
        )
        #expect(session.takePrependedFields().isEmpty)
    }
}
