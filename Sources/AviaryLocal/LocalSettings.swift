import AviaryConfig
import AviaryCore
import AviaryQueue
import AviaryUsers

/// The main.cf values local delivery uses, read once per process.
public struct LocalSettings: Sendable {
    public var queue: QueueDirectory
    public var hostname: String
    public var homeMailbox: String
    public var mailSpoolDirectory: String
    public var virtualMailboxBase: String
    public var forwardPaths: [String]
    public var commandsAllowedFrom: Set<String>
    public var filesAllowedFrom: Set<String>
    public var commandTimeLimit: Int
    /// mailbox_size_limit: the largest an mbox or /file target may grow to, and the largest Maildir message file; 0: no limit.
    public var mailboxSizeLimit: Int64
    /// `mailbox_quota_limit`: a Maildir account's quota in bytes when its users-file entry sets none; 0: none.
    public var mailboxQuotaLimit: Int64
    /// `quota_warning_percent`: the usage, in percent of the quota, at which the user is warned once; 0: never.
    public var quotaWarningPercent: Int
    /// `quota_full_tempfail`: an account over quota defers (4.2.2) instead of bouncing (5.2.2).
    public var isQuotaFullTemporary: Bool
    /// `strict_mailbox_ownership`: a system mailbox owned by someone else defers instead of being written.
    public var isMailboxOwnershipStrict: Bool
    /// As root: who owns the queue and virtual mailboxes (`mail_owner`), and who runs alias commands and files
    /// (`default_privs`). Nil without root, where nothing switches user; as root, nil means the parameter
    /// names no usable account and `mailOwnerProblem` or `defaultPrivilegesProblem` says why.
    public var mailOwner: SystemAccount?
    public var defaultPrivileges: SystemAccount?
    /// As root, why `mail_owner` cannot be used: what it guards is deferred, never done as root instead.
    public var mailOwnerProblem: String?
    /// As root, why `default_privs` cannot be used: alias commands and files are deferred, never run as root.
    public var defaultPrivilegesProblem: String?

    public init(config: MainConfig) {
        queue = QueueDirectory(root: config.string(.queueDirectory))
        hostname = config.string(.myhostname)
        homeMailbox = config.string(.homeMailbox)
        mailSpoolDirectory = config.string(.mailSpoolDirectory)
        virtualMailboxBase = config.string(.virtualMailboxBase)
        forwardPaths = config.list(.forwardPath)
        commandsAllowedFrom = Set(config.list(.allowMailToCommands).map { $0.lowercased() })
        filesAllowedFrom = Set(config.list(.allowMailToFiles).map { $0.lowercased() })
        commandTimeLimit = max(1, config.seconds(.commandTimeout))
        mailboxSizeLimit = Int64(max(0, config.integer(.mailboxSizeLimit)))
        isMailboxOwnershipStrict = config.bool(.strictMailboxOwnership)
        mailboxQuotaLimit = Int64(max(0, config.integer(.mailboxQuotaLimit)))
        quotaWarningPercent = max(0, config.integer(.quotaWarningPercent))
        isQuotaFullTemporary = config.bool(.quotaFullTempfail)
        if Privileges.isRoot {
            (mailOwner, mailOwnerProblem) = Self.unprivilegedAccount(.mailOwner, config)
            (defaultPrivileges, defaultPrivilegesProblem) = Self.unprivilegedAccount(.defaultPrivs, config)
        }
    }

    /// The account a parameter names, or why it cannot be used: it does not exist, or it has root's user or
    /// group id (Postfix refuses both at start-up: a lookup that fails must not leave root in charge).
    private static func unprivilegedAccount(_ parameter: Parameter, _ config: MainConfig) -> (SystemAccount?, String?) {
        let name = config.string(parameter)
        guard let account = SystemAccount.named(name) else {
            return (nil, "\(parameter.name) = \(name): no such account")
        }
        guard account.uid != 0, account.gid != 0 else {
            return (nil, "\(parameter.name) = \(name): a privileged account (user or group id 0)")
        }
        return (account, nil)
    }
}
