import AviaryConfig
import AviaryQueue
import AviaryUsers

/// The main.cf values smtpd uses, read once per process.
public struct SMTPServerSettings: Sendable {
    public var hostname: String
    public var banner: String
    public var messageSizeLimit: Int
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
    public var queue: QueueDirectory

    public init(config: MainConfig) {
        hostname = config.string(.myhostname)
        banner = config.string(.smtpdBanner)
        messageSizeLimit = max(0, config.integer(.messageSizeLimit))
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
        queue = QueueDirectory(root: config.string(.queueDirectory))
    }
}
