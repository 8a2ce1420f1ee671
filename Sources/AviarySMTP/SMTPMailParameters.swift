import AviaryMessage

/// The ESMTP parameters of a MAIL command, each nil or false when the client did not give it.
public struct SMTPMailParameters: Sendable, Hashable {
    /// `SIZE=n` (RFC 1870): the client's estimate of the message size in octets.
    public var size: Int?

    /// `BODY=` (RFC 1652, RFC 3030).
    public var body: SMTPBodyType?

    /// `SMTPUTF8` (RFC 6531): addresses and headers may be UTF-8.
    public var isSMTPUTF8: Bool

    /// `RET=FULL|HDRS` (RFC 3461): how much of the message a failure DSN returns.
    public var dsnReturn: DSNReturn?

    /// `ENVID=` (RFC 3461): the client's identifier echoed in DSNs.
    public var envelopeID: DSNEnvelopeID?

    /// `AUTH=` (RFC 4954 5): the authenticated submitter as sent, xtext-encoded, or `<>`.
    public var authenticatedSubmitter: String?

    /// Creates parameters; all absent by default.
    public init(
        size: Int? = nil,
        body: SMTPBodyType? = nil,
        isSMTPUTF8: Bool = false,
        dsnReturn: DSNReturn? = nil,
        envelopeID: DSNEnvelopeID? = nil,
        authenticatedSubmitter: String? = nil
    ) {
        self.size = size
        self.body = body
        self.isSMTPUTF8 = isSMTPUTF8
        self.dsnReturn = dsnReturn
        self.envelopeID = envelopeID
        self.authenticatedSubmitter = authenticatedSubmitter
    }
}
