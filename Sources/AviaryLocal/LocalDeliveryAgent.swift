#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import Synchronization
import AviaryIPC
import AviaryMailbox
import AviaryMessage
import AviaryQueue
import AviaryUsers
import Logging

/// The local delivery agent (Postfix local(8), plus virtual mailboxes): takes one delivery request
/// from qmgr, delivers each recipient, records successes in the queue file, and answers.
///
/// Exactly once: `DeliveryTransaction` holds the queue file's lock for the whole request and records each
/// delivery in the file before the agent answers.
public struct LocalDeliveryAgent: Sendable {
    public let settings: LocalSettings
    public let directory: UserDirectory
    public let logger: Logger
    /// Seconds since 1970 (the Maildir tmp/ clean-up's clock).
    let now: @Sendable () -> Int
    let maildirCleanup = MaildirCleanupSchedule()

    public init(config: MainConfig, logger: Logger, now: @escaping @Sendable () -> Int = { Int(time(nil)) }) {
        settings = LocalSettings(config: config)
        directory = UserDirectory(config: config)
        self.logger = logger
        self.now = now
        for problem in [settings.mailOwnerProblem, settings.defaultPrivilegesProblem].compactMap({ $0 }) {
            logger.warning("\(problem): the deliveries that run as it are deferred until it names an unprivileged account")
        }
    }

    public func handle(_ request: DeliveryRequest) -> DeliveryResult {
        var logger = self.logger
        logger[metadataKey: "queue_id"] = "\(request.queueID)"
        var transaction: DeliveryTransaction
        switch DeliveryTransaction.begin(request, queueRoot: settings.queue.root, logger: logger) {
        case .opened(let opened): transaction = opened
        case .answered(let answer): return answer
        }
        // `begin` has checked the ID.
        guard let id = QueueID(request.queueID) else { return transaction.result }
        let deliveredTo = deliveredTo(of: transaction.file)
        for recipient in transaction.pending {
            transaction.record(
                deliver(recipient, id: id, file: transaction.file, deliveredTo: deliveredTo, logger: logger))
        }
        return transaction.result
    }

    private func deliver(
        _ recipient: DeliveryRequest.Recipient, id: QueueID, file: QueueFile, deliveredTo: Set<String>,
        logger: Logger
    ) -> DeliveryResult.Outcome {
        let envelope = file.envelope
        let started = Double(time(nil))
        func finish(_ status: DeliveryResult.Status, _ dsn: String, _ text: String) -> DeliveryResult.Outcome {
            let delay = LogFormat.delay(started - envelope.arrivalTime)
            logger.info("to=<\(recipient.address)>, relay=local, delay=\(delay), dsn=\(dsn), status=\(status.rawValue) (\(text))")
            return .init(index: recipient.index, status: status, dsn: dsn, text: text)
        }
        let lowered = recipient.address.lowercased()
        if deliveredTo.contains(lowered) {
            return finish(.bounced, "5.4.6", "mail forwarding loop for \(recipient.address)")
        }
        let targets: [DeliveryTarget]
        do throws(DeliveryFailure) {
            targets = try RecipientExpansion(settings: settings, directory: directory).expand(recipient.address)
        } catch {
            return finish(error.isPermanent ? .bounced : .deferred, error.status, error.text)
        }
        if targets.count > 1 {
            let outcome = deliverEach(targets, recipient: recipient, id: id, file: file)
            return finish(outcome.status, outcome.dsn, outcome.text)
        }
        guard let target = targets.first else { return finish(.sent, "2.0.0", "no targets") }
        if case .forward(let address) = target {
            do throws(DeliveryFailure) {
                _ = try settings.mailOwnerAccount()
            } catch {
                return finish(.deferred, error.status, error.text)
            }
            do {
                let newID = try forward(file: file, to: [address], recipient: recipient.address)
                return finish(.sent, "2.0.0", "forwarded as \(newID)")
            } catch {
                return finish(.deferred, "4.3.0", "cannot forward: \(error)")
            }
        }
        do throws(DeliveryFailure) {
            try write(file: file, to: target, recipient: recipient.address, receipt: Self.receipt(id, recipient, target))
            return finish(.sent, "2.0.0", target.sentText)
        } catch {
            return finish(error.isPermanent ? .bounced : .deferred, error.status, error.text)
        }
    }

    /// Delivers a recipient that expands to several targets so that each gets the message once, whatever
    /// fails when and whoever is killed when (qmgr, this process).
    ///
    /// The ordering argument. This process holds the queue file's lock for the whole request
    /// (DeliveryTransaction), and the target log (AviaryQueue/TargetLog.swift) is read and appended only
    /// under it: no two agents work on one message's targets at once, and a request repeated by a restarted
    /// qmgr waits for the lock and then reads everything the first agent recorded.
    ///  1. A target is written (Maildir, file, command, a forwarded queue file committed), then its line is
    ///     appended to the log, then the next target goes. Killed between the two steps, that one target
    ///     is written again at the retry: the same one-delivery window that the recipient's status byte has,
    ///     never more. Killed after the append (write returned: the line is in the page cache, which a kill
    ///     does not lose), the retry skips it. A line torn by the kill has no LF and counts as not finished.
    ///  2. A temporary failure of one target does not stop the others; the recipient is answered deferred
    ///     and stays pending in the queue file, and the retry finds the finished ones in the log.
    ///  3. A permanent failure is appended as such with its text, and the recipient is answered bounced only
    ///     once no target is left to try: then qmgr returns the message once, naming only the failed targets,
    ///     and marks the recipient final. Until then the bounce waits in the log.
    ///  4. The recipient's status byte becomes final only after every target is in the log (step 3, or
    ///     DeliveryTransaction.record for `sent`); qmgr never touches the log, so killing it at any moment
    ///     only repeats requests, which steps 1-3 make harmless. If the log cannot be read, nothing is
    ///     delivered (deferred); if a line cannot be appended, the remaining targets wait for the retry.
    private func deliverEach(
        _ targets: [DeliveryTarget], recipient: DeliveryRequest.Recipient, id: QueueID, file: QueueFile
    ) -> (status: DeliveryResult.Status, dsn: String, text: String) {
        let queue = settings.queue
        let owner: SystemAccount?
        var finished: [String: TargetOutcome] = [:]
        do {
            owner = try settings.mailOwnerAccount()
            for outcome in try runAs(owner, { try queue.targetOutcomes(for: id) })
            where outcome.recipientIndex == recipient.index {
                finished[outcome.target] = outcome
            }
        } catch let failure as DeliveryFailure {
            return (.deferred, failure.status, failure.text)
        } catch {
            return (.deferred, "4.3.0", "cannot read the target log: \(error)")
        }
        var texts: [String] = []
        var bounces: [TargetOutcome.Failure] = []
        var deferral: DeliveryFailure?
        var canRecord = true
        func record(_ outcome: TargetOutcome) -> Bool {
            do {
                try runAs(owner) { try queue.record(outcome, for: id) }
                return true
            } catch {
                logger.error("cannot record \(outcome.target) in the target log: \(error)")
                deferral = .temporary("4.3.0", "cannot record a finished target: \(error)")
                canRecord = false
                return false
            }
        }
        var forwards: [DeliveryTarget] = []
        for target in targets {
            if let done = finished[target.key] {
                if let failure = done.failure { bounces.append(failure) }
                continue
            }
            if case .forward = target {
                forwards.append(target)
                continue
            }
            do throws(DeliveryFailure) {
                try write(file: file, to: target, recipient: recipient.address, receipt: Self.receipt(id, recipient, target))
                texts.append(target.sentText)
                guard record(TargetOutcome(recipientIndex: recipient.index, target: target.key)) else { break }
            } catch {
                let text = "\(target.label): \(error.text)"
                guard error.isPermanent else {
                    deferral = deferral ?? .temporary(error.status, text)
                    continue
                }
                let failure = TargetOutcome.Failure(dsn: error.status, text: text)
                bounces.append(failure)
                guard record(TargetOutcome(recipientIndex: recipient.index, target: target.key, failure: failure))
                else { break }
            }
        }
        // Forwarded addresses go together in one new queue file, each recorded after it is committed.
        if !forwards.isEmpty && canRecord {
            let addresses = forwards.compactMap { target -> String? in
                if case .forward(let address) = target { return address }
                return nil
            }
            do {
                let newID = try forward(file: file, to: addresses, recipient: recipient.address)
                texts.append("forwarded as \(newID)")
                for target in forwards {
                    guard record(TargetOutcome(recipientIndex: recipient.index, target: target.key)) else { break }
                }
            } catch {
                deferral = deferral ?? .temporary("4.3.0", "cannot forward: \(error)")
            }
        }
        if let deferral { return (.deferred, deferral.status, deferral.text) }
        if let first = bounces.first { return (.bounced, first.dsn, bounces.map(\.text).joined(separator: "; ")) }
        return (.sent, "2.0.0", texts.isEmpty ? "every target already delivered" : texts.joined(separator: ", "))
    }

    /// The name of one delivery of this message to this recipient and target, the same at every attempt
    /// (Maildir.wasDelivered): the queue ID, the recipient's index and a hash of the target.
    static func receipt(_ id: QueueID, _ recipient: DeliveryRequest.Recipient, _ target: DeliveryTarget) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes, unlike Hasher
        for byte in target.key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "\(id.rawValue).\(recipient.index).\(String(hash, radix: 16))"
    }

    private func write(
        file: QueueFile, to target: DeliveryTarget, recipient: String, receipt: String
    ) throws(DeliveryFailure) {
        let envelope = file.envelope
        let prefix = "Return-Path: <\(envelope.sender)>\r\nDelivered-To: \(recipient)\r\n"
        let message = MessageSource.file(file.file, offset: file.messageOffset, length: file.messageLength)
        do {
            switch target {
            case .maildir(let path, let owner, let quota):
                try runAs(owner) {
                    let maildir = Maildir(path: path)
                    let deliver = {
                        if maildir.wasDelivered(receipt: receipt) {
                            // An earlier attempt delivered it and was killed before it could say so.
                            logger.info("\(path): already delivered by an earlier attempt (receipt \(receipt)); not again")
                        } else {
                            try maildir.deliver(
                                message, prefix: prefix, hostname: settings.hostname,
                                sizeLimit: settings.mailboxSizeLimit, receipt: receipt, quota: quota)
                            warnIfNearQuota(maildir, quota: quota, recipient: recipient)
                        }
                    }
                    var isDelivered = false
                    if KnownMaildirs.shared.contains(path) {
                        do {
                            try deliver()
                            isDelivered = true
                        } catch let error as MailboxError where error.isMissingDirectory {
                            // Removed since this process last delivered there: made again below.
                        }
                    }
                    if !isDelivered {
                        try SafeFile.makeDirectories(path, mode: 0o700)
                        try maildir.create(mode: 0o700)
                        try deliver()
                        KnownMaildirs.shared.insert(path)
                    }
                    // As the owner, after the delivery: the clean-up never stands in its way.
                    let now = self.now()
                    guard maildirCleanup.isDue(maildir.path, now: now) else { return }
                    for name in maildir.removeStaleTemporaryFilesIfDue(now: now, interval: MaildirCleanupSchedule.interval) {
                        logger.info("removed \(maildir.path)/tmp/\(name): left by a delivery that died (untouched for 36 hours)")
                    }
                }
            case .mbox(let path, let owner):
                if let owner {
                    try createSpoolFile(path, for: owner)
                    try checkOwnership(of: path, owner)
                }
                // As Postfix's local: the dot-lock as this process (root, for a spool directory the user may
                // not write), and a failed dot-lock defers; the append as the user.
                let mbox = Mbox(path: path)
                try mbox.withDotLock(MboxLocking()) {
                    try runAs(owner) {
                        try mbox.deliver(
                            message, sender: envelope.sender, prefix: prefix, locking: MboxLocking(usesDotLock: false),
                            sizeLimit: settings.mailboxSizeLimit)
                    }
                }
            case .file(let path, let owner):
                try runAs(owner) {
                    try Mbox(path: path).deliver(
                        message, sender: envelope.sender, prefix: prefix, locking: MboxLocking(dotLockMayFail: true),
                        sizeLimit: settings.mailboxSizeLimit)
                }
            case .command(let command, let owner, let home):
                let parts = AddressParts(recipient)
                try CommandDelivery(command: command, owner: owner, home: home, timeLimit: settings.commandTimeLimit)
                    .run(
                        message: MessageSource.chunks([Array(prefix.utf8)]).followed(by: message),
                        environment: [
                            "SENDER": envelope.sender, "RECIPIENT": recipient, "LOCAL": parts.localPart,
                            "DOMAIN": parts.domain, "ORIGINAL_RECIPIENT": recipient,
                        ])
            case .forward:
                return
            }
        } catch let failure as DeliveryFailure {
            throw failure
        } catch let error as MailboxError {
            if error.code == .unsafeMailbox { throw .permanent("5.2.0", "cannot deliver: \(error)") }
            // Postfix bounces a full mailbox too (EFBIG from its file size limit: 5.2.2).
            if error.code == .full { throw .permanent("5.2.2", "cannot deliver: \(error)") }
            // Dovecot's LDA bounces an account over quota (552 5.2.2 Mailbox full) unless quota_full_tempfail.
            if error.code == .overQuota {
                if settings.isQuotaFullTemporary { throw .temporary("4.2.2", "Mailbox full: \(error)") }
                throw .permanent("5.2.2", "Mailbox full: \(error)")
            }
            throw .temporary("4.2.0", "cannot deliver: \(error)")
        } catch {
            throw .temporary("4.2.0", "cannot deliver: \(error)")
        }
    }

    /// After a delivery into an account with a quota: when usage has just reached `quota_warning_percent`, a
    /// short notice goes into the INBOX, once until usage drops below it again (`Maildir.claimQuotaWarning`). It is
    /// delivered whatever the quota (Dovecot's quota-warning script delivers without enforcing too). A failure
    /// is only logged: the delivery itself is done.
    private func warnIfNearQuota(_ maildir: Maildir, quota: QuotaLimits, recipient: String) {
        do throws(MailboxError) {
            guard let usage = try maildir.claimQuotaWarning(limits: quota, percent: settings.quotaWarningPercent)
            else { return }
            let percent = quota.percentUsed(by: usage)
            try maildir.deliver(
                .bytes(Array(Self.quotaWarning(to: recipient, usage: usage, quota: quota, hostname: settings.hostname).utf8)),
                hostname: settings.hostname)
            logger.info("to=<\(recipient)>, relay=local, status=sent (quota warning: \(percent)% of \(quota.text) used)")
        } catch {
            logger.warning("\(maildir.path): cannot send the quota warning: \(error)")
        }
    }

    /// The quota warning message.
    static func quotaWarning(to recipient: String, usage: QuotaUsage, quota: QuotaLimits, hostname: String) -> String {
        let percent = quota.percentUsed(by: usage)
        var used: [String] = []
        if quota.storage > 0 { used.append("\((usage.storage + 1023) / 1024) KiB of \((quota.storage + 1023) / 1024) KiB") }
        if quota.messages > 0 { used.append("\(usage.messages) of \(quota.messages) messages") }
        return [
            "From: MAILER-DAEMON@\(hostname) (Mail Delivery System)",
            "To: <\(recipient)>",
            "Subject: Your mailbox is \(percent)% full",
            "Date: \(MessageDate.rfc5322())",
            "Message-ID: \(MessageIdentifier.make(queueID: "quota", hostname: hostname))",
            "Auto-Submitted: auto-generated",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
            "",
            "Your mailbox is using \(used.joined(separator: " and ")).",
            "When it is full, new mail to you is returned to its senders.",
            "Please delete messages you no longer need (and empty the Trash).",
            "",
        ].joined(separator: "\r\n")
    }

    /// A user cannot create files in a protected spool directory (/var/mail is root:mail 2775), so as root
    /// the mailbox is made here first and given to the user, as Postfix's local does; the delivery itself
    /// then runs as the user. The empty file gets its owner under a temporary name and only then appears
    /// under the mailbox's name (rename without replacing): a concurrent delivery never finds a mailbox
    /// still owned by root, which it could not open as the user.
    /// Postfix's strict_mailbox_ownership: a system mailbox that belongs to someone else (a mistake, or a file
    /// planted to receive someone's mail) is not written.
    private func checkOwnership(of path: String, _ owner: SystemAccount) throws(DeliveryFailure) {
        var info = stat()
        guard settings.isMailboxOwnershipStrict, lstat(path, &info) == 0, info.st_uid != owner.uid else { return }
        logger.warning("specify \"strict_mailbox_ownership = no\" to ignore mailbox ownership mismatch")
        throw .temporary("4.2.0", "destination \(path) is not owned by recipient")
    }

    private func createSpoolFile(_ path: String, for owner: SystemAccount) throws {
        guard Privileges.isRoot, !SafeFile.exists(path) else { return }
        let temporary = SafeFile.directoryName(of: path) + "/.\(SafeFile.baseName(of: path)).\(getpid()).new"
        unlink(temporary)  // left by a local killed at this step
        let file = try SafeFile.createExclusive(temporary, mode: 0o600)
        defer {
            file.close()
            unlink(temporary)
        }
        let fd = file.rawValue
        try retryingOnInterrupt("fchown", path: temporary) { fchown(fd, owner.uid, owner.gid) }
        // false: created meanwhile by another delivery, whose own checks apply to it.
        try SafeFile.renameNoReplace(temporary, to: path)
    }

    /// Queues the message again for addresses this agent does not deliver (an alias or .forward pointing
    /// elsewhere), with the same sender and a `Delivered-To:` that stops loops. As root the new file is
    /// written as the mail owner, who owns the queue.
    private func forward(file: QueueFile, to addresses: [String], recipient: String) throws -> QueueID {
        let envelope = file.envelope
        let queue = settings.queue
        let id = try runAs(settings.mailOwner) { () throws -> QueueID in
            let writer = try QueueWriter(
                directory: queue,
                envelope: QueueEnvelope(
                    arrivalTime: Double(time(nil)), sender: envelope.sender,
                    attributes: [.init("origin", "local"), .init("forwarded_for", recipient)],
                    recipients: addresses.map { QueueRecipient(address: $0) }))
            try writer.append(Array("Delivered-To: \(recipient)\r\n".utf8))
            try file.readMessage { try writer.append($0) }
            return try writer.commit()
        }
        queue.wakeQueueManager()
        return id
    }

    /// The message's Delivered-To: values (from its first 64 KiB), lowercased, for loop detection.
    private func deliveredTo(of file: QueueFile) -> Set<String> {
        let count = Int(min(file.messageLength, 65536))
        guard let head = try? file.file.read(count: count, at: file.messageOffset) else { return [] }
        return Set(MIMEHeaderSection(message: head).values("delivered-to", in: head).map { $0.lowercased() })
    }
}

extension MessageSource {
    /// This source, then `next`.
    func followed(by next: MessageSource) -> MessageSource {
        var first: MessageSource? = self
        return MessageSource {
            if let current = first {
                if let chunk = try current.nextChunk() { return chunk }
                first = nil
            }
            return try next.nextChunk()
        }
    }
}

/// The Maildirs this process has delivered into: the next delivery there goes straight to the message file,
/// without making sure of the directories first (three mkdirs and four stats, a path walk each, were a fifth of
/// a delivery's system calls). A Maildir removed meanwhile fails that delivery's first step, and is made again.
final class KnownMaildirs: Sendable {
    static let shared = KnownMaildirs()
    private let paths = Mutex<Set<String>>([])

    func contains(_ path: String) -> Bool { paths.withLock { $0.contains(path) } }

    func insert(_ path: String) {
        paths.withLock { paths in
            if paths.count >= 4096 { paths.removeAll() }
            paths.insert(path)
        }
    }
}

extension MailboxError {
    /// The Maildir (or its tmp/) is not there: ENOENT from the system call that failed.
    var isMissingDirectory: Bool { (cause as? SystemError)?.code == ENOENT }
}
