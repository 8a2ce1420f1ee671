import AviaryAuthentication
import AviaryConfig
import AviaryDNS
import AviarySMTP

// Sender authentication in smtpd: what the session calls, and when (the policy layer holds the logic). In
// terms of SMTPServerEngine's questions and actions:
//
//   .ask(.sender)      spf = spfOutcome(for: request)                       on the pool: it blocks on DNS;
//                                                                          request.sender = the question's
//   every request      request.spf = spf (in policyRequest(recipient:))     reject_spf_fail then asks no DNS
//   .beginMessage      prepend authenticationFields(spf: spf, dkim: nil) above our Received:
//   header section     message = removingForgedVerdicts(message)           always, SPF and DKIM on or off
//   complete           dkim = dkimVerification(for: request, header: h)    h: up to the empty line
//   .messageData       dkim.update(body: piece)
//   .ask(.commit)      checks = dkim.finishBody(); checks.run() on the pool (DNS), then the dkim= results
//                      need a field above the message: authenticationFields(spf: nil, dkim: results); a
//                      message still in memory can take it, a longer one needs the queue file's help
//
// Until the session does this, reject_spf_fail still works: it checks SPF itself at each RCPT.

/// smtpd's use of SPF: the verdict for a transaction and the `reject_spf_fail` restriction. With
/// `smtpd_spf_enable = no` there is no checker and no look-up.
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

    /// The DKIM verification of the transaction's message, to feed its header section now and its body as it
    /// arrives (`update(body:)`), then `finish()` at the end of DATA (blocks on key look-ups: off the event
    /// loop). nil when `smtpd_dkim_verify = no` or for clients the checks do not judge (as `spfOutcome`).
    func dkimVerification(for request: PolicyRequest, header: [UInt8]) -> DKIMMessageVerification? {
        guard let dkim, request.saslUsername == nil, !trustedNetworks.contains(request.client.address) else { return nil }
        return DKIMMessageVerification(verifier: dkim, header: header)
    }

    /// The fields that record the verdicts, for the top of the message (trace fields are prepended):
    /// `Received-SPF:` when there is an SPF verdict, then one `Authentication-Results:` with the `spf=` and
    /// `dkim=` statements there are; CRLF-terminated. Empty when there is neither.
    func authenticationFields(spf outcome: SPFOutcome?, dkim signatures: [DKIMVerification]?) -> [UInt8] {
        guard outcome != nil || signatures != nil else { return [] }
        var results = AuthenticationResults(authservID: authservID)
        var text = ""
        if let outcome {
            text += outcome.receivedSPFField(receiver: spf?.receiver ?? authservID)
            results.add(outcome)
        }
        if let signatures { results.add(signatures) }
        return Array((text + results.field).utf8)
    }

    /// The client's message without the `Authentication-Results:` fields that claim our authserv-id (forged
    /// verdicts). Call it on the start of the message (at least its header section), whether SPF is on or
    /// not: a reader trusts our id whoever wrote the field.
    func removingForgedVerdicts(_ message: [UInt8]) -> [UInt8] {
        AuthenticationResults.removingClaimedFields(from: message, authservID: authservID)
    }
}
