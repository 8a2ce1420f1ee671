import AviaryAuthentication
import AviaryConfig
import AviaryDNS
import AviarySMTP

/// smtpd's use of SPF: the verdict for a transaction, the `reject_spf_fail` restriction, and the header fields
/// that record the verdict in the message. With `smtpd_spf_enable = no` there is no checker and no look-up.
struct SPFPolicy: Sendable {
    let checker: SPFChecker
    /// This host's name in Received-SPF: (`receiver=`) and in `%{r}`.
    let receiver: String

    init(config: MainConfig, dns: any SPFDNS) {
        receiver = config.string(.myhostname)
        checker = SPFChecker(dns: dns, receiver: receiver)
    }

    init(checker: SPFChecker, receiver: String) {
        self.checker = checker
        self.receiver = receiver
    }

    /// check_host() for the transaction's MAIL FROM (postmaster@HELO for the null sender). Blocks on DNS.
    func check(_ request: PolicyRequest) -> SPFOutcome {
        checker.checkMailFrom(sender: request.sender, helo: request.heloName ?? "", client: request.client.address)
    }
}

extension SMTPPolicy {
    /// The SPF verdict for the transaction, for its header fields: nil when SPF is off (`smtpd_spf_enable = no`)
    /// and for clients that are not judged by it (mynetworks, SASL-authenticated: the mail is their own, as
    /// with Postfix's policyd-spf placed after permit_mynetworks and permit_sasl_authenticated). Blocks on DNS:
    /// call it off the event loop, once, at MAIL FROM; hand the result to the restrictions in
    /// `PolicyRequest.spf` so they do not look it up again.
    func spfOutcome(for request: PolicyRequest) -> SPFOutcome? {
        guard let spf, request.saslUsername == nil, !trustedNetworks.contains(request.client.address) else { return nil }
        return spf.check(request)
    }

    /// reject_spf_fail: 550 5.7.23 for fail, 451 4.7.24 for temperror, otherwise no opinion. Uses the
    /// session's verdict when it has one, else checks now.
    func rejectSPFFail(_ request: PolicyRequest) -> Verdict {
        guard let spf else { return .refuse(.serverConfigurationError) }
        let outcome = request.spf ?? spf.check(request)
        let target: SMTPReply.PolicyTarget =
            outcome.identity == .helo ? .helo(request.heloName ?? "") : .sender(request.sender)
        switch outcome.result {
        case .fail:
            return .refuse(
                .spfFail(target, domain: outcome.domain, client: outcome.clientAddress, explanation: outcome.explanation))
        case .temperror: return .refuse(.spfTemporaryError(target, domain: outcome.domain))
        case .pass, .neutral, .softfail, .none, .permerror: return .dunno
        }
    }

    /// The fields to put at the top of the message, above our Received: (RFC 7208 9.1 asks for Received-SPF:
    /// to be prepended, like any trace field): `Received-SPF:` and `Authentication-Results:`, CRLF-terminated.
    /// Empty when there is no verdict.
    func spfHeaderFields(_ outcome: SPFOutcome?) -> [UInt8] {
        guard let outcome, let spf else { return [] }
        var results = AuthenticationResults(authservID: authservID)
        results.add(outcome)
        return Array((outcome.receivedSPFField(receiver: spf.receiver) + results.field).utf8)
    }

    /// The client's message without the `Authentication-Results:` fields that claim our authserv-id (forged
    /// verdicts). Call it on the start of the message (at least its header section), whether SPF is on or
    /// not: a reader trusts our id whoever wrote the field.
    func removingForgedVerdicts(_ message: [UInt8]) -> [UInt8] {
        AuthenticationResults.removingClaimedFields(from: message, authservID: authservID)
    }
}
