import AviaryCore

/// Where a user's mail is: the one rule that `local` delivers by and pop3d (and later imapd) read by.
///
/// - A virtual user `local@domain` (the users file): the Maildir `virtual_mailbox_base/domain/local/`, the
///   local part lower-cased as Postfix folds table lookups.
/// - A system account: `home_mailbox` in its home (a Maildir when the value ends in `/`, an mbox otherwise), or
///   when `home_mailbox` is empty, the mbox `mail_spool_directory/name`.
public enum UserMailbox: Sendable, Hashable, CustomStringConvertible {
    /// A Maildir; the path ends in `/`.
    case maildir(String)
    /// An mbox file.
    case mbox(String)

    /// The Maildir of a virtual user.
    public static func virtual(user: String, base: String) -> UserMailbox {
        let parts = AddressParts(user)
        return .maildir(base + "/" + parts.domain + "/" + parts.localPart.lowercased() + "/")
    }

    /// The mailbox of a system account.
    public static func system(_ account: SystemAccount, homeMailbox: String, spoolDirectory: String) -> UserMailbox {
        if homeMailbox.isEmpty { return .mbox(spoolDirectory + "/" + account.name) }
        let path = account.home + "/" + homeMailbox
        return homeMailbox.hasSuffix("/") ? .maildir(path) : .mbox(path)
    }

    public var path: String {
        switch self {
        case .maildir(let path), .mbox(let path): return path
        }
    }

    /// `maildir:PATH` or `mbox:PATH`, for logs.
    public var description: String {
        switch self {
        case .maildir(let path): return "maildir:" + path
        case .mbox(let path): return "mbox:" + path
        }
    }
}
