import AviaryConfig

/// One word of a Postfix restriction list (`smtpd_relay_restrictions = permit_mynetworks,
/// permit_sasl_authenticated, reject_unauth_destination`). Lists are read once per process; a word smtpd
/// does not know makes the list unusable, and every request it would judge is answered
/// `451 4.3.5 Server configuration error` (Postfix's behaviour: mail waits, nothing is relayed by mistake).
enum Restriction: Sendable, Equatable {
    case permit
    case reject
    case deferAll
    case dunno
    case permitMynetworks
    case permitSASLAuthenticated
    case rejectUnauthDestination
    case deferUnauthDestination
    case rejectUnknownRecipientDomain
    case rejectUnknownSenderDomain
    case rejectNonFQDNRecipient
    case rejectNonFQDNSender
    case rejectUnauthPipelining
    case rejectSenderLoginMismatch
    case rejectUnlistedRecipient
    /// An SPF `fail` for the sender (or the HELO name, for the null sender) is refused with 550 5.7.23, a DNS
    /// failure with 451 4.7.24; needs `smtpd_spf_enable = yes`.
    case rejectSPFFail
    /// `check_*_access type:table`: look the request's item up in an access(5) table.
    case checkAccess(AccessItem, maps: [String])
    /// `reject_rbl_client zone[=pattern]`: the client's address is listed in a DNS blocklist.
    case rejectRBLClient(DNSBlocklist)
    /// `reject_rhsbl_client`, `_helo`, `_sender`, `_recipient zone[=pattern]`: a domain of the request is listed.
    case rejectRHSBL(BlocklistItem, DNSBlocklist)
    /// `permit_dnswl_client zone[=pattern]`: the client's address is in a DNS allowlist.
    case permitDNSWLClient(DNSBlocklist)
    /// `permit_rhswl_client zone[=pattern]`: the client's verified name is in a DNS allowlist.
    case permitRHSWLClient(DNSBlocklist)
    /// `check_policy_service unix:/path | inet:host:port`: ask a policy server (Postfix's SMTPD_POLICY_README).
    case checkPolicyService(PolicyServiceEndpoint)

    /// What a `check_*_access` table is searched for.
    enum AccessItem: String, Sendable, Equatable {
        case client, helo, sender, recipient
    }

    /// The domain a `reject_rhsbl_*` restriction looks up: the client's (verified) name, the HELO name, or the
    /// domain of the sender or the recipient.
    enum BlocklistItem: String, Sendable, Equatable {
        case client, helo, sender, recipient
    }

    /// Parses a restriction list; `parameter` names it in errors.
    static func parseList(_ words: [String], parameter: String) -> Result<[Restriction], RestrictionError> {
        var result: [Restriction] = []
        var index = 0
        while index < words.count {
            let word = words[index].lowercased()
            index += 1
            if let simple = simple[word] {
                result.append(simple)
                continue
            }
            if word.hasPrefix("check_"), word.hasSuffix("_access"),
                let item = AccessItem(rawValue: String(word.dropFirst(6).dropLast(7)))
            {
                guard index < words.count, words[index].contains(":") else {
                    return .failure(RestrictionError(parameter: parameter, message: "\(word) needs a table (type:name)"))
                }
                result.append(.checkAccess(item, maps: [words[index]]))
                index += 1
                continue
            }
            if let argument = argumentRestrictions[word] {
                guard index < words.count, let restriction = argument(words[index]) else {
                    let what = word == "check_policy_service" ? "a server (unix:/path or inet:host:port)" : "a DNS zone (zone or zone=127.0.0.2)"
                    let found = index < words.count ? ", not \"\(words[index])\"" : ""
                    return .failure(RestrictionError(parameter: parameter, message: "\(word) needs \(what)\(found)"))
                }
                result.append(restriction)
                index += 1
                continue
            }
            return .failure(RestrictionError(parameter: parameter, message: "unknown restriction \"\(words[index - 1])\""))
        }
        return .success(result)
    }

    private static let simple: [String: Restriction] = [
        "permit": .permit, "reject": .reject, "defer": .deferAll, "defer_all": .deferAll, "dunno": .dunno,
        "permit_mynetworks": .permitMynetworks, "permit_sasl_authenticated": .permitSASLAuthenticated,
        "reject_unauth_destination": .rejectUnauthDestination, "defer_unauth_destination": .deferUnauthDestination,
        "reject_unknown_recipient_domain": .rejectUnknownRecipientDomain,
        "reject_unknown_sender_domain": .rejectUnknownSenderDomain,
        "reject_non_fqdn_recipient": .rejectNonFQDNRecipient, "reject_non_fqdn_sender": .rejectNonFQDNSender,
        "reject_unauth_pipelining": .rejectUnauthPipelining,
        "reject_sender_login_mismatch": .rejectSenderLoginMismatch,
        "reject_unlisted_recipient": .rejectUnlistedRecipient,
        // Postfix has no SPF of its own; the name follows its reject_* words (postfix-policyd-spf, the usual
        // add-on, has no restriction name to copy).
        "reject_spf_fail": .rejectSPFFail,
    ]

    /// The restrictions that take the next word as their argument.
    private static let argumentRestrictions: [String: @Sendable (String) -> Restriction?] = [
        "reject_rbl_client": { DNSBlocklist($0).map(Restriction.rejectRBLClient) },
        // Postfix's older name for it.
        "reject_rbl": { DNSBlocklist($0).map(Restriction.rejectRBLClient) },
        "reject_rhsbl_client": { DNSBlocklist($0).map { .rejectRHSBL(.client, $0) } },
        "reject_rhsbl_helo": { DNSBlocklist($0).map { .rejectRHSBL(.helo, $0) } },
        "reject_rhsbl_sender": { DNSBlocklist($0).map { .rejectRHSBL(.sender, $0) } },
        "reject_rhsbl_recipient": { DNSBlocklist($0).map { .rejectRHSBL(.recipient, $0) } },
        "permit_dnswl_client": { DNSBlocklist($0).map(Restriction.permitDNSWLClient) },
        "permit_rhswl_client": { DNSBlocklist($0).map(Restriction.permitRHSWLClient) },
        "check_policy_service": { PolicyServiceEndpoint($0).map(Restriction.checkPolicyService) },
    ]

    /// Whether the restriction can stop mail to other domains: Postfix refuses to run without one of these
    /// in the relay or recipient restrictions, so no configuration is an open relay by omission.
    var stopsRelaying: Bool {
        switch self {
        case .reject, .deferAll, .rejectUnauthDestination, .deferUnauthDestination: true
        default: false
        }
    }
}

/// A restriction list that cannot be used.
struct RestrictionError: Error, Sendable, Equatable, CustomStringConvertible {
    var parameter: String
    var message: String

    var description: String { "parameter \(parameter): \(message)" }
}

/// Every restriction list smtpd applies, read from main.cf (and master.cf `-o` overrides).
struct RestrictionLists: Sendable {
    var client: [Restriction] = []
    var helo: [Restriction] = []
    var sender: [Restriction] = []
    var relay: [Restriction] = []
    var recipient: [Restriction] = []
    var data: [Restriction] = []
    /// Why the lists cannot be used, if they cannot; smtpd then answers 451 4.3.5 to every RCPT.
    var problem: RestrictionError?

    init(config: MainConfig) {
        func read(_ parameter: Parameter) -> [Restriction] {
            switch Restriction.parseList(config.list(parameter), parameter: parameter.name) {
            case .success(let list): return list
            case .failure(let error):
                if problem == nil { problem = error }
                return []
            }
        }
        client = read(.smtpdClientRestrictions)
        helo = read(.smtpdHeloRestrictions)
        sender = read(.smtpdSenderRestrictions)
        relay = read(.smtpdRelayRestrictions)
        recipient = read(.smtpdRecipientRestrictions)
        data = read(.smtpdDataRestrictions)
        let named: [(Parameter, [Restriction])] = [
            (.smtpdClientRestrictions, client), (.smtpdHeloRestrictions, helo), (.smtpdSenderRestrictions, sender),
            (.smtpdRelayRestrictions, relay), (.smtpdRecipientRestrictions, recipient), (.smtpdDataRestrictions, data),
        ]
        if problem == nil, !config.bool(.smtpdSPFEnable), let (parameter, _) = named.first(where: { $0.1.contains(.rejectSPFFail) }) {
            problem = RestrictionError(
                parameter: parameter.name, message: "reject_spf_fail needs smtpd_spf_enable = yes (without it SPF is not checked)")
        }
        if problem == nil, !(relay + recipient).contains(where: \.stopsRelaying) {
            problem = RestrictionError(
                parameter: "smtpd_relay_restrictions",
                message: "specify at least one of reject_unauth_destination, defer_unauth_destination, reject or defer "
                    + "in smtpd_relay_restrictions or smtpd_recipient_restrictions (otherwise this server is an open relay)")
        }
    }

    init() {}

    /// Every list, in the order a recipient meets them, then the DATA list.
    var all: [Restriction] { client + helo + sender + relay + recipient + data }

    /// The policy servers the lists name, each once.
    var policyServices: [PolicyServiceEndpoint] {
        var seen: [PolicyServiceEndpoint] = []
        for case .checkPolicyService(let endpoint) in all where !seen.contains(endpoint) { seen.append(endpoint) }
        return seen
    }
}
