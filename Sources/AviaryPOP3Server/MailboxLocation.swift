import AviaryUsers

/// Where a user's mail is, found the way `local` delivers it: virtual users in
/// `virtual_mailbox_base/DOMAIN/LOCALPART/` (Maildir), system users in `home_mailbox` under their home
/// (Maildir when it ends in `/`, mbox otherwise) or, when that is empty, `mail_spool_directory/NAME` (mbox).
public enum MailboxLocation: Sendable, Equatable, CustomStringConvertible {
    case maildir(String)
    case mbox(String)

    public init(for identity: POP3Identity, settings: POP3ServerSettings) {
        switch identity {
        case .virtual(let entry):
            let parts = AddressParts(entry.user)
            self = .maildir(settings.virtualMailboxBase + "/" + parts.domain + "/" + parts.localPart.lowercased() + "/")
        case .system(let account):
            let home = settings.homeMailbox
            if home.isEmpty {
                self = .mbox(settings.mailSpoolDirectory + "/" + account.name)
            } else {
                let path = account.home + "/" + home
                self = home.hasSuffix("/") ? .maildir(path) : .mbox(path)
            }
        }
    }

    public var description: String {
        switch self {
        case .maildir(let path): return "maildir:" + path
        case .mbox(let path): return "mbox:" + path
        }
    }
}
