import AviaryAuthentication
import AviaryConfig
import AviaryCore
import AviaryDNS
import AviarySMTP
import AviaryUsers
import NIOPosix

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
    /// SMTP or ESMTP (policy servers hear it as protocol_name).
    var protocolName = "SMTP"
    /// The transaction's queue ID once a recipient was accepted (Postfix's queue_id); nil before.
    var queueID: String?
    /// Names the transaction for policy servers (instance=): the same for each recipient of one message.
    var instance = ""
    /// Recipients accepted so far.
    var recipientCount = 0
    /// MAIL FROM's SIZE=.
    var size: Int?
    /// The AUTH mechanism that logged the client in.
    var saslMethod: String?
    /// The TLS session, once there is one.
    var encryption: Encryption?
    /// The session's memory for the restrictions (blocklist answers, PREPEND fields); nil: nothing is kept.
    var session: PolicySessionState?

    /// What policy servers hear of the TLS session.
    struct Encryption: Sendable, Equatable {
        var protocolName: String
        var cipher: String
        var keySize: Int
    }
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
    /// The resolver for DNS blocklists.
    var dns = DNSResolver()
    /// Reply code of a DNS blocklist's refusal (`maps_rbl_reject_code`).
    var blocklistRejectCode = 554
    /// A client per policy server the lists name.
    var policyServices: [PolicyServiceEndpoint: PolicyServiceClient] = [:]
    /// The threads every check runs on: checks wait on the network (DNS blocklists, policy servers, SPF, domain
    /// look-ups), and a silent DNS zone or a stalled policy server must never hold up the pool that writes queue
    /// files.
    let threads = RestrictionThreads()
    /// SPF, when `smtpd_spf_enable = yes`.
    var spf: SPFPolicy? = nil
    /// DKIM verification, when `smtpd_dkim_verify = yes`.
    var dkim: DKIMVerifier? = nil
    /// Our authserv-id in Authentication-Results: (`authserv_id`).
    var authservID = ""
    /// Whether recipients missing from the local and virtual tables are refused; not on the service taking
    /// filtered mail back (`receive_override_options = no_unknown_recipient_checks`), as in Postfix.
    var checksUnknownRecipients = true

    /// The verdict of one restriction or list.
    enum Verdict: Sendable, Equatable {
        case permit
        case dunno
        case refuse(SMTPReply)
    }

    /// What one check carries from restriction to restriction: the access actions DEFER_IF_PERMIT (the check
    /// ends in a deferral unless something refuses) and DEFER_IF_REJECT (a later 5xx refusal becomes this
    /// deferral), and the header fields PREPEND adds to the message if the check lets it through.
    struct Evaluation: Sendable {
        var deferIfPermit: SMTPReply?
        var deferIfReject: SMTPReply?
        var prependedFields: [String] = []
        /// What a refusal by the list being evaluated names (Postfix's reply_name and reply_class); nil: the
        /// recipient, or DATA at DATA.
        var listTarget: SMTPReply.PolicyTarget?

        /// The check's answer when a restriction refused with `reply`.
        func refusal(_ reply: SMTPReply) -> SMTPReply {
            guard reply.code >= 500, let deferIfReject else { return reply }
            return deferIfReject
        }

        /// The check's answer when no restriction refused: a pending DEFER_IF_PERMIT, or nil (and the session
        /// keeps the PREPEND fields for the message).
        func passed(_ request: PolicyRequest) -> SMTPReply? {
            if let deferIfPermit { return deferIfPermit }
            if !prependedFields.isEmpty { request.session?.prepend(prependedFields) }
            return nil
        }
    }

    /// At RCPT TO: nil when every list let the recipient through, else the refusal.
    func checkRecipient(_ request: PolicyRequest) -> SMTPReply? {
        if lists.problem != nil { return .serverConfigurationError }
        var evaluation = Evaluation()
        let named: [([Restriction], SMTPReply.PolicyTarget?)] = [
            (lists.client, .client(request.client.description)), (lists.helo, request.heloName.map { .helo($0) }),
            (lists.sender, .sender(request.sender)), (lists.relay, nil), (lists.recipient, nil),
        ]
        for (list, target) in named {
            evaluation.listTarget = target
            if case .refuse(let reply) = evaluate(list, request, &evaluation) { return evaluation.refusal(reply) }
        }
        return evaluation.passed(request)
    }

    /// At DATA (smtpd_data_restrictions).
    func checkData(_ request: PolicyRequest) -> SMTPReply? {
        if lists.problem != nil { return .serverConfigurationError }
        var evaluation = Evaluation()
        if case .refuse(let reply) = evaluate(lists.data, request, &evaluation) { return evaluation.refusal(reply) }
        return evaluation.passed(request)
    }

    func evaluate(_ list: [Restriction], _ request: PolicyRequest, _ evaluation: inout Evaluation) -> Verdict {
        for restriction in list {
            switch evaluate(restriction, request, &evaluation) {
            case .dunno: continue
            case let verdict: return verdict
            }
        }
        return .dunno
    }

    private func evaluate(_ restriction: Restriction, _ request: PolicyRequest, _ evaluation: inout Evaluation) -> Verdict {
        let recipient = request.recipient ?? ""
        switch restriction {
        case .permit: return .permit
        case .dunno: return .dunno
        case .reject: return .refuse(.policyRejected(target(request, evaluation), code: 554, "Access denied"))
        case .deferAll: return .refuse(.policyRejected(target(request, evaluation), code: 450, "Access denied"))
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
            return checkAccess(item, maps: maps, request, &evaluation)
        case .rejectRBLClient(let list):
            return checkBlocklist(list, name: list.queryName(forAddress: request.client.address), request) {
                .blocklisted(code: $0, "Client host", what: request.client.address, zone: list.zone, reason: $1)
            }
        case .rejectRHSBL(let item, let list):
            return checkBlocklist(item, list, request)
        case .permitDNSWLClient(let list):
            let address = request.client.address
            return checkAllowlist(list, name: list.queryName(forAddress: address), what: address, request, &evaluation)
        case .permitRHSWLClient(let list):
            let name = request.client.name
            guard name != "unknown" else { return .dunno }
            return checkAllowlist(list, name: list.queryName(forDomainOf: name), what: name, request, &evaluation)
        case .checkPolicyService(let endpoint):
            return checkPolicyService(endpoint, request, &evaluation)
        }
    }

    /// The thing a generic refusal names: the list's (the client in smtpd_client_restrictions ...), else the
    /// recipient at RCPT, DATA otherwise.
    private func target(_ request: PolicyRequest, _ evaluation: Evaluation) -> SMTPReply.PolicyTarget {
        evaluation.listTarget ?? request.recipient.map { .recipient($0) } ?? .data("DATA")
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
        guard checksUnknownRecipients else { return .dunno }
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

    private func checkAccess(
        _ item: Restriction.AccessItem, maps: [String], _ request: PolicyRequest, _ evaluation: inout Evaluation
    ) -> Verdict {
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
        case .found(let action): return accessAction(action, target: target, request, &evaluation)
        }
    }

    /// An access(5) action, from a table's right-hand side or a policy server's `action=`: OK (or all digits),
    /// DUNNO, REJECT [text], DEFER [text], `4NN`/`5NN [x.y.z] text`, DEFER_IF_PERMIT, DEFER_IF_REJECT, PREPEND
    /// `Name: value`, WARN, INFO, or restriction words such as `permit_sasl_authenticated` (without further
    /// table or policy checks). HOLD, DISCARD, FILTER, REDIRECT, BCC and HANGUP are not supported: they are
    /// logged and ignored (the mail is neither held nor dropped).
    func accessAction(
        _ action: String, target: SMTPReply.PolicyTarget, _ request: PolicyRequest, _ evaluation: inout Evaluation
    ) -> Verdict {
        let trimmed = action.trimmingWhitespace()
        let wordEnd = trimmed.firstIndex { $0 == " " || $0 == "\t" } ?? trimmed.endIndex
        let word = trimmed[..<wordEnd].uppercased()
        let text = String(trimmed[wordEnd...]).trimmingWhitespace()
        switch word {
        case "OK", "PERMIT": return .permit
        case "DUNNO": return .dunno
        case "REJECT": return .refuse(Self.actionReply(target, code: accessRejectCode, text, otherwise: "Access denied"))
        case "DEFER": return .refuse(Self.actionReply(target, code: 450, text, otherwise: "Access denied"))
        case "DEFER_IF_PERMIT":
            if evaluation.deferIfPermit == nil {
                evaluation.deferIfPermit = Self.actionReply(target, code: 450, text, otherwise: "Service unavailable")
            }
            return .dunno
        case "DEFER_IF_REJECT":
            if evaluation.deferIfReject == nil {
                evaluation.deferIfReject = Self.actionReply(target, code: 450, text, otherwise: "Service unavailable")
            }
            return .dunno
        case "PREPEND":
            if Self.isHeaderField(text) {
                evaluation.prependedFields.append(text)
            } else {
                request.session?.logger.warning("access action PREPEND requires \"name: value\", not \"\(text.replacingControlCharacters)\"")
            }
            return .dunno
        case "WARN", "INFO":
            logAction(word.lowercased(), text, request)
            return .dunno
        case "HOLD", "DISCARD", "FILTER", "REDIRECT", "BCC", "HANGUP":
            request.session?.logger.warning("access action \(word) is not supported; ignored (\(trimmed.replacingControlCharacters))")
            return .dunno
        default: break
        }
        if word.count == 3, let code = Int(word), (400..<600).contains(code) {
            return .refuse(Self.actionReply(target, code: code, text, otherwise: "Access denied"))
        }
        // All digits means OK (some out-of-band authentication tools answer with a time stamp). Postfix takes a
        // bare 4NN or 5NN for OK too; here it refuses, as above.
        if !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) { return .permit }
        guard case .success(let list) = Restriction.parseList(MainConfig.splitList(trimmed), parameter: "access table"),
            !list.contains(where: {
                switch $0 {
                case .checkAccess, .checkPolicyService: true
                default: false
                }
            })
        else { return .refuse(.serverConfigurationError) }
        return evaluate(list, request, &evaluation)
    }

    /// A refusal from an action's text: an optional enhanced status code first (its class made the reply code's,
    /// as Postfix does), then the text, or `otherwise` without one.
    static func actionReply(_ target: SMTPReply.PolicyTarget, code: Int, _ text: String, otherwise: String) -> SMTPReply {
        var message = text
        var enhanced: EnhancedStatusCode?
        let first = text.prefix { $0 != " " && $0 != "\t" }
        if let parsed = EnhancedStatusCode(parsing: String(first)) {
            enhanced = EnhancedStatusCode(code / 100, parsed.subject, parsed.detail)
            message = String(text.dropFirst(first.count)).trimmingWhitespace()
        }
        return .policyRejected(target, code: code, message.isEmpty ? otherwise : message.replacingControlCharacters, enhanced: enhanced)
    }

    /// `Name: value` with a field name RFC 5322 allows, on one line within its 998 octets.
    static func isHeaderField(_ text: String) -> Bool {
        guard text.utf8.count <= 998, let colon = text.firstIndex(of: ":"), colon != text.startIndex else { return false }
        return text[..<colon].unicodeScalars.allSatisfy { $0.value > 32 && $0.value < 127 }
            && !text.unicodeScalars.contains { $0.value < 32 && $0 != "\t" }
    }

    /// Postfix's `warn: RCPT from host[addr]: text; from=<> to=<> proto=ESMTP helo=<>` line.
    private func logAction(_ kind: String, _ text: String, _ request: PolicyRequest) {
        guard let logger = request.session?.logger else { return }
        let verb = request.recipient == nil ? "DATA" : "RCPT"
        var line = "\(kind): \(verb) from \(request.client.description): \(text.replacingControlCharacters); from=<\(request.sender)>"
        if let recipient = request.recipient { line += " to=<\(recipient)>" }
        line += " proto=\(request.protocolName) helo=<\(request.heloName ?? "")>"
        if kind == "warn" { logger.warning("\(line)") } else { logger.info("\(line)") }
    }

    /// `reject_rhsbl_*`: the item's domain in a blocklist (nothing to check when the request has no such item,
    /// or the client's name is `unknown`).
    private func checkBlocklist(_ item: Restriction.BlocklistItem, _ list: DNSBlocklist, _ request: PolicyRequest) -> Verdict {
        let what: String?
        let replyClass: String
        switch item {
        case .client:
            what = request.client.name == "unknown" ? nil : request.client.name
            replyClass = "Client host"
        case .helo:
            what = request.heloName
            replyClass = "Helo command"
        case .sender:
            what = request.sender.isEmpty ? nil : request.sender
            replyClass = "Sender address"
        case .recipient:
            what = request.recipient
            replyClass = "Recipient address"
        }
        guard let what else { return .dunno }
        return checkBlocklist(list, name: list.queryName(forDomainOf: what), request) {
            .blocklisted(code: $0, replyClass, what: what, zone: list.zone, reason: $1)
        }
    }

    /// Refuses with `reply(code, reason)` when the list has `name` with an address its pattern accepts. A DNS
    /// failure lets the request through, as in Postfix: mail is not refused because a list cannot be reached.
    private func checkBlocklist(
        _ list: DNSBlocklist, name: String?, _ request: PolicyRequest, reply: (Int, String?) -> SMTPReply
    ) -> Verdict {
        guard let name, case .listed(let addresses, let reason) = answer(list, name, request) else { return .dunno }
        return .refuse(reply(blocklistRejectCode, reason))
    }

    /// `permit_dnswl_client`, `permit_rhswl_client`: a client the list has (`what` is its address or name) is
    /// permitted, but never for a recipient that would be relayed (Postfix's safety: an allowlist must not make an
    /// open relay). A DNS failure turns a later 5xx refusal into `450 4.7.1 <what>: Client host rejected: Service
    /// unavailable`, as Postfix does.
    private func checkAllowlist(
        _ list: DNSBlocklist, name: String?, what: String, _ request: PolicyRequest, _ evaluation: inout Evaluation
    ) -> Verdict {
        if let recipient = request.recipient, directory.routes.classify(recipient) == .remote { return .dunno }
        guard let name else { return .dunno }
        switch answer(list, name, request) {
        case .listed: return .permit
        case .notListed: return .dunno
        case .temporaryFailure:
            if evaluation.deferIfReject == nil {
                evaluation.deferIfReject = .policyRejected(.client(what), code: 450, "Service unavailable")
            }
            return .dunno
        }
    }

    /// What the list says about `name`, asked once per session (a DNS failure is logged when it happens); a listing
    /// with no address the list's pattern accepts counts as none.
    private func answer(_ list: DNSBlocklist, _ name: String, _ request: PolicyRequest) -> BlocklistAnswer {
        let dns = dns
        let lookUp = { () -> BlocklistAnswer in
            let answer = dns.blocklistAnswer(for: name)
            if answer == .temporaryFailure {
                request.session?.logger.warning("\(name): RBL lookup error: no answer from the DNS")
            }
            return answer
        }
        let answer = request.session.map { $0.blocklistAnswer(for: name, lookUp: lookUp) } ?? lookUp()
        if case .listed(let addresses, _) = answer, let filter = list.filter, !addresses.contains(where: filter.matches) {
            return .notListed
        }
        return answer
    }

    /// `check_policy_service`: the server's action, or the default action when it cannot be asked, does not
    /// answer in time, or answers garbage.
    private func checkPolicyService(
        _ endpoint: PolicyServiceEndpoint, _ request: PolicyRequest, _ evaluation: inout Evaluation
    ) -> Verdict {
        guard let client = policyServices[endpoint] else { return .refuse(.serverConfigurationError) }
        let query = PolicyServiceRequest(
            request, state: request.recipient == nil ? "DATA" : "RCPT", context: client.settings.context)
        let action: String
        switch client.ask(query) {
        case .success(let answer): action = answer
        case .failure(let failure):
            request.session?.logger.warning("problem talking to server \(endpoint): \(failure)")
            action = client.settings.defaultAction
        }
        return accessAction(action, target: target(request, evaluation), request, &evaluation)
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
        dns = resolver
        checksUnknownRecipients = !ReceiveOverrideOptions(config: config).skipsUnknownRecipientChecks
        let code = config.integer(.mapsRBLRejectCode)
        blocklistRejectCode = (400..<600).contains(code) ? code : 554
        let settings = PolicyServiceSettings(config: config)
        for endpoint in lists.policyServices {
            policyServices[endpoint] = PolicyServiceClient(endpoint: endpoint, settings: settings)
        }
    }
}

extension PolicyServiceSettings {
    init(config: MainConfig) {
        self.init(
            timeout: Double(max(1, config.seconds(.smtpdPolicyServiceTimeout))),
            maxIdle: Double(max(1, config.seconds(.smtpdPolicyServiceMaxIdle))),
            maxTTL: Double(max(1, config.seconds(.smtpdPolicyServiceMaxTTL))),
            requestLimit: max(0, config.integer(.smtpdPolicyServiceRequestLimit)),
            tryLimit: max(1, config.integer(.smtpdPolicyServiceTryLimit)),
            retryDelay: Double(max(0, config.seconds(.smtpdPolicyServiceRetryDelay))),
            defaultAction: config.string(.smtpdPolicyServiceDefaultAction),
            context: config.string(.smtpdPolicyServicePolicyContext))
    }
}

/// A thread pool of the restriction checks' own (see `SMTPPolicy.threads`). Each thread serves one session's
/// check at a time; a check waits at most its DNS time-outs or `smtpd_policy_service_timeout` per attempt.
final class RestrictionThreads: Sendable {
    static let count = 16
    let pool: NIOThreadPool

    init() {
        pool = NIOThreadPool(numberOfThreads: Self.count)
        pool.start()
    }

    deinit { pool.shutdownGracefully { _ in } }
}
