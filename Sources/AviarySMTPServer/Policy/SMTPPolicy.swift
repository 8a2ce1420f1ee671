import AviaryAuthentication
import AviaryConfig
import AviaryCore
import AviaryDNS
import AviarySMTP
import AviaryUsers

/// What a restriction list is asked about: everything smtpd knows when a command arrives.
struct PolicyRequest: Sendable {
    var client: ClientIdentity
    var heloName: String?
    /// The MAIL FROM address ("" for the null sender).
    var sender: String
    /// The RCPT TO address being judged (nil at DATA).
    var recipient: String?
    /// The SASL login, once AUTH succeeded.
    var saslUsername: String?
    /// The client sent commands ahead where it may not (reject_unauth_pipelining).
    var hasIllegalPipelining: Bool
    /// The transaction's SPF verdict, when the session has it (`SMTPPolicy.spfOutcome(for:)` at MAIL FROM);
    /// nil: reject_spf_fail checks for itself.
    var spf: SPFOutcome? = nil
}

/// Whether a domain exists for mail in the DNS (MX, A or AAAA): reject_unknown_*_domain.
enum DomainExistence: Sendable, Equatable {
    case exists
    case notFound
    case temporaryFailure
}

/// smtpd's access policy (Postfix's smtpd_check.c): the restriction lists, evaluated with
/// smtpd_delay_reject = yes, so client, HELO and sender restrictions are judged at RCPT TO, in that order,
/// followed by the relay and the recipient restrictions. In each list the first `permit`-like answer
/// ends that list (the next one still runs); the first refusal ends everything.
///
/// Lookups may block (tables, DNS): call these methods off event loops.
struct SMTPPolicy: Sendable {
    let lists: RestrictionLists
    let trustedNetworks: ClientNetworks
    let directory: UserDirectory
    let senderLoginMaps: [String]
    let relayRejectCode: Int
    let accessRejectCode: Int
    let unknownAddressRejectCode: Int
    let domainExistence: @Sendable (String) -> DomainExistence
    /// SPF, when `smtpd_spf_enable = yes`.
    var spf: SPFPolicy? = nil
    /// DKIM verification, when `smtpd_dkim_verify = yes`.
    var dkim: DKIMVerifier? = nil
    /// Our authserv-id in Authentication-Results: (`authserv_id`).
    var authservID = ""

    /// The verdict of one restriction or list.
    enum Verdict: Sendable, Equatable {
        case permit
        case dunno
        case refuse(SMTPReply)
    }

    /// At RCPT TO: nil when every list let the recipient through, else the refusal.
    func checkRecipient(_ request: PolicyRequest) -> SMTPReply? {
        if lists.problem != nil { return .serverConfigurationError }
        for list in [lists.client, lists.helo, lists.sender, lists.relay, lists.recipient] {
            if case .refuse(let reply) = evaluate(list, request) { return reply }
        }
        return nil
    }

    /// At DATA (smtpd_data_restrictions).
    func checkData(_ request: PolicyRequest) -> SMTPReply? {
        if lists.problem != nil { return .serverConfigurationError }
        if case .refuse(let reply) = evaluate(lists.data, request) { return reply }
        return nil
    }

    func evaluate(_ list: [Restriction], _ request: PolicyRequest) -> Verdict {
        for restriction in list {
            switch evaluate(restriction, request) {
            case .dunno: continue
            case let verdict: return verdict
            }
        }
        return .dunno
    }

    private func evaluate(_ restriction: Restriction, _ request: PolicyRequest) -> Verdict {
        let recipient = request.recipient ?? ""
        switch restriction {
        case .permit: return .permit
        case .dunno: return .dunno
        case .reject: return .refuse(.policyRejected(target(request), code: 554, "Access denied"))
        case .deferAll: return .refuse(.policyRejected(target(request), code: 450, "Access denied"))
        case .permitMynetworks: return trustedNetworks.contains(request.client.address) ? .permit : .dunno
        case .permitSASLAuthenticated: return request.saslUsername != nil ? .permit : .dunno
        case .rejectUnauthDestination, .deferUnauthDestination:
            guard request.recipient != nil, directory.routes.classify(recipient) == .remote else { return .dunno }
            let code = restriction == .rejectUnauthDestination ? relayRejectCode : 454
            return .refuse(.relayDenied(recipient, code: code))
        case .rejectNonFQDNRecipient:
            guard let address = request.recipient, !Self.isFullyQualified(address) else { return .dunno }
            return .refuse(.needFullyQualified(.recipient(address)))
        case .rejectNonFQDNSender:
            guard !request.sender.isEmpty, !Self.isFullyQualified(request.sender) else { return .dunno }
            return .refuse(.needFullyQualified(.sender(request.sender)))
        case .rejectUnknownRecipientDomain:
            guard let address = request.recipient else { return .dunno }
            return checkDomain(of: address, target: .recipient(address))
        case .rejectUnknownSenderDomain:
            guard !request.sender.isEmpty else { return .dunno }
            return checkDomain(of: request.sender, target: .sender(request.sender))
        case .rejectUnauthPipelining:
            guard request.hasIllegalPipelining else { return .dunno }
            return .refuse(.improperPipelining(verb: request.recipient == nil ? "DATA" : "RCPT"))
        case .rejectSenderLoginMismatch:
            return checkSenderLogin(request)
        case .rejectUnlistedRecipient:
            guard let address = request.recipient else { return .dunno }
            return unlistedRecipient(address)
        case .rejectSPFFail:
            return rejectSPFFail(request)
        case .checkAccess(let item, let maps):
            return checkAccess(item, maps: maps, request)
        }
    }

    /// The thing a generic `reject` names: the recipient at RCPT, DATA otherwise.
    private func target(_ request: PolicyRequest) -> SMTPReply.PolicyTarget {
        request.recipient.map { .recipient($0) } ?? .data("DATA")
    }

    static func isFullyQualified(_ address: String) -> Bool {
        let domain = AddressParts(address).domain
        return domain.contains(".") || domain.hasPrefix("[")
    }

    private func checkDomain(of address: String, target: SMTPReply.PolicyTarget) -> Verdict {
        let domain = AddressParts(address).domain
        // Domains this host serves are known without asking the DNS; address literals have no DNS name.
        guard !domain.isEmpty, !domain.hasPrefix("["), directory.routes.classify(address) == .remote else { return .dunno }
        switch domainExistence(domain) {
        case .exists: return .dunno
        case .notFound: return .refuse(.domainNotFound(target, code: unknownAddressRejectCode))
        case .temporaryFailure: return .refuse(.domainNotFound(target, code: 450))
        }
    }

    /// User unknown in the local recipient or virtual mailbox table (smtpd_reject_unlisted_recipient).
    func unlistedRecipient(_ address: String) -> Verdict {
        switch directory.lookup(address) {
        case .local, .virtual, .notLocal: return .dunno
        case .unknown(let table):
            return .refuse(.unknownUser(address, table: table == "virtual mailbox" ? .virtualMailbox : .localRecipient))
        }
    }

    /// reject_sender_login_mismatch: a sender that has owners in smtpd_sender_login_maps may only be used by
    /// them; a logged-in client may only use senders its login owns. The null sender is always allowed.
    private func checkSenderLogin(_ request: PolicyRequest) -> Verdict {
        guard !request.sender.isEmpty else { return .dunno }
        let parts = AddressParts(request.sender)
        let keys = [parts.localPart + "@" + parts.domain, "@" + parts.domain]
        let owners: [String]
        // Without smtpd_sender_login_maps a login owns the address it is named by (virtual users log in
        // as alice@example.org), so submission works with no table at all.
        guard !senderLoginMaps.isEmpty else {
            guard let login = request.saslUsername else { return .dunno }
            return login.lowercased() == request.sender.lowercased()
                ? .dunno : .refuse(.senderNotOwned(request.sender, login: login))
        }
        switch directory.find(keys, in: senderLoginMaps) {
        case .found(let value): owners = MainConfig.splitList(value).map { $0.lowercased() }
        case .notFound: owners = []
        case .failed: return .refuse(.temporaryLookupFailure)
        }
        if let login = request.saslUsername {
            return owners.contains(login.lowercased()) ? .dunno : .refuse(.senderNotOwned(request.sender, login: login))
        }
        return owners.isEmpty ? .dunno : .refuse(.senderNotOwned(request.sender, login: nil))
    }

    private func checkAccess(_ item: Restriction.AccessItem, maps: [String], _ request: PolicyRequest) -> Verdict {
        let keys: [String]
        let target: SMTPReply.PolicyTarget
        switch item {
        case .client:
            keys = [request.client.address] + (request.client.name == "unknown" ? [] : LookupTable.domainKeys(request.client.name.lowercased()))
            target = .client(request.client.description)
        case .helo:
            guard let helo = request.heloName else { return .dunno }
            keys = LookupTable.domainKeys(helo.lowercased())
            target = .helo(helo)
        case .sender:
            keys = LookupTable.accessKeys(forAddress: request.sender)
            target = .sender(request.sender)
        case .recipient:
            guard let recipient = request.recipient else { return .dunno }
            keys = LookupTable.accessKeys(forAddress: recipient)
            target = .recipient(recipient)
        }
        switch directory.find(keys, in: maps) {
        case .notFound: return .dunno
        case .failed: return .refuse(.temporaryLookupFailure)
        case .found(let action): return accessAction(action, target: target, request)
        }
    }

    /// An access(5) table's right-hand side: OK, REJECT text, DEFER text, DUNNO, `4NN`/`5NN text`, or
    /// restriction words such as `permit_sasl_authenticated` (without further table checks).
    func accessAction(_ action: String, target: SMTPReply.PolicyTarget, _ request: PolicyRequest) -> Verdict {
        let trimmed = action.trimmingWhitespace()
        let wordEnd = trimmed.firstIndex { $0 == " " || $0 == "\t" } ?? trimmed.endIndex
        let word = trimmed[..<wordEnd].uppercased()
        let text = String(trimmed[wordEnd...]).trimmingWhitespace()
        switch word {
        case "OK", "PERMIT": return .permit
        case "DUNNO": return .dunno
        case "REJECT": return .refuse(.policyRejected(target, code: accessRejectCode, text.isEmpty ? "Access denied" : text))
        case "DEFER": return .refuse(.policyRejected(target, code: 450, text.isEmpty ? "Access denied" : text))
        default: break
        }
        if word.count == 3, let code = Int(word), (400..<600).contains(code) {
            var message = text
            var enhanced: EnhancedStatusCode?
            if let space = text.firstIndex(of: " "), let parsed = EnhancedStatusCode(parsing: String(text[..<space])),
                parsed.statusClass == code / 100
            {
                enhanced = parsed
                message = String(text[space...]).trimmingWhitespace()
            }
            return .refuse(.policyRejected(target, code: code, message.isEmpty ? "Access denied" : message, enhanced: enhanced))
        }
        guard case .success(let list) = Restriction.parseList(MainConfig.splitList(trimmed), parameter: "access table"),
            !list.contains(where: { if case .checkAccess = $0 { true } else { false } })
        else { return .refuse(.serverConfigurationError) }
        return evaluate(list, request)
    }
}

extension SMTPPolicy {
    /// The policy main.cf (with the service's `-o` overrides) describes.
    init(config: MainConfig, directory: UserDirectory) {
        let resolver = DNSResolver(resolverAddress: config.string(.dnsResolverAddress)) ?? DNSResolver()
        self.init(
            lists: RestrictionLists(config: config),
            trustedNetworks: ClientNetworks(config.list(.mynetworks)),
            directory: directory,
            senderLoginMaps: config.list(.smtpdSenderLoginMaps),
            relayRejectCode: config.integer(.relayDomainsRejectCode),
            accessRejectCode: config.integer(.accessMapRejectCode),
            unknownAddressRejectCode: config.integer(.unknownAddressRejectCode),
            domainExistence: { domain in
                switch resolver.mailDomainExists(domain) {
                case true?: .exists
                case false?: .notFound
                case nil: .temporaryFailure
                }
            },
            spf: config.bool(.smtpdSPFEnable) ? SPFPolicy(config: config, dns: resolver) : nil,
            dkim: config.bool(.smtpdDKIMVerify) ? DKIMVerifier(dns: resolver) : nil,
            authservID: config.string(.authservID))
    }
}
