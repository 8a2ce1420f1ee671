import AviaryMessage

/// Everything about a message except its content: who sent it, to whom, when, and from where.
public struct QueueEnvelope: Sendable, Equatable {
    /// Arrival time, seconds since 1970.
    public var arrivalTime: Double
    /// The envelope sender; "" is the null sender `<>` (bounces), which is never bounced to.
    public var sender: String
    /// Named attributes in the order written, e.g. client_address, helo_name, protocol, body, envid, ret.
    public var attributes: [Attribute]
    public var recipients: [QueueRecipient]
    /// The after-queue content filter, `transport:nexthop` (Postfix's `content_filter`, as smtpd or pickup
    /// found it when the message arrived): qmgr hands every recipient to it instead of its normal route. nil:
    /// no filter, as for every file written before the record existed.
    public var contentFilter: String?

    public struct Attribute: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(
        arrivalTime: Double, sender: String, attributes: [Attribute] = [], recipients: [QueueRecipient],
        contentFilter: String? = nil
    ) {
        self.arrivalTime = arrivalTime
        self.sender = sender
        self.attributes = attributes
        self.recipients = recipients
        self.contentFilter = contentFilter
    }

    /// The value of the first attribute with this name.
    public subscript(attribute name: String) -> String? {
        attributes.first { $0.name == name }?.value
    }

    /// Whether this message is a bounce (null sender): a failure to deliver it is never bounced.
    public var isBounce: Bool { sender.isEmpty }
}

/// One envelope recipient and its delivery status.
public struct QueueRecipient: Sendable, Equatable {
    public var address: String
    public var status: RecipientStatus
    /// DSN NOTIFY (RFC 3461) as given: `NEVER` or a comma list of SUCCESS, FAILURE, DELAY; nil = default.
    public var notify: String?
    /// DSN ORCPT as given, `rfc822;user@example.com` (xtext decoded); nil when absent.
    public var originalRecipient: String?
    /// Where the status byte sits in the file; set when written or read.
    public internal(set) var statusOffset: Int64 = 0

    public init(address: String, status: RecipientStatus = .pending, notify: String? = nil, originalRecipient: String? = nil) {
        self.address = address
        self.status = status
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}

// The DSN values as the queue stores them are text that a user may have written (a maildrop file) or an older
// version let through: these read them back through the types that check them, and a value that fails is
// treated as absent, so nothing read from a queue file reaches an SMTP command or a DSN field unchecked.
extension QueueEnvelope {
    /// `RET` from the `ret` attribute; nil when absent or invalid.
    public var dsnReturn: DSNReturn? { self[attribute: "ret"].flatMap { DSNReturn(parsing: $0) } }

    /// `ENVID` from the `envid` attribute (decoded text); nil when absent or invalid.
    public var dsnEnvelopeID: DSNEnvelopeID? { self[attribute: "envid"].flatMap { DSNEnvelopeID($0) } }

    /// The first DSN value present that is not valid, as `NAME=value` with control characters shown as `?`;
    /// nil when all are valid. Pickup refuses a maildrop file that has one.
    public var invalidDSNValue: String? {
        func shown(_ name: String, _ value: String) -> String {
            "\(name)=\(value.prefix(100).replacingControlCharacters)"
        }
        if let ret = self[attribute: "ret"], dsnReturn == nil { return shown("RET", ret) }
        if let envid = self[attribute: "envid"], dsnEnvelopeID == nil { return shown("ENVID", envid) }
        for recipient in recipients {
            if let notify = recipient.notify, recipient.dsnNotify == nil { return shown("NOTIFY", notify) }
            if let original = recipient.originalRecipient, recipient.dsnOriginalRecipient == nil {
                return shown("ORCPT", original)
            }
        }
        return nil
    }
}

extension QueueRecipient {
    /// `NOTIFY`; nil when absent or invalid.
    public var dsnNotify: DSNNotify? { notify.flatMap { DSNNotify(parsing: $0) } }

    /// `ORCPT`; nil when absent or invalid.
    public var dsnOriginalRecipient: DSNOriginalRecipient? {
        originalRecipient.flatMap { DSNOriginalRecipient(stored: $0) }
    }
}
