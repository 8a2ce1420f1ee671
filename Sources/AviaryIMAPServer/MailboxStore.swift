// A user's mailboxes as IMAP shows them, on the Maildir++ layout that `local` delivers into and that Dovecot,
// Courier and mutt read (Maildir++ is Dovecot's default layout for Maildir):
//
// - INBOX is the user's Maildir itself; every other mailbox is a folder inside it, `Sent` -> `.Sent/`,
//   `Archive.2024` -> `.Archive.2024/`. The hierarchy separator is `.`, as in Dovecot's default Maildir++
//   namespace, so names map one to one and a user moved from Dovecot sees the same folder names.
// - Folder names are stored in modified UTF-7 (`Entwürfe` is `.Entw&APw-rfe/`), as Dovecot stores them, so
//   folders keep their names when a Maildir moves between the two; the session works with Unicode names.
// - A parent that is not a folder itself (`Archive` when only `.Archive.2024/` exists) is listed `\Noselect`.
// - Subscriptions are Dovecot's `subscriptions` file; SPECIAL-USE attributes come from
//   `imapd_special_use_folders` (a folder named Sent is `\Sent`) and from `aviary-special-use` (CREATE with
//   USE), one `\Attribute name` per line.
//
// Everything here blocks (directory listings, renames): call it on the thread pool.

import AviaryCore
import AviaryIMAP
import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

/// Why a mailbox operation failed; `code` is the IMAP response code, `text` what the client reads.
struct MailboxStoreError: Error, CustomStringConvertible {
    var code: String?
    var text: String
    var description: String { text }

    static func nonexistent(_ name: String) -> MailboxStoreError {
        MailboxStoreError(code: "NONEXISTENT", text: "Mailbox doesn't exist: \(name)")
    }

    static func server(_ error: MailboxError) -> MailboxStoreError {
        MailboxStoreError(code: "SERVERBUG", text: "Internal error: \(error)")
    }
}

/// One user's mailboxes.
struct MailboxStore: Sendable {
    static let separator: Character = "."
    static let specialUseFile = "aviary-special-use"

    /// The user's Maildir: INBOX.
    let root: Maildir
    /// `imapd_special_use_folders`.
    let specialUseFolders: [String]
    /// The account's quota (RFC 9208): one root, "User quota", over every mailbox.
    var quota = QuotaLimits.unlimited

    /// The Maildir of mailbox `name`; INBOX is the root.
    func maildir(for name: String) throws(MailboxStoreError) -> Maildir {
        if name == "INBOX" { return root }
        do throws(MailboxError) {
            return try root.folder(named: Self.diskName(name))
        } catch {
            throw MailboxStoreError(code: "CANNOT", text: "Invalid mailbox name: \(name)")
        }
    }

    /// Whether mailbox `name` exists as a selectable Maildir.
    func exists(_ name: String) -> Bool {
        guard let maildir = try? maildir(for: name) else { return false }
        return name == "INBOX" || SafeFile.isDirectory(maildir.path(of: .cur))
    }

    /// The existing Maildir of `name`, INBOX created on first use.
    func existing(_ name: String) throws(MailboxStoreError) -> Maildir {
        let maildir = try maildir(for: name)
        if name == "INBOX" {
            do throws(MailboxError) { try root.create() } catch { throw .server(error) }
            return maildir
        }
        guard SafeFile.isDirectory(maildir.path(of: .cur)) else { throw .nonexistent(name) }
        return maildir
    }

    /// Every selectable mailbox: INBOX and the folders.
    func names() throws(MailboxStoreError) -> [String] {
        guard SafeFile.isDirectory(root.path) else { return ["INBOX"] }
        do throws(MailboxError) {
            return ["INBOX"] + (try root.folderNames()).map(Self.mailboxName)
        } catch {
            throw .server(error)
        }
    }

    /// A new account gets INBOX and the special-use folders, subscribed (Dovecot's `auto = subscribe`).
    func prepareNewAccount() throws(MailboxStoreError) {
        let isNew = !SafeFile.isDirectory(root.path)
        do throws(MailboxError) {
            try root.create()
            let hasFolders = try !root.folderNames().isEmpty
            guard isNew || !hasFolders, !specialUseFolders.isEmpty else { return }
            for name in specialUseFolders { try root.folder(named: Self.diskName(name)).create() }
            try root.setSubscriptions((["INBOX"] + specialUseFolders).map(Self.libraryName))
        } catch {
            throw .server(error)
        }
    }

    func create(_ name: String, specialUse: [String]) throws(MailboxStoreError) {
        var name = name
        while name.last == Self.separator { name.removeLast() }
        guard name != "INBOX" else { throw MailboxStoreError(code: "ALREADYEXISTS", text: "Mailbox already exists") }
        guard !exists(name) else { throw MailboxStoreError(code: "ALREADYEXISTS", text: "Mailbox already exists") }
        let maildir = try maildir(for: name)
        do throws(MailboxError) {
            try root.create()
            try maildir.create()
        } catch {
            throw .server(error)
        }
        if !specialUse.isEmpty {
            var table = storedSpecialUse()
            for attribute in specialUse { table.append((attribute, name)) }
            writeSpecialUse(table)
        }
    }

    func delete(_ name: String) throws(MailboxStoreError) {
        guard name != "INBOX" else { throw MailboxStoreError(code: "CANNOT", text: "INBOX can't be deleted.") }
        guard exists(name) else { throw .nonexistent(name) }
        do throws(MailboxError) {
            try root.deleteFolder(named: Self.libraryName(name))
        } catch {
            throw .server(error)
        }
    }

    /// RENAME; renaming INBOX moves its messages into a new mailbox and leaves INBOX empty (RFC 9051 6.3.6).
    func rename(_ old: String, to new: String) throws(MailboxStoreError) {
        guard new != "INBOX", !exists(new) else {
            throw MailboxStoreError(code: "ALREADYEXISTS", text: "Target mailbox already exists")
        }
        if old == "INBOX" {
            try create(new, specialUse: [])
            let target = try maildir(for: new)
            do throws(MailboxError) {
                let index = try root.synchronize()
                let files = index.messages.map(\.message)
                let flags = try Self.translatedFlags(files, keywords: index.keywords, into: target)
                _ = try target.copy(files, from: root, flags: flags)
                for file in files { try root.remove(file) }
            } catch {
                throw .server(error)
            }
            return
        }
        guard exists(old) else { throw .nonexistent(old) }
        do throws(MailboxError) {
            try root.renameFolder(named: Self.libraryName(old), to: Self.libraryName(new))
        } catch {
            throw .server(error)
        }
    }

    /// The flags messages get when copied into `destination`: the system letters as they are, keywords by name,
    /// since each folder has its own dovecot-keywords (letter `a` may be `$Label1` here and `$Junk` there).
    /// Blocking.
    static func translatedFlags(_ files: [MaildirMessage], keywords: [Int: String], into destination: Maildir)
        throws(MailboxError) -> [MaildirFlags]
    {
        func names(_ flags: MaildirFlags) -> [String] {
            keywords.compactMap { index, name in
                MaildirFlags(keywordIndex: index).map { flags.contains($0) } == true ? name : nil
            }
        }
        let all = Set(files.flatMap { names($0.flags) })
        let letters = all.isEmpty ? [:] : try destination.keywordLetters(for: Array(all))
        return files.map { file in
            var flags = file.flags.subtracting(.keywords)
            for name in names(file.flags) {
                if let letter = letters[name], let flag = MaildirFlags(letter: letter) { flags.insert(flag) }
            }
            return flags
        }
    }

    func subscriptions() -> [String] {
        ((try? root.subscriptions()) ?? []).map { name in
            name == "INBOX" ? name : Self.mailboxName((try? Maildir.maildirFolderName(imapName: name)) ?? name)
        }
    }

    /// The mailbox library names folders by levels with `/` between them (`Archive/2024`) and takes them as
    /// they are on disk; imapd shows the Maildir++ name (`Archive.2024`) in Unicode.
    static func libraryName(_ name: String) -> String {
        name == "INBOX" ? name : Maildir.imapFolderName(maildirName: diskName(name))
    }

    /// A folder's name on disk: modified UTF-7, as Dovecot writes it.
    static func diskName(_ name: String) -> String { ModifiedUTF7.encode(name) }

    /// A folder's name for the session from its name on disk; a name that is not valid modified UTF-7 (made
    /// by another program) is shown as it is.
    static func mailboxName(_ diskName: String) -> String { ModifiedUTF7.decode(diskName) ?? diskName }

    func setSubscribed(_ name: String, _ isSubscribed: Bool) throws(MailboxStoreError) {
        var names = subscriptions()
        names.removeAll { $0 == name }
        if isSubscribed { names.append(name) }
        do throws(MailboxError) {
            try root.create()
            try root.setSubscriptions(names.map(Self.libraryName))
        } catch {
            throw .server(error)
        }
    }

    /// The SPECIAL-USE attributes of every mailbox that has one.
    func specialUse() -> [String: [String]] {
        var result: [String: [String]] = [:]
        for name in specialUseFolders {
            if let attribute = Self.attribute(forFolderNamed: name) { result[name, default: []].append(attribute) }
        }
        for (attribute, name) in storedSpecialUse() where !(result[name] ?? []).contains(attribute) {
            result[name, default: []].append(attribute)
        }
        return result
    }

    /// `\Sent` for Sent, and so on for RFC 6154's names; nil for others.
    static func attribute(forFolderNamed name: String) -> String? {
        let known = ["All", "Archive", "Drafts", "Flagged", "Junk", "Sent", "Trash"]
        guard let match = known.first(where: { $0.lowercased() == name.lowercased() }) else { return nil }
        return "\\" + match
    }

    private func storedSpecialUse() -> [(String, String)] {
        guard let bytes = try? SafeFile.readAll(root.path + "/" + Self.specialUseFile) else { return [] }
        var table: [(String, String)] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            table.append((String(line[..<space]), String(line[line.index(after: space)...])))
        }
        return table
    }

    private func writeSpecialUse(_ table: [(String, String)]) {
        let text = table.map { "\($0.0) \($0.1)\n" }.joined()
        try? SafeFile.writeDurably(Array(text.utf8), to: root.path + "/" + Self.specialUseFile)
    }
}
