import AviaryConfig
import AviaryCore
import AviaryDaemon

/// The main.cf values imapd uses, read once per process.
public struct IMAPServerSettings: Sendable {
    public var banner: String
    /// `imapd_timeout`: seconds without traffic either way before an authenticated session ends.
    public var timeoutSeconds: Int
    /// `imapd_login_timeout`: the same before login.
    public var loginTimeoutSeconds: Int
    /// `imapd_idle_keepalive`: seconds between `* OK Still here` lines during IDLE.
    public var idleKeepaliveSeconds: Int
    public var authFailureLimit: Int
    public var authFailureDelay: Duration
    /// `imapd_tls_auth_only`: LOGINDISABLED and no AUTHENTICATE without TLS.
    public var isTLSRequiredForAuth: Bool
    /// `login_trusted_networks`: clients that may log in with a password without TLS (besides connections
    /// from the server's own address).
    public var trustedNetworks: ClientNetworks
    /// `imapd_tls_wrappermode`: TLS from the first byte (imaps).
    public var isWrapperMode: Bool
    public var connectionLimit: Int
    /// `imapd_append_limit`: the largest APPEND, and the largest literal once logged in.
    public var appendLimit: Int
    /// The folders a new mailbox gets.
    public var specialUseFolders: [String]
    /// `imapd_mailbox_service`: the socket of the imapmail service that system users' sessions are handed to;
    /// nil when imapd serves them itself.
    public var mailboxServiceSocket: String?
    /// Where mailboxes are: the same parameters `local` delivers with.
    public var homeMailbox: String
    public var mailSpoolDirectory: String
    public var virtualMailboxBase: String
    /// `mailbox_quota_limit`: an account's quota in bytes when its users-file entry sets none; 0: none.
    public var mailboxQuotaLimit: Int64

    /// Literals before login are for user names and passwords: small.
    public static let preLoginLiteralLimit = 8192

    public init(config: MainConfig) {
        banner = config.string(.imapdBanner)
        timeoutSeconds = max(1, config.seconds(.imapdTimeout))
        loginTimeoutSeconds = max(1, config.seconds(.imapdLoginTimeout))
        idleKeepaliveSeconds = max(1, config.seconds(.imapdIdleKeepalive))
        authFailureLimit = max(1, config.integer(.imapdAuthFailureLimit))
        authFailureDelay = .seconds(max(0, config.seconds(.imapdAuthFailureDelay)))
        isTLSRequiredForAuth = config.bool(.imapdTLSAuthOnly)
        trustedNetworks = ClientNetworks(config.list(.loginTrustedNetworks))
        isWrapperMode = config.bool(.imapdTLSWrappermode)
        connectionLimit = max(1, config.integer(.imapdConnectionLimit))
        let limit = config.integer(.imapdAppendLimit)
        let messageLimit = config.integer(.messageSizeLimit)
        // Never unbounded: an APPEND literal is held in memory (64 MiB when both limits are 0).
        appendLimit = limit > 0 ? limit : messageLimit > 0 ? messageLimit : 64 << 20
        specialUseFolders = config.list(.imapdSpecialUseFolders)
        homeMailbox = config.string(.homeMailbox)
        mailSpoolDirectory = config.string(.mailSpoolDirectory)
        virtualMailboxBase = config.string(.virtualMailboxBase)
        mailboxQuotaLimit = Int64(max(0, config.integer(.mailboxQuotaLimit)))
        mailboxServiceSocket = MailboxService.socketPath(config, .imapdMailboxService)
    }
}
