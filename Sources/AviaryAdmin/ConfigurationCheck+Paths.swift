import AviaryConfig
import AviaryCore
import AviaryInstance
import AviaryQueue

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The account a service runs as, and whether it may read or write a path: asked of the kernel as that account
/// (`faccessat` with its effective ids and groups), so modes, groups and every directory on the way count.
struct ServiceAccount: CustomStringConvertible {
    /// nil: this process's own user (root for a system install, the invoking user for a test instance).
    var account: SystemAccount?

    /// What unprivileged services (smtpd, qmgr, smtp, local for virtual mail) run as: `mail_owner` when master
    /// runs as root, the invoking user otherwise. nil when root and `mail_owner` is unusable (reported apart).
    static func unprivileged(_ main: MainConfig) -> ServiceAccount? {
        guard let owner = ConfigurationCheck.mailOwner(main) else { return nil }
        return ServiceAccount(account: owner)
    }

    /// What master and the privileged services run as: whoever runs `aviary` (root for a system install).
    static let master = ServiceAccount(account: nil)

    var name: String {
        if let account { return account.name }
        return SystemAccount.withID(geteuid())?.name ?? "uid \(geteuid())"
    }

    var description: String { "\(name) (uid \(account?.uid ?? geteuid()))" }

    /// Whether the account may access `path` with `mode` (`R_OK`, `W_OK | X_OK`, ...).
    func may(_ mode: Int32, _ path: String) -> Bool {
        let check = { faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0 }
        guard let account, Privileges.isRoot else { return check() }
        return (try? Privileges.asUser(account, check)) ?? false
    }
}

/// Paths the services write, as `postfix check` reports them: each problem names the path, the account that
/// must write it and a command that fixes it. Home directories (`home_mailbox`) are not checked: there is one
/// per user.
extension ConfigurationCheck {
    /// All of them, for `aviary check`.
    static func paths(_ main: MainConfig, master: MasterConfig?) -> [ConfigurationDiagnostic] {
        mailboxBase(main) + mailSpool(main, master: master) + logFile(main) + queueDirectories(main) + queueFiles(main)
    }

    /// The path itself when it exists, else its nearest existing parent; nil when a lookup fails otherwise.
    static func nearestExisting(_ path: String) -> String? {
        var path = path
        var info = stat()
        while stat(path, &info) != 0 {
            guard errno == ENOENT, path != "/", !path.isEmpty else { return nil }
            path = SafeFile.directoryName(of: path)
        }
        return path
    }

    /// `virtual_mailbox_base` must be writable by the account that delivers virtual mail: `mail_owner` when
    /// master runs as root, the invoking user otherwise (every delivery would defer with Permission denied).
    static func mailboxBase(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        let base = main.string(.virtualMailboxBase)
        guard !base.isEmpty, !main.list(.virtualMailboxDomains).isEmpty,
            let writer = ServiceAccount.unprivileged(main),
            // The directory, or the nearest parent that exists (local creates the rest).
            let existing = nearestExisting(base),
            !writer.may(W_OK | X_OK, existing)
        else { return [] }
        let fix = existing == base ? "chown \(writer.name) \(base)" : "mkdir -p \(base) && chown \(writer.name) \(base)"
        return [.init(.error, file: main.path, line: nil, parameter: "virtual_mailbox_base",
            "virtual_mailbox_base \(base): \(existing) is not writable by \(writer), who delivers virtual mail: every delivery would defer with Permission denied; fix: \(fix)")]
    }

    /// `mail_spool_directory`, where local delivers mail for system users (user@$mydestination) when
    /// `home_mailbox` is empty. As root, local creates each mailbox there and gives it to its user, and takes
    /// the dot-lock as root: the directory only has to exist (Debian's /var/mail is root:mail 2775). Without
    /// root, local runs as the invoking user, who must be able to write it.
    static func mailSpool(_ main: MainConfig, master: MasterConfig?) -> [ConfigurationDiagnostic] {
        let spool = main.string(.mailSpoolDirectory)
        guard !spool.isEmpty, main.string(.homeMailbox).isEmpty, !main.list(.mydestination).isEmpty,
            master?.services.contains(where: { $0.command == "local" }) ?? true
        else { return [] }
        guard SafeFile.isDirectory(spool) else {
            return [.init(.warning, file: main.path, line: nil, parameter: "mail_spool_directory",
                "mail_spool_directory \(spool) does not exist: local would defer mail for system users (user@$mydestination); fix: mkdir -m 2775 \(spool) && chown root:mail \(spool)")]
        }
        let writer = ServiceAccount.master
        guard !Privileges.isRoot, !writer.may(W_OK | X_OK, spool) else { return [] }
        return [.init(.warning, file: main.path, line: nil, parameter: "mail_spool_directory",
            "mail_spool_directory \(spool) is not writable by \(writer), who runs local (master is not root): mail for system users would defer; fix: set mail_spool_directory to a directory \(writer.name) owns, or start as root")]
    }

    /// `maillog_file`: master and every service open it at start, before dropping privileges, as the user master
    /// runs as; when they cannot, they log to standard error, which nobody reads in the background.
    static func logFile(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        let file = main.string(.maillogFile)
        guard !file.isEmpty, !file.hasPrefix("/dev/"), let existing = nearestExisting(file) else { return [] }
        let writer = ServiceAccount.master
        let directory = SafeFile.directoryName(of: file)
        let problem: String
        let fix: String
        if existing == file {
            guard !writer.may(W_OK, file) else { return [] }
            problem = "it is not writable"
            fix = "chown \(writer.name) \(file)"
        } else if existing != directory {
            problem = "\(directory) does not exist"
            fix = "mkdir -p \(directory)"
        } else {
            guard !writer.may(W_OK | X_OK, directory) else { return [] }
            problem = "\(directory) is not writable, so it cannot be created"
            fix = "touch \(file) && chown \(writer.name) \(file)"
        }
        return [.init(.warning, file: main.path, line: nil, parameter: "maillog_file",
            "maillog_file \(file): \(problem); master and the services open it at start as \(writer) and would log to standard error instead; fix: \(fix)")]
    }

    /// The owner and group the queue directories should have, as master gives them (QueueDirectories.prepare).
    private static func queueOwnership(_ main: MainConfig) -> (owner: SystemAccount?, setgidGroup: gid_t?)? {
        guard let owner = mailOwner(main) else { return nil }
        return (owner, QueueDirectories.setgidGroup(named: main.string(.setgidGroup)))
    }

    /// Existing queue directories with another owner or mode than master gives them (missing ones are created
    /// by `aviary check` and master). As root, master puts both right at every start; without root it cannot
    /// chown, and services running as the invoking user fail on a directory that is someone else's.
    static func queueDirectories(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        guard let (owner, setgidGroup) = queueOwnership(main) else { return [] }
        let queue = QueueDirectory(root: main.string(.queueDirectory))
        var problems: [ConfigurationDiagnostic] = []
        let remedy = Privileges.isRoot ? "aviary start puts it right, or" : "fix (as root):"
        for name in QueueName.allCases {
            let path = queue.path(of: name)
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                problems.append(.init(.error, file: main.path, line: nil, parameter: "queue_directory",
                    "queue directory \(path) is not a directory: master cannot start; fix: move it away"))
                continue
            }
            let uid = name.isRootOwned || owner == nil ? geteuid() : owner!.uid
            let ownerName = name.isRootOwned || owner == nil ? ServiceAccount.master.name : owner!.name
            if info.st_uid != uid {
                let holder = SystemAccount.withID(info.st_uid)?.name ?? "uid \(info.st_uid)"
                let group = name.isSetgidGroupOwned && setgidGroup != nil ? ":" + main.string(.setgidGroup) : ""
                problems.append(.init(.warning, file: main.path, line: nil, parameter: "queue_directory",
                    "queue directory \(path) is owned by \(holder), not \(ownerName), who writes it; \(remedy) chown \(ownerName)\(group) \(path)"))
            } else if info.st_mode & 0o7777 != name.mode {
                let want = String(name.mode, radix: 8)
                problems.append(.init(.warning, file: main.path, line: nil, parameter: "queue_directory",
                    "queue directory \(path) has mode \(String(info.st_mode & 0o7777, radix: 8)), not \(want); \(remedy) chmod \(want) \(path)"))
            }
        }
        return problems
    }

    /// Queue files that the mail owner does not own (left by a tool run as root, or copied in): qmgr and the
    /// delivery agents, running as the mail owner, cannot read or move them, and the mail stays where it is.
    /// Master does not change them. `maildrop/` is left out: its files belong to the users who submitted them.
    static func queueFiles(_ main: MainConfig) -> [ConfigurationDiagnostic] {
        guard let (owner, _) = queueOwnership(main) else { return [] }
        let uid = owner?.uid ?? geteuid()
        let ownerName = owner?.name ?? ServiceAccount.master.name
        let queue = QueueDirectory(root: main.string(.queueDirectory))
        var problems: [ConfigurationDiagnostic] = []
        for name in [QueueName.incoming, .active, .deferred, .hold, .corrupt, .defer] {
            let top = queue.path(of: name)
            // Hashed queues: one level of subdirectories named by the queue ID alphabet.
            let directories = name.isHashed ? "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".map { top + "/" + String($0) } : [top]
            var strangers: [(path: String, uid: uid_t)] = []
            for directory in directories {
                for entry in (try? SafeFile.listDirectory(directory)) ?? [] {
                    var info = stat()
                    let path = directory + "/" + entry
                    guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid != uid else { continue }
                    strangers.append((path, info.st_uid))
                }
            }
            guard let first = strangers.first else { continue }
            let holder = SystemAccount.withID(first.uid)?.name ?? "uid \(first.uid)"
            problems.append(.init(.warning, file: main.path, line: nil, parameter: "queue_directory",
                "\(strangers.count) file(s) in \(top) not owned by \(ownerName), who reads and moves them (\(first.path) belongs to \(holder)): that mail would stay there; fix: chown -R \(ownerName) \(top)"))
        }
        return problems
    }
}
