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
    /// As root: who owns the queue and virtual mailboxes, and who runs alias commands and files.
    public var mailOwner: SystemAccount?
    public var defaultPrivileges: SystemAccount?

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
        if Privileges.isRoot {
            mailOwner = SystemAccount.named(config.string(.mailOwner))
            defaultPrivileges = SystemAccount.named(config.string(.defaultPrivs))
        }
    }
}
