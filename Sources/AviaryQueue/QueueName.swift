#if canImport(Glibc)
import Glibc
#endif

/// The queue tree, one table (Postfix `conf/postfix-files`): directory, mode, owner, whether hashed.
///
///     maildrop/  files from sendmail, before pickup     incoming/  accepted, not yet seen by qmgr
///     active/    being delivered                        deferred/  waiting for a retry (hashed)
///     hold/      held by the admin                      corrupt/   unreadable files, kept for a human
///     defer/     per-message delay reasons (hashed)     private/   sockets of internal services
///     public/    sockets tools may use                  pid/       master's pid, lock and listeners
///     targets/   per-message alias and .forward targets local has finished (hashed, TargetLog.swift)
///     spare/     files of delivered messages, kept to be written again (SpareQueueFiles.swift)
public enum QueueName: String, CaseIterable, Sendable {
    case maildrop, incoming, active, deferred, hold, corrupt, `defer`, targets, spare, `private`, `public`, pid

    /// Whether files live in one-character subdirectories (by the ID's last character).
    public var isHashed: Bool { self == .deferred || self == .defer || self == .targets }

    /// The directory's mode: only the mail owner may look inside, except `public` (group tools) and
    /// `maildrop` (setgid submission, see AviarySubmission's SetgidPrivilege.swift) and `pid` (status tools
    /// read the pid). maildrop is sticky: a setgid sendmail may add files but not remove or replace another
    /// user's.
    public var mode: mode_t {
        switch self {
        case .maildrop: return 0o1730
        case .public: return 0o710
        case .pid: return 0o755
        default: return 0o700
        }
    }

    /// Whether root keeps ownership (the pid directory: master writes it as root).
    public var isRootOwned: Bool { self == .pid }

    /// Whether the directory belongs to the `setgid_group` (when there is one), so that the setgid `sendmail`
    /// can write into `maildrop/` and reach the sockets in `public/` (Postfix's postdrop group).
    public var isSetgidGroupOwned: Bool { self == .maildrop || self == .public }

    /// The id of a Unix group, or nil when there is no such group (the `setgid_group` lookup).
    public static func groupID(named name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    /// The queues that hold message files, in the order `aviary queue list` shows them.
    public static let messageQueues: [QueueName] = [.maildrop, .incoming, .active, .deferred, .hold, .corrupt]
}
