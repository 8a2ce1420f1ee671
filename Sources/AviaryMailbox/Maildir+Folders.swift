import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Folder management for IMAP on the Maildir++ layout.
///
/// IMAP names use `/` between levels (`Archive/2024`); on disk the folder is the directory `.Archive.2024`
/// beside `cur/`, `new/` and `tmp/` of the top Maildir, which is INBOX. A level may therefore not contain
/// `.`. Dovecot's `subscriptions` file lives in the top Maildir:
/// - plain format (written here, and by older Dovecot): one folder per line in its Maildir++ form
///   (`Archive.2024`, `INBOX`);
/// - version 2 (newer Dovecot): the header `V<TAB>2` and an empty line, then one folder per line with its
///   levels separated by TAB, each level escaped (`\001` then `1`, `t`, `r`, `n` or `0` for `\001`, TAB, CR,
///   LF or NUL).
/// It is replaced as a whole by rename while the dot-lock `subscriptions.lock` is held (Dovecot
/// `src/lib-storage/list/subscription-file.c`); readers take no lock.
extension Maildir {
    static let subscriptionsName = "subscriptions"

    /// The Maildir++ name (`Archive.2024`) of an IMAP folder name (`Archive/2024`).
    /// - Throws: `invalidName` for an empty level, a level with `.`, or a name `folder(named:)` refuses.
    public static func maildirFolderName(imapName: String) throws(MailboxError) -> String {
        let levels = imapName.split(separator: "/", omittingEmptySubsequences: false)
        guard !imapName.isEmpty, !levels.contains(where: { $0.isEmpty || $0.contains(".") }) else {
            throw MailboxError(.invalidName, "invalid folder name \"\(imapName)\"")
        }
        return levels.joined(separator: ".")
    }

    /// The IMAP name (`Archive/2024`) of a Maildir++ folder name (`Archive.2024`).
    public static func imapFolderName(maildirName: String) -> String {
        maildirName.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "/")
    }

    /// IMAP DELETE: removes the folder's directory tree, messages included. Its subfolders stay.
    ///
    /// The directory is first renamed out of sight (so that no reader sees a half-removed folder and a crash
    /// leaves nothing that looks like one), then removed; symbolic links inside are removed, never followed.
    /// - Parameter name: the IMAP name, e.g. `Archive/2024`.
    /// - Throws: `invalidName` for INBOX or a malformed name, `notFound` when there is no such folder, `io`.
    public func deleteFolder(named name: String) throws(MailboxError) {
        let folder = try imapFolder(name)
        guard SafeFile.isDirectory(folder.path) else {
            throw MailboxError(.notFound, "no folder \"\(name)\"", path: folder.path)
        }
        // No leading dot: folderNames() must not list it while it is being removed.
        let trashPath = path + "/aviary-deleted.\(getpid()).\(MaildirFileName.nextCounter())"
        do throws(SystemError) {
            try SafeFile.rename(folder.path, to: trashPath)
        } catch where error.code == ENOENT {
            throw MailboxError(.notFound, "no folder \"\(name)\"", path: folder.path)
        } catch {
            throw MailboxError.system(error, "cannot delete folder")
        }
        // Its messages no longer count: the next look at the quota counts the files again.
        unlink(maildirSizePath)
        do throws(SystemError) {
            try Self.removeTree(trashPath)
        } catch {
            throw MailboxError.system(error, "folder deleted but not all of its files removed")
        }
    }

    /// IMAP RENAME: renames the folder and its subfolders (`.A.x` → `.B.x`).
    /// - Parameters:
    ///   - old: the folder's IMAP name.
    ///   - new: its new IMAP name.
    /// - Throws: `exists` when the new name or one of the subfolders' new names is taken (nothing is renamed
    ///   then), `notFound` when neither the folder nor a subfolder exists, `invalidName` for INBOX, a
    ///   malformed name, or a folder moved into itself.
    public func renameFolder(named old: String, to new: String) throws(MailboxError) {
        _ = try imapFolder(old)
        _ = try imapFolder(new)
        let oldName = try Self.maildirFolderName(imapName: old)
        let newName = try Self.maildirFolderName(imapName: new)
        guard newName != oldName, !newName.hasPrefix(oldName + ".") else {
            throw MailboxError(.invalidName, "cannot rename folder \"\(old)\" to \"\(new)\"", path: path)
        }
        var renames: [(from: String, to: String)] = []
        for name in try folderNames() where name == oldName || name.hasPrefix(oldName + ".") {
            renames.append((name, newName + String(name.dropFirst(oldName.count))))
        }
        if renames.isEmpty && SafeFile.isDirectory(path + "/." + oldName) {
            renames.append((oldName, newName))
        }
        guard !renames.isEmpty else {
            throw MailboxError(.notFound, "no folder \"\(old)\"", path: path + "/." + oldName)
        }
        for rename in renames where SafeFile.exists(path + "/." + rename.to) {
            throw MailboxError(
                .exists, "cannot rename folder \"\(old)\" to \"\(new)\": \(Self.imapFolderName(maildirName: rename.to)) exists",
                path: path + "/." + rename.to)
        }
        var done: [(from: String, to: String)] = []
        do throws(SystemError) {
            for rename in renames {
                guard try SafeFile.renameNoReplace(path + "/." + rename.from, to: path + "/." + rename.to) else {
                    throw SystemError(code: EEXIST, operation: "rename", path: path + "/." + rename.to)
                }
                done.append(rename)
            }
            try SafeFile.syncDirectory(path)
        } catch {
            // Put back what was moved, so that a failure leaves the old names as they were.
            for rename in done.reversed() {
                _ = try? SafeFile.renameNoReplace(path + "/." + rename.to, to: path + "/." + rename.from)
            }
            if error.code == EEXIST {
                throw MailboxError(.exists, "cannot rename folder \"\(old)\" to \"\(new)\": target exists", path: error.path)
            }
            throw MailboxError.system(error, "cannot rename folder")
        }
    }

    /// The subscribed folders' IMAP names (`INBOX`, `Archive/2024`), in the file's order; none when there is
    /// no `subscriptions` file. Reads Dovecot's plain and version 2 formats.
    public func subscriptions() throws(MailboxError) -> [String] {
        let bytes: [UInt8]
        do throws(SystemError) {
            bytes = try SafeFile.readAll(path + "/" + Self.subscriptionsName)
        } catch where error.code == ENOENT {
            return []
        } catch {
            throw MailboxError.system(error, "cannot read subscriptions")
        }
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        let isVersion2 = lines.count >= 2 && lines[0] == "V\t2" && lines[1].isEmpty
        if isVersion2 { lines.removeFirst(2) }
        var names: [String] = []
        for line in lines where !line.isEmpty {
            let name =
                isVersion2
                ? line.split(separator: "\t", omittingEmptySubsequences: false).map(Self.tabUnescaped).joined(separator: "/")
                : Self.imapFolderName(maildirName: line)
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Replaces the `subscriptions` file with `names` (IMAP names) in the plain format, under its dot-lock.
    /// - Throws: `invalidName` for a name that cannot be a Maildir++ folder, `lockTimeout`, `io`.
    public func setSubscriptions(_ names: [String]) throws(MailboxError) {
        try setSubscriptions(names, locking: .subscriptions)
    }

    func setSubscriptions(_ names: [String], locking: DotLock.Settings) throws(MailboxError) {
        var text = ""
        var written: Set<String> = []
        for name in names {
            let line = name.uppercased() == "INBOX" ? "INBOX" : try Self.maildirFolderName(imapName: name)
            guard !line.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw MailboxError(.invalidName, "invalid folder name \"\(name)\"", path: path)
            }
            if written.insert(line).inserted { text += line + "\n" }
        }
        let finalPath = path + "/" + Self.subscriptionsName
        try DotLock.withLock(finalPath + ".lock", settings: locking) { () throws(MailboxError) in
            let temporaryPath = finalPath + ".tmp"
            unlink(temporaryPath)
            do throws(SystemError) {
                let file = try SafeFile.createExclusive(temporaryPath, mode: 0o600)
                try file.writeAll(Array(text.utf8))
                try SafeFile.commit(file, temporaryPath: temporaryPath, finalPath: finalPath)
            } catch {
                unlink(temporaryPath)
                throw MailboxError.system(error, "cannot write subscriptions")
            }
        }
    }

    /// The folder for an IMAP name other than INBOX.
    private func imapFolder(_ imapName: String) throws(MailboxError) -> Maildir {
        guard imapName.uppercased() != "INBOX" else {
            throw MailboxError(.invalidName, "INBOX is the top maildir, not a folder", path: path)
        }
        return try folder(named: Self.maildirFolderName(imapName: imapName))
    }

    /// Dovecot's `str_tabunescape`.
    private static func tabUnescaped(_ text: Substring) -> String {
        var result = ""
        var isEscaped = false
        for scalar in text.unicodeScalars {
            if isEscaped {
                switch scalar {
                case "1": result.unicodeScalars.append("\u{1}")
                case "t": result.unicodeScalars.append("\t")
                case "r": result.unicodeScalars.append("\r")
                case "n": result.unicodeScalars.append("\n")
                case "0": result.unicodeScalars.append("\u{0}")
                default: result.unicodeScalars.append(scalar)
                }
                isEscaped = false
            } else if scalar == "\u{1}" {
                isEscaped = true
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Removes a file or directory tree without following symbolic links.
    static func removeTree(_ treePath: String) throws(SystemError) {
        var info = stat()
        guard lstat(treePath, &info) == 0 else {
            if errno == ENOENT { return }
            throw SystemError.current("lstat", path: treePath)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try SafeFile.listDirectory(treePath) { try removeTree(treePath + "/" + name) }
            if rmdir(treePath) != 0 && errno != ENOENT { throw SystemError.current("rmdir", path: treePath) }
        } else if unlink(treePath) != 0 && errno != ENOENT {
            throw SystemError.current("unlink", path: treePath)
        }
    }
}
