import AviaryConfig
import AviaryCore
import AviaryDaemon

/// The main.cf values pop3d uses, read once per process.
public struct POP3ServerSettings: Sendable {
    public var hostname: String
    public var banner: String
    /// `pop3d_timeout`: seconds without traffic either way before the session ends.
    public var timeoutSeconds: Int
    /// `pop3d_auth_failure_limit`: failed logins before the connection is closed.
    public var authFailureLimit: Int
    /// `pop3d_auth_failure_delay`: the pause before answering the first failure; doubled for each further one.
    public var authFailureDelay: Duration
    /// `pop3d_tls_auth_only`: no USER/PASS or AUTH on a connection without TLS.
    public var isTLSRequiredForAuth: Bool
    /// `login_trusted_networks`: clients that may log in with a password without TLS (besides connections
    /// from the server's own address).
    public var trustedNetworks: ClientNetworks
    public var connectionLimit: Int
    /// Where mailboxes are: the same parameters `local` delivers with.
    public var homeMailbox: String
    public var mailSpoolDirectory: String
    public var virtualMailboxBase: String
    /// `mailbox_size_limit`: the largest mbox a session loads (it is held in memory); 0: no limit.
    public var mboxSizeLimit: Int64
    /// `pop3d_uidl_format`, as written; `uidlFormat` is nil when it is not understood (then `%f` is used).
    public var uidlFormatText: String
    var uidlFormat: UIDLFormat?

    /// `pop3d_tls_wrappermode`: TLS from the first byte (pop3s).
    public var isWrapperMode: Bool

    /// `pop3d_mailbox_service`: the socket of the pop3mail service that system users' sessions are handed to
    /// (`$queue_directory/private/NAME`, or an absolute path); nil when it is empty and pop3d serves them itself.
    public var mailboxServiceSocket: String?

    public init(config: MainConfig) {
        hostname = config.string(.myhostname)
        banner = config.string(.pop3dBanner)
        timeoutSeconds = max(1, config.seconds(.pop3dTimeout))
        authFailureLimit = max(1, config.integer(.pop3dAuthFailureLimit))
        authFailureDelay = .seconds(max(0, config.seconds(.pop3dAuthFailureDelay)))
        isTLSRequiredForAuth = config.bool(.pop3dTLSAuthOnly)
        trustedNetworks = ClientNetworks(config.list(.loginTrustedNetworks))
        isWrapperMode = config.bool(.pop3dTLSWrappermode)
        connectionLimit = max(1, config.integer(.pop3dConnectionLimit))
        homeMailbox = config.string(.homeMailbox)
        mailSpoolDirectory = config.string(.mailSpoolDirectory)
        virtualMailboxBase = config.string(.virtualMailboxBase)
        mboxSizeLimit = Int64(max(0, config.integer(.mailboxSizeLimit)))
        uidlFormatText = config.string(.pop3dUIDLFormat)
        uidlFormat = UIDLFormat(uidlFormatText)
        mailboxServiceSocket = MailboxService.socketPath(config, .pop3dMailboxService)
    }
}
