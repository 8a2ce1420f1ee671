#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import AviaryMailbox
import AviaryUsers

/// Turns one recipient into delivery targets: aliases (`alias_maps`, with `:include:`), `.forward`
/// files, system accounts' mailboxes and virtual users' Maildirs, as Postfix local(8) and virtual(8) do.
///
/// Loops end: a name already being expanded is delivered to its own mailbox (`root: root, alice`),
/// and nesting stops at 20 levels with a bounce.
struct RecipientExpansion {
    let settings: LocalSettings
    let directory: UserDirectory

    enum Origin: String {
        case recipient, alias, forward, include
    }

    static let maximumDepth = 20

    func expand(_ address: String) throws(DeliveryFailure) -> [DeliveryTarget] {
        var visiting: Set<String> = []
        var targets: [DeliveryTarget] = []
        try expand(address, origin: .recipient, depth: 0, visiting: &visiting, into: &targets)
        var seen: Set<DeliveryTarget> = []
        return targets.filter { seen.insert($0).inserted }
    }

    private func expand(
        _ address: String, origin: Origin, depth: Int, visiting: inout Set<String>, into targets: inout [DeliveryTarget]
    ) throws(DeliveryFailure) {
        guard depth <= Self.maximumDepth else {
            throw .permanent("5.4.6", "mail forwarding loop (alias or .forward nesting deeper than \(Self.maximumDepth))")
        }
        // "\user" means: this user's own mailbox, without aliases or .forward.
        if address.hasPrefix("\\") {
            let name = AddressParts(String(address.dropFirst())).localPart.lowercased()
            targets.append(try mailbox(ofAccount: name))
            return
        }
        switch directory.lookup(address) {
        case .notLocal:
            targets.append(.forward(address: address))
        case .virtual(let entry):
            targets.append(try virtualMaildir(entry))
        case .unknown:
            let name = AddressParts(address).localPart
            throw .permanent("5.1.1", "unknown user: \"\(name.lowercased())\"")
        case .local(let name):
            if !visiting.contains(name), let aliasTargets = directory.aliases(for: name) {
                visiting.insert(name)
                defer { visiting.remove(name) }
                for target in aliasTargets {
                    try expand(target, origin: .alias, owner: settings.defaultPrivileges, home: "/", depth: depth + 1,
                        visiting: &visiting, into: &targets)
                }
                return
            }
            if name == "postmaster" && SystemAccount.named(name) == nil {
                targets.append(try mailbox(ofAccount: "root"))
                return
            }
            guard let account = SystemAccount.named(name) else {
                throw .permanent("5.1.1", "unknown user: \"\(name)\"")
            }
            if !visiting.contains(name), let forwardTargets = try forwardFile(of: account) {
                visiting.insert(name)
                defer { visiting.remove(name) }
                for target in forwardTargets {
                    // A .forward entry naming the user itself means "also keep a copy here".
                    if case .address(let forwarded) = target,
                        AddressParts(forwarded).localPart.lowercased() == name,
                        directory.routes.classify(forwarded) == .local
                    {
                        targets.append(try mailbox(ofAccount: name))
                        continue
                    }
                    try expand(target, origin: .forward, owner: account, home: account.home, depth: depth + 1,
                        visiting: &visiting, into: &targets)
                }
                return
            }
            targets.append(try mailbox(ofAccount: name))
        }
    }

    private func expand(
        _ target: AliasTarget, origin: Origin, owner: SystemAccount?, home: String, depth: Int,
        visiting: inout Set<String>, into targets: inout [DeliveryTarget]
    ) throws(DeliveryFailure) {
        switch target {
        case .address(let address):
            try expand(address, origin: origin, depth: depth, visiting: &visiting, into: &targets)
        case .command(let command):
            guard settings.commandsAllowedFrom.contains(origin.rawValue) else {
                throw .permanent("5.7.1", "mail to command is restricted (allow_mail_to_commands does not include \(origin.rawValue))")
            }
            targets.append(.command(command, owner: try unprivileged(owner), home: home))
        case .file(let path):
            guard settings.filesAllowedFrom.contains(origin.rawValue) else {
                throw .permanent("5.7.1", "mail to file is restricted (allow_mail_to_files does not include \(origin.rawValue))")
            }
            targets.append(.file(path: path, owner: try unprivileged(owner)))
        case .include(let path):
            let listed: [AliasTarget]
            let reader = try unprivileged(owner)
            do throws(ConfigurationError) {
                listed = try AliasTarget.parseList(try readFile(path, as: reader), file: path)
            } catch {
                throw .temporary("4.3.0", "cannot use :include: file: \(error)")
            }
            for item in listed {
                try expand(item, origin: .include, owner: owner, home: home, depth: depth + 1, visiting: &visiting,
                    into: &targets)
            }
        }
    }

    private func readFile(_ path: String, as owner: SystemAccount?) throws(ConfigurationError) -> String {
        do {
            return try runAs(owner) { try SafeFile.readText(path) }
        } catch {
            throw ConfigurationError(file: path, "cannot read: \(error)")
        }
    }

    /// The user's `.forward` targets, nil when there is none. The file must belong to the user (or root)
    /// and not be writable by others, or anyone could redirect their mail.
    private func forwardFile(of account: SystemAccount) throws(DeliveryFailure) -> [AliasTarget]? {
        for template in settings.forwardPaths {
            let path = template.replacing("$home", with: account.home).replacing("$user", with: account.name)
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            guard (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == account.uid || info.st_uid == 0,
                info.st_mode & 0o022 == 0
            else {
                throw .temporary("4.7.0", "ignoring unsafe .forward file \(path) (not a plain file of \(account.name) or writable by others)")
            }
            let text: String
            do {
                text = try runAs(account) { try SafeFile.readText(path) }
            } catch {
                throw .temporary("4.3.0", "cannot read \(path): \(error)")
            }
            do throws(ConfigurationError) {
                let targets = try AliasTarget.parseList(text, file: path)
                return targets.isEmpty ? nil : targets
            } catch {
                throw .temporary("4.3.0", "bad .forward file: \(error)")
            }
        }
        return nil
    }

    private func mailbox(ofAccount name: String) throws(DeliveryFailure) -> DeliveryTarget {
        guard let account = SystemAccount.named(name) else { throw .permanent("5.1.1", "unknown user: \"\(name)\"") }
        let owner = Privileges.isRoot ? account : nil
        let mailbox = UserMailbox.system(
            account, homeMailbox: settings.homeMailbox, spoolDirectory: settings.mailSpoolDirectory)
        switch mailbox {
        case .maildir(let path):
            // A bare-name users-file entry for the account (its mail login) may carry its quota rule.
            let quota = QuotaLimits(rule: directory.virtualUser(name)?.quotaRule, defaultStorage: settings.mailboxQuotaLimit)
            return .maildir(path: path, owner: owner, quota: quota)
        case .mbox(let path): return .mbox(path: path, owner: owner)
        }
    }

    private func virtualMaildir(_ entry: PasswdEntry) throws(DeliveryFailure) -> DeliveryTarget {
        let mailbox = UserMailbox.virtual(user: entry.user, base: settings.virtualMailboxBase)
        let quota = QuotaLimits(rule: entry.quotaRule, defaultStorage: settings.mailboxQuotaLimit)
        return .maildir(path: mailbox.path, owner: try settings.mailOwnerAccount(), quota: quota)
    }

    /// Who runs a `|command`, writes a `/file` or reads an `:include:` listed by `owner` (the user of a
    /// .forward; default_privs for aliases): never root. Root's own .forward runs as default_privs, as in
    /// Postfix; when default_privs names no usable account the delivery waits until it does.
    private func unprivileged(_ owner: SystemAccount?) throws(DeliveryFailure) -> SystemAccount? {
        guard Privileges.isRoot else { return owner }
        if let owner, owner.uid != 0 { return owner }
        guard let fallback = settings.defaultPrivileges else {
            throw .temporary(
                "4.3.0",
                "\(settings.defaultPrivilegesProblem ?? "default_privs: unusable"); |command and /file deliveries"
                    + " wait until it names an unprivileged account (they never run as root)")
        }
        return fallback
    }
}

/// Runs `body` as `account` when this process is root; without root, as itself. As root without an
/// account it refuses: a failed account lookup must never leave root writing into someone's files.
func runAs<T>(_ account: SystemAccount?, _ body: () throws -> T) throws -> T {
    guard Privileges.isRoot else { return try body() }
    guard let account else {
        throw DeliveryFailure.temporary("4.3.0", "no account to deliver as (refusing to write as root)")
    }
    return try Privileges.asUser(account, body)
}

extension LocalSettings {
    /// The mail owner, as whom virtual Maildirs and forwarded queue files are written; nil without root.
    func mailOwnerAccount() throws(DeliveryFailure) -> SystemAccount? {
        guard Privileges.isRoot else { return nil }
        guard let mailOwner else {
            throw .temporary(
                "4.3.0",
                "\(mailOwnerProblem ?? "mail_owner: unusable"); virtual mailbox deliveries and forwarding wait"
                    + " until it names an unprivileged account (they are never written as root)")
        }
        return mailOwner
    }
}
