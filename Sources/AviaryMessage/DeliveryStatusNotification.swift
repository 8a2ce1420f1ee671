import AviaryCore

/// A delivery status notification (RFC 3464): the bounce (or delay warning) sent back to a sender,
/// as `multipart/report; report-type=delivery-status` with three parts: a human explanation, the
/// machine-readable `message/delivery-status`, and the original message (or only its headers).
public struct DeliveryStatusNotification: Sendable {
    public enum Action: String, Sendable {
        case failed, delayed, delivered
    }

    public struct RecipientReport: Sendable, Equatable {
        public var finalRecipient: String
        public var originalRecipient: String?
        public var action: Action
        /// Enhanced status code, e.g. `5.1.1`.
        public var status: String
        /// The reason for people, e.g. `host mx.example[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT
        /// TO command)` or `mail transport unavailable`.
        public var diagnostic: String
        /// The host that gave the reason, e.g. `mx.example.com`, when remote.
        public var remoteMTA: String?
        /// The remote server's own reply, `550 5.1.1 unknown`, when it refused: Diagnostic-Code's `smtp;`
        /// value (RFC 3464 2.3.6). Without it, Diagnostic-Code is `x-aviary;` with `diagnostic`.
        public var remoteReply: String?

        public init(
            finalRecipient: String, originalRecipient: String? = nil, action: Action, status: String,
            diagnostic: String, remoteMTA: String? = nil, remoteReply: String? = nil
        ) {
            self.finalRecipient = finalRecipient
            self.originalRecipient = originalRecipient
            self.action = action
            self.status = status
            self.diagnostic = diagnostic
            self.remoteMTA = remoteMTA
            self.remoteReply = remoteReply
        }
    }

    public var hostname: String
    public var queueID: String
    /// Who receives the notification: the original envelope sender.
    public var recipient: String
    public var arrivalDate: String
    public var reports: [RecipientReport]
    /// DSN ENVID of the original message (RFC 3461), echoed back.
    public var envelopeID: String?
    /// Return only the headers (RET=HDRS) instead of the whole message.
    public var returnHeadersOnly: Bool

    public init(
        hostname: String, queueID: String, recipient: String, arrivalDate: String, reports: [RecipientReport],
        envelopeID: String? = nil, returnHeadersOnly: Bool = false
    ) {
        self.hostname = hostname
        self.queueID = queueID
        self.recipient = recipient
        self.arrivalDate = arrivalDate
        self.reports = reports
        self.envelopeID = envelopeID
        self.returnHeadersOnly = returnHeadersOnly
    }

    private var isDelayWarning: Bool { reports.allSatisfy { $0.action == .delayed } }

    /// The complete message, CRLF line ends, ready to be queued from the null sender.
    ///
    /// Every value put into it (addresses, ENVID, ORCPT, a remote server's reply, a diagnostic) has its
    /// control characters replaced by `?`: they come from users, remote servers and queue files, and a CR or
    /// LF among them would add header fields or DSN fields of their author's choosing.
    /// - Parameter original: the original message, CRLF line ends.
    public func compose(original: [UInt8], date: String = MessageDate.rfc5322()) -> [UInt8] {
        let hostname = hostname.replacingControlCharacters
        let queueID = queueID.replacingControlCharacters
        let recipient = recipient.replacingControlCharacters
        let arrivalDate = arrivalDate.replacingControlCharacters
        let envelopeID = envelopeID?.replacingControlCharacters
        let reports = reports.map { report in
            RecipientReport(
                finalRecipient: report.finalRecipient.replacingControlCharacters,
                originalRecipient: report.originalRecipient?.replacingControlCharacters, action: report.action,
                status: report.status.replacingControlCharacters,
                diagnostic: report.diagnostic.replacingControlCharacters,
                remoteMTA: report.remoteMTA?.replacingControlCharacters,
                remoteReply: report.remoteReply?.replacingControlCharacters)
        }
        let boundary = "\(queueID).\(date.hashValue & 0xFFFF_FFFF)/\(hostname)"
        var out = ""
        func line(_ text: String = "") { out += text + "\r\n" }
        line("From: MAILER-DAEMON@\(hostname) (Mail Delivery System)")
        line("To: \(recipient)")
        line(isDelayWarning
            ? "Subject: Delayed Mail (still being retried)" : "Subject: Undelivered Mail Returned to Sender")
        line("Date: \(date)")
        line("Message-ID: \(MessageIdentifier.make(queueID: queueID, hostname: hostname))")
        line("Auto-Submitted: auto-replied")
        line("MIME-Version: 1.0")
        line("Content-Type: multipart/report; report-type=delivery-status;")
        line("\tboundary=\"\(boundary)\"")
        line("Content-Transfer-Encoding: 8bit")
        line()
        line("This is a MIME-encapsulated message.")
        line()
        line("--\(boundary)")
        line("Content-Description: Notification")
        line("Content-Type: text/plain; charset=utf-8")
        line("Content-Transfer-Encoding: 8bit")
        line()
        line("This is the mail system at host \(hostname).")
        line()
        if isDelayWarning {
            line("####################################################################")
            line("# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #")
            line("####################################################################")
            line()
            line("Your message could not be delivered for some time.")
            line("It will be retried until it is too old.")
        } else {
            line("I'm sorry to have to inform you that your message could not")
            line("be delivered to one or more recipients. It's attached below.")
            line()
            line("For further assistance, please send mail to postmaster.")
            line()
            line("If you do so, please include this problem report. You can")
            line("delete your own text from the attached returned message.")
        }
        line()
        line("                   The mail system")
        line()
        for report in reports {
            line("<\(report.finalRecipient)>: \(report.diagnostic)")
        }
        line()
        line("--\(boundary)")
        line("Content-Description: Delivery report")
        line("Content-Type: message/delivery-status")
        line()
        line("Reporting-MTA: dns; \(hostname)")
        line("X-Aviary-Queue-ID: \(queueID)")
        if let envelopeID { line("Original-Envelope-Id: \(envelopeID)") }
        line("Arrival-Date: \(arrivalDate)")
        for report in reports {
            line()
            line("Final-Recipient: rfc822; \(report.finalRecipient)")
            if let original = report.originalRecipient {
                // ORCPT is stored as "addr-type;address"; keep its type.
                line("Original-Recipient: \(original.contains(";") ? original : "rfc822; " + original)")
            }
            line("Action: \(report.action.rawValue)")
            line("Status: \(report.status)")
            if let remote = report.remoteMTA { line("Remote-MTA: dns; \(remote)") }
            line("Diagnostic-Code: " + (report.remoteReply.map { "smtp; " + $0 } ?? "x-aviary; " + report.diagnostic))
        }
        line()
        line("--\(boundary)")
        var bytes = Array(out.utf8)
        if returnHeadersOnly || isDelayWarning {
            bytes += Array("Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n".utf8)
            bytes += MIMEHeaderSection.bytes(of: original)
        } else {
            bytes += Array("Content-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n\r\n".utf8)
            bytes += original
        }
        if bytes.suffix(2) != [13, 10] { bytes += [13, 10] }
        bytes += Array("\r\n--\(boundary)--\r\n".utf8)
        return bytes
    }
}
