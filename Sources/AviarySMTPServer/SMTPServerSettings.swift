import AviaryConfig
import AviaryCore
import AviaryQueue
import AviaryUsers

/// The main.cf values smtpd uses, read once per process.
public struct SMTPServerSettings: Sendable {
    public var hostname: String
    public var banner: String
    public var messageSizeLimit: Int
    /// `queue_minfree`: free bytes below which MAIL is answered 452 4.3.1.
    public var queueMinimumFree: Int
    /// `hopcount_limit`: Received: fields (ours included) at which a message is refused as looping.
    public var hopCountLimit: Int
    public var recipientLimit: Int
    public var timeoutSeconds: Int
    public var hardErrorLimit: Int
    public var softErrorLimit: Int
    public var errorSleepSeconds: Int
    public var forbidsUnauthPipelining: Bool
    public var connectionLimit: Int
    public var lineLengthLimit: Int
    public var isVRFYDisabled: Bool
    public var isHeloRequired: Bool
    public var trustedNetworks: ClientNetworks
    /// `local_header_rewrite_clients`.
    public var headerRewriteClients: HeaderRewriteClients
    /// `smtpd_tls_security_level`: none, may or encrypt (empty: may with a certificate, none without).
    public var tlsLevel: TLSLevel
    /// `smtpd_tls_wrappermode`: TLS from the first byte.
    public var isWrapperMode: Bool
    public var isTLSAuthOnly: Bool
    public var recordsTLSInReceived: Bool
    public var isAuthEnabled: Bool
    public var authFailureDelaySeconds: Int
    public var queue: QueueDirectory
    /// `content_filter`, recorded in every queue file this smtpd writes; nil when empty (`-o content_filter=` on
    /// the service that takes filtered mail back, so that it goes to its destinations and is not filtered again).
    public var contentFilter: String?
    /// `receive_override_options`.
    public var receiveOverrides: ReceiveOverrideOptions

    public init(config: MainConfig) {
        hostname = config.string(.myhostname)
        banner = config.string(.smtpdBanner)
        messageSizeLimit = max(0, config.integer(.messageSizeLimit))
        hopCountLimit = max(1, config.integer(.hopcountLimit))
        queueMinimumFree = max(0, config.integer(.queueMinfree))
        recipientLimit = max(1, config.integer(.smtpdRecipientLimit))
        timeoutSeconds = max(1, config.seconds(.smtpdTimeout))
        hardErrorLimit = max(1, config.integer(.smtpdHardErrorLimit))
        softErrorLimit = max(1, config.integer(.smtpdSoftErrorLimit))
        errorSleepSeconds = max(0, config.seconds(.smtpdErrorSleepTime))
        forbidsUnauthPipelining = config.bool(.smtpdForbidUnauthPipelining)
        connectionLimit = max(1, config.integer(.smtpdConnectionLimit))
        lineLengthLimit = max(512, config.integer(.lineLengthLimit))
        isVRFYDisabled = config.bool(.disableVrfyCommand)
        isHeloRequired = config.bool(.smtpdHeloRequired)
        trustedNetworks = ClientNetworks(config.list(.mynetworks))
        headerRewriteClients = HeaderRewriteClients(config.list(.localHeaderRewriteClients))
        queue = QueueDirectory(root: config.string(.queueDirectory))
        let filter = config.string(.contentFilter).trimmingWhitespace()
        contentFilter = filter.isEmpty ? nil : filter
        receiveOverrides = ReceiveOverrideOptions(config: config)
        isWrapperMode = config.bool(.smtpdTLSWrappermode)
        isTLSAuthOnly = config.bool(.smtpdTLSAuthOnly)
        recordsTLSInReceived = config.bool(.smtpdTLSReceivedHeader)
        isAuthEnabled = config.bool(.smtpdSASLAuthEnable)
        authFailureDelaySeconds = max(0, config.seconds(.smtpdAuthFailureDelay))
        switch config.string(.smtpdTLSSecurityLevel).lowercased() {
        case "none": tlsLevel = .none
        case "encrypt", "verify", "secure": tlsLevel = .encrypt
        case "may": tlsLevel = .may
        default: tlsLevel = config.string(.smtpdTLSCertFile).isEmpty ? .none : .may
        }
        if isWrapperMode, tlsLevel == .none { tlsLevel = .encrypt }
    }
}

/// How much smtpd insists on TLS (`smtpd_tls_security_level`).
public enum TLSLevel: Sendable, Equatable {
    /// No STARTTLS.
    case none
    /// STARTTLS offered; plaintext allowed.
    case may
    /// Only MAIL after STARTTLS (RFC 3207 4: `530 5.7.0 Must issue a STARTTLS command first`).
    case encrypt
}

/// `local_header_rewrite_clients`: whose messages count as local mail, completed with a Message-ID: and a
/// Date: when they lack one (Postfix's cleanup does this for the same clients).
public struct HeaderRewriteClients: Sendable, Equatable {
    public var all = false
    public var thisHost = false
    public var mynetworks = false
    public var saslAuthenticated = false
    /// Words not understood, for a warning.
    public var unknown: [String] = []

    public init(_ words: [String]) {
        for word in words {
            switch word.lowercased() {
            case "static:all": all = true
            case "permit_inet_interfaces": thisHost = true
            case "permit_mynetworks": mynetworks = true
            case "permit_sasl_authenticated": saslAuthenticated = true
            default: unknown.append(word)
            }
        }
    }

    /// Whether a client at `address` that connected to our `localAddress` (logged in as `saslUsername`)
    /// is one of them. On this host: it connected from the address it connected to, or from loopback.
    public func includes(
        address: String, localAddress: String, saslUsername: String?, mynetworks networks: ClientNetworks
    ) -> Bool {
        if all { return true }
        if thisHost && (address == localAddress || ClientNameLookup.isLoopback(address)) {
            return true
        }
        if mynetworks && networks.contains(address) { return true }
        return saslAuthenticated && saslUsername != nil
    }
}
