/// The `Received:` trace header an MTA prepends (RFC 5321 4.4), Postfix's layout:
///
///     Received: from client.example (localhost [127.0.0.1])
///     	by mail.example.test (Aviary) with ESMTP id 0T4ZQ3K...
///     	for <alice@example.test>; Sat, 21 Nov 2026 23:48:01 +0100
public struct ReceivedHeader: Sendable {
    public var heloName: String?
    public var clientName: String
    public var clientAddress: String
    public var hostname: String
    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPA`, `UTF8SMTP`... (RFC 3848).
    public var protocolName: String
    public var queueID: String
    /// Named only when there is exactly one, as Postfix does, so Bcc recipients are not revealed.
    public var recipient: String?
    /// e.g. `(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))`, from the TLS issue on.
    public var tlsComment: String?
    public var date: String

    public init(
        heloName: String?, clientName: String, clientAddress: String, hostname: String, protocolName: String,
        queueID: String, recipient: String?, tlsComment: String? = nil, date: String = MessageDate.rfc5322()
    ) {
        self.heloName = heloName
        self.clientName = clientName
        self.clientAddress = clientAddress
        self.hostname = hostname
        self.protocolName = protocolName
        self.queueID = queueID
        self.recipient = recipient
        self.tlsComment = tlsComment
        self.date = date
    }

    /// The header with CRLF line ends, folded with tabs.
    public var bytes: [UInt8] {
        var text = "Received: from \(heloName ?? clientName) (\(clientName) [\(clientAddress)])\r\n"
        if let tlsComment { text += "\t\(tlsComment)\r\n" }
        text += "\tby \(hostname) (Aviary) with \(protocolName) id \(queueID)"
        if let recipient { text += "\r\n\tfor <\(recipient)>" }
        text += "; \(date)\r\n"
        return Array(text.utf8)
    }
}
