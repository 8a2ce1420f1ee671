import AviaryConfig
import AviaryCore
import AviaryMessage
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// The main.cf values sendmail, pickup and showq use.
public struct SubmissionSettings: Sendable {
    public var queue: QueueDirectory
    /// `myhostname`: Message-ID and Received: headers.
    public var hostname: String
    /// `myorigin`: the domain of unqualified addresses.
    public var origin: String
    /// `message_size_limit` (0: none).
    public var messageSizeLimit: Int
    /// `hopcount_limit`: Received: fields (pickup's included) at which a message is returned as looping.
    public var hopCountLimit: Int
    public var recipientLimit: Int
    public var lineLengthLimit: Int
    public var mailOwner: String
    public var banner: String
    /// `alias_database`: the files newaliases checks.
    public var aliasDatabase: [String]
    /// `content_filter` as pickup records it in the queue files it writes; nil when empty.
    public var contentFilter: String?

    public init(config: MainConfig) {
        queue = QueueDirectory(root: config.string(.queueDirectory))
        hostname = config.string(.myhostname)
        let origin = config.string(.myorigin)
        self.origin = origin.isEmpty ? hostname : origin
        messageSizeLimit = max(0, config.integer(.messageSizeLimit))
        hopCountLimit = max(1, config.integer(.hopcountLimit))
        recipientLimit = max(1, config.integer(.smtpdRecipientLimit))
        lineLengthLimit = max(512, config.integer(.lineLengthLimit))
        mailOwner = config.string(.mailOwner)
        banner = config.string(.smtpdBanner)
        aliasDatabase = config.list(.aliasDatabase)
        let filter = config.string(.contentFilter).trimmingWhitespace()
        contentFilter = filter.isEmpty ? nil : filter
    }

    /// `user` becomes `user@$myorigin`; a bare `postmaster` too. Other addresses are returned as given.
    public func qualified(_ address: String) -> String {
        address.contains("@") ? address : address + "@" + origin
    }

    /// The address in canonical form (`MailAddress.description`) after qualification, or nil when it is not
    /// a valid mailbox.
    public func recipient(_ address: String) -> String? {
        var text = address.trimmingCharacters(in: " \t")
        if text.hasPrefix("<") && text.hasSuffix(">") && text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        guard !text.isEmpty else { return nil }
        return MailAddress(parsing: qualified(text))?.description
    }

    /// The public socket of a service (`public/pickup`, `public/qmgr`, `public/showq`).
    public func publicSocket(_ name: String) -> String { queue.path(of: .public) + "/" + name }
}
