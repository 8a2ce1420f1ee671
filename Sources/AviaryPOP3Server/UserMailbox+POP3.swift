import AviarySASL
import AviaryUsers

extension UserMailbox {
    /// The mailbox a login opens, found as `local` delivers to it.
    init(for identity: MailUser, settings: POP3ServerSettings) {
        switch identity {
        case .virtual(let entry):
            self = .virtual(user: entry.user, base: settings.virtualMailboxBase)
        case .system(let account):
            self = .system(account, homeMailbox: settings.homeMailbox, spoolDirectory: settings.mailSpoolDirectory)
        }
    }
}
