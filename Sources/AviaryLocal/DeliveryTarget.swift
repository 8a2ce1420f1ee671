import AviaryCore
import AviaryMailbox

/// Where one recipient's copy ends up, after aliases, `:include:` and `.forward` were expanded.
enum DeliveryTarget: Hashable, Sendable {
    /// A Maildir directory (ending in `/`), written as `owner` (nil: as this process), the top of an account
    /// with `quota`.
    case maildir(path: String, owner: SystemAccount?, quota: QuotaLimits)
    /// An mbox file (the spool file or `home_mailbox` without a trailing `/`), written as `owner`.
    case mbox(path: String, owner: SystemAccount?)
    /// A `/file` from an alias or .forward: appended mbox-style as `owner`.
    case file(path: String, owner: SystemAccount?)
    /// A `|command` from an alias or .forward: run without a shell as `owner`, message on stdin.
    case command(String, owner: SystemAccount?, home: String)
    /// An address this host does not deliver itself: queued again for qmgr.
    case forward(address: String)

    /// What the target is, in the target log (AviaryQueue/TargetLog.swift): the same from one expansion of a
    /// recipient to the next, different for targets that write different things.
    var key: String {
        switch self {
        case .maildir(let path, _, _): return "maildir:" + path
        case .mbox(let path, _): return "mbox:" + path
        case .file(let path, _): return "file:" + path
        case .command(let command, let owner, _): return "command:\(owner?.name ?? "-"):" + command
        case .forward(let address): return "forward:" + address
        }
    }

    /// The target in a failure's text, when a recipient has several.
    var label: String {
        switch self {
        case .maildir(let path, _, _): return "maildir \(path)"
        case .mbox(let path, _): return "mailbox \(path)"
        case .file(let path, _): return "file \(path)"
        case .command(let command, _, _): return "command \(command)"
        case .forward(let address): return "forwarding to \(address)"
        }
    }

    /// What the log line says after `status=sent (...)`.
    var sentText: String {
        switch self {
        case .maildir: return "delivered to maildir"
        case .mbox: return "delivered to mailbox"
        case .file(let path, _): return "delivered to file: \(path)"
        case .command(let command, _, _): return "delivered to command: \(command)"
        case .forward(let address): return "forwarded to \(address)"
        }
    }
}

/// Why a recipient could not be expanded or delivered, with the DSN status it deserves.
struct DeliveryFailure: Error, Sendable {
    var isPermanent: Bool
    var status: String
    var text: String

    static func permanent(_ status: String, _ text: String) -> DeliveryFailure {
        DeliveryFailure(isPermanent: true, status: status, text: text)
    }

    static func temporary(_ status: String, _ text: String) -> DeliveryFailure {
        DeliveryFailure(isPermanent: false, status: status, text: text)
    }
}
