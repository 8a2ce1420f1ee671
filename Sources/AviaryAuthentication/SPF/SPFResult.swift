/// The seven results of RFC 7208's check_host(), named as they appear in `Received-SPF:` and
/// `Authentication-Results:` (`spf=softfail`).
public enum SPFResult: String, Sendable, Hashable, CaseIterable {
    /// No SPF record, or no checkable domain (a HELO that is an address literal, say).
    case none
    /// The domain owner says nothing about this host (`?` qualifier, or no mechanism matched).
    case neutral
    case pass
    case fail
    /// "Probably not authorized": weaker than fail, never a reason to reject.
    case softfail
    /// A DNS failure the next attempt may not meet.
    case temperror
    /// The published records cannot be interpreted (syntax, limits, loops): the domain owner's fault.
    case permerror
}

/// Which identity a check judged (RFC 7208 2.3, 2.4): the `identity=` of `Received-SPF:`, and `smtp.mailfrom` or
/// `smtp.helo` in `Authentication-Results:`.
public enum SPFIdentity: String, Sendable, Hashable {
    case mailFrom = "mailfrom"
    case helo
}

/// The outcome of one check_host() evaluation, with what the headers and the log say about it.
public struct SPFOutcome: Sendable, Equatable {
    public var result: SPFResult
    /// The domain whose policy was evaluated (the MAIL FROM domain, or the HELO name).
    public var domain: String
    public var identity: SPFIdentity = .mailFrom
    /// The <sender> checked: the MAIL FROM address, or `postmaster@` the HELO name.
    public var sender = ""
    /// The client's IP address, as the check read it.
    public var clientAddress = ""
    /// The HELO/EHLO name the client gave.
    public var helo = ""
    /// The matching term (`-all`, `ip4:192.0.2.0/24`), if one matched.
    public var mechanism: String?
    /// For fail: the domain owner's `exp=` text, expanded; nil when there is none or it could not be had.
    public var explanation: String?
    /// For permerror and temperror: what went wrong, for the log and the header comment.
    public var problem: String?

    public init(
        result: SPFResult, domain: String, mechanism: String? = nil, explanation: String? = nil, problem: String? = nil
    ) {
        self.result = result
        self.domain = domain
        self.mechanism = mechanism
        self.explanation = explanation
        self.problem = problem
    }
}
