import AviaryCore
import AviaryQueue

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The directories master needs under `queue_directory`, created when missing and given their modes.
///
///     queue_directory  root     0755
///     pid/             root     0755   master.pid and master.listeners: only root may replace them,
///                                      because `aviary stop` signals the pid it finds there
///     private/         owner    0700   internal services' sockets
///     public/          owner    0710   sockets the tools may use
///
/// Without root, everything belongs to the invoking user.
public enum QueueDirectories {
    /// Creates the directories and sets their modes and owners.
    /// - Parameters:
    ///   - paths: where they are.
    ///   - owner: `mail_owner`, when running as root.
    ///   - setgidGroup: the `setgid_group` id, when running as root and the group exists: it gets `maildrop/`
    ///     and `public/` (see AviarySubmission's SetgidPrivilege.swift).
    public static func prepare(
        _ paths: MasterPaths,
        owner: SystemAccount?,
        setgidGroup: gid_t? = nil
    ) throws(MasterError) {
        do {
            // The whole tree, with the owners and modes of AviaryQueue's one table (pid/ stays root's).
            try QueueDirectory(root: paths.queueDirectory).prepare(owner: owner, setgidGroup: setgidGroup)
        } catch {
            throw MasterError.system(error)
        }
    }

    /// The `setgid_group` id master gives `maildrop/` and `public/`: as root, when the group exists.
    public static func setgidGroup(named name: String) -> gid_t? {
        Privileges.isRoot ? QueueName.groupID(named: name) : nil
    }

    /// The account that owns the sockets and private directories: `mail_owner` as root, nil otherwise.
    /// - Throws: `MasterError` `.missingAccount`, telling how to create it, when root and it does not exist.
    public static func owner(named name: String) throws(MasterError) -> SystemAccount? {
        guard Privileges.isRoot else { return nil }
        guard let account = SystemAccount.named(name) else {
            throw MasterError(
                .missingAccount,
                """
                mail_owner account "\(name)" does not exist; create it with \
                "useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin \(name)" \
                or set mail_owner in main.cf to an existing unprivileged account
                """
            )
        }
        if account.uid == 0 {
            throw MasterError(.missingAccount, "mail_owner account \"\(name)\" is root; it must be unprivileged")
        }
        return account
    }
}
