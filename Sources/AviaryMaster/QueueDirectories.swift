import AviaryCore

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
    public static func prepare(_ paths: MasterPaths, owner: SystemAccount?) throws(MasterError) {
        do {
            try SafeFile.makeDirectories(paths.queueDirectory, mode: 0o755)
            // TODO(queue-tree): the one call site for AviaryQueue's creation of the full queue tree
            // (maildrop/, incoming/, active/, deferred/, hold/, corrupt/) once that module provides it.
            try ensureDirectory(paths.pidDirectory, mode: 0o755, owner: nil)
            try ensureDirectory(paths.privateDirectory, mode: 0o700, owner: owner)
            try ensureDirectory(paths.publicDirectory, mode: 0o710, owner: owner)
        } catch let error as MasterError {
            throw error
        } catch let error as SystemError {
            throw MasterError.system(error)
        } catch {
            throw MasterError(.system, "\(paths.queueDirectory): \(error)")
        }
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

    private static func ensureDirectory(_ path: String, mode: mode_t, owner: SystemAccount?) throws {
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError.current("mkdir", path: path) }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SystemError.current("lstat", path: path) }
        // A symbolic link here could point root's chmod and chown at any file.
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw MasterError(.system, "\(path) exists and is not a directory")
        }
        guard Privileges.isRoot || info.st_uid == geteuid() else { return }
        if (info.st_mode & 0o7777) != mode, chmod(path, mode) != 0 { throw SystemError.current("chmod", path: path) }
        if Privileges.isRoot {
            let uid = owner?.uid ?? 0
            let gid = owner?.gid ?? 0
            if info.st_uid != uid || info.st_gid != gid, chown(path, uid, gid) != 0 {
                throw SystemError.current("chown", path: path)
            }
        }
    }
}
