// pickup: moves what sendmail left in maildrop/ into incoming/, as Postfix's pickup does, crash-safe.
//
// A maildrop file is untrusted input (any local user wrote it through the setgid sendmail). For each complete
// file maildrop/ID (dot-files are still being written) pickup:
//
//   1. parses it with the queue-file codec; what does not parse goes to corrupt/ with a warning;
//   2. applies smtpd's checks: message_size_limit, sender and recipient syntax, hopcount_limit (counted while
//      step 3 copies the message, which is then abandoned); a message that fails them is
//      returned to its sender (a DSN, like qmgr's bounces) or, when it has no usable sender, kept in corrupt/;
//   3. writes the message as pickup's own queue file maildrop/.ID, with a Received: header in front
//      ("Received: by HOST (Aviary, from userid UID) id ID; DATE"), the uid taken from the file's owner (not
//      from anything the file says) and only the envelope attributes pickup knows; commits it durably OVER
//      maildrop/ID (rename replaces the user's file atomically: the directory owner may, sticky bit or not);
//   4. renames maildrop/ID to incoming/ID (one rename: the message is in exactly one place at every instant),
//      fsyncs both directories, logs "ID: uid=UID from=<sender>" and wakes qmgr.
//
// Crash safety: killed during 3, the user's file is intact and the stale maildrop/.ID is removed and rewritten
// on the next scan; killed between 3 and 4, maildrop/ID is already pickup's version (owned by pickup's own
// uid and marked origin=pickup), so the next scan only does step 4, never a second copy. The queue ID stays
// the same from sendmail to delivery. Only one pickup scans at a time (flock on maildrop/).

import AviaryConfig
import AviaryCore
import AviaryInstance
import AviaryIPC
import AviaryMessage
import AviaryQueue
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One pass over maildrop/ (Postfix's pickup), called on every wake-up.
public struct Pickup {
    let settings: SubmissionSettings
    let logger: Logger
    /// Counts for the metrics service (nothing when `metrics_enable = no`).
    let metrics: MetricsReporter
    /// Temporary files in maildrop/ older than this are left over from a killed sendmail, and removed.
    static let staleTemporaryAge = 24 * 3600

    public init(settings: SubmissionSettings, logger: Logger, metrics: MetricsReporter = .disabled) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
    }

    public init(config: MainConfig, logger: Logger) {
        self.init(settings: SubmissionSettings(config: config), logger: logger, metrics: MetricsReporter(config: config))
    }

    var queue: QueueDirectory { settings.queue }

    /// How far `process` goes: everything, or (for crash tests) only up to the rewrite in maildrop/.
    enum Stage { case rewrite, all }

    /// Moves every complete maildrop file into incoming/ and wakes qmgr. Returns the IDs moved.
    @discardableResult
    public func scan() -> [QueueID] {
        let directory = queue.path(of: .maildrop)
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            logger.warning("cannot open \(directory): \(SystemError.current("open").reason)")
            return []
        }
        let lock = FileDescriptor(adopting: fd, path: directory)
        guard (try? lock.lock(wait: false)) == true else { return [] }  // another pickup is scanning
        var moved: [QueueID] = []
        for id in queue.messages(in: .maildrop) where process(id, stage: .all) {
            moved.append(id)
        }
        removeStaleTemporaryFiles()
        if !moved.isEmpty {
            queue.wakeQueueManager()
            metrics.count(.received, "pickup", by: moved.count)
        }
        return moved
    }

    /// Handles one maildrop file; true when it is now in incoming/.
    @discardableResult
    func process(_ id: QueueID, stage: Stage) -> Bool {
        let path = queue.path(of: id, in: .maildrop)
        let file: QueueFile
        do {
            file = try QueueFile(path: path)
        } catch {
            switch error.disposition {
            case .gone: break
            case .corrupt: quarantine(id, "unreadable maildrop file: \(error.reason)")
            case .retry: logger.warning("\(id): cannot read the maildrop file: \(error.reason); trying again later")
            }
            return false
        }
        let info: stat
        do {
            info = try file.file.status()
        } catch {
            logger.warning("\(id): fstat: \(error)")
            return false
        }
        guard (info.st_mode & S_IFMT) == S_IFREG, info.st_nlink == 1 else {
            quarantine(id, "not a regular file with one link")
            return false
        }
        let isOurs = info.st_uid == geteuid() && file.envelope[attribute: "origin"] == "pickup"
        if !isOurs {
            guard let rewritten = rewrite(id, file, uid: info.st_uid) else { return false }
            if !rewritten || stage == .rewrite { return false }
        }
        return moveToIncoming(id)
    }

    /// Step 3: checks the message and replaces maildrop/ID with pickup's version. Returns nil when the file
    /// was dealt with otherwise (bounced, quarantined, or left for the next scan), true when rewritten.
    private func rewrite(_ id: QueueID, _ file: QueueFile, uid: uid_t) -> Bool? {
        let envelope = file.envelope
        if let problem = check(envelope, size: file.messageLength) {
            reject(id, file, problem)
            return nil
        }
        let temporary = queue.path(of: .maildrop) + "/." + id.rawValue
        unlink(temporary)  // left by a pickup killed while writing; the user's file is still intact
        do {
            let writer = try QueueWriter(reservingIn: queue, queue: .maildrop, id: id)
            guard writer.id == id else {
                writer.abort()
                logger.warning("\(id): cannot create \(temporary) (it exists); trying again later")
                return nil
            }
            writer.begin(pickedUpEnvelope(envelope, uid: uid))
            var hops = HopCounter()
            let received = receivedHeader(id, uid: uid, envelope: envelope)
            hops.scan(received)
            try writer.append(received)
            try file.readMessage { chunk in
                if !hops.isComplete { hops.scan(chunk) }
                try writer.append(chunk)
            }
            if hops.count >= settings.hopCountLimit {
                writer.abort()
                reject(id, file, ("5.4.6", "too many hops (\(hops.count) Received: headers, hopcount_limit = \(settings.hopCountLimit))"))
                return nil
            }
            try writer.commit()
        } catch {
            logger.error("\(id): cannot write the queue file: \(error); trying again later")
            unlink(temporary)
            return nil
        }
        let messageID = messageIdentifier(file)
        logger.info("\(id): uid=\(uid) from=<\(envelope.sender)>")
        if let messageID { logger.info("\(id): message-id=\(messageID)") }
        return true
    }

    /// Step 4.
    private func moveToIncoming(_ id: QueueID) -> Bool {
        if let elsewhere = QueueName.messageQueues.first(where: {
            $0 != .maildrop && SafeFile.exists(queue.path(of: id, in: $0))
        }) {
            // Never overwrite another message: this can only be a queue ID collision or tampering.
            logger.warning("\(id): queue ID already in use in \(elsewhere.rawValue)/; leaving the maildrop file alone")
            return false
        }
        do {
            try SafeFile.rename(queue.path(of: id, in: .maildrop), to: queue.path(of: id, in: .incoming))
        } catch {
            logger.error("\(id): cannot move to incoming: \(error)")
            return false
        }
        // A temporary file of this ID can only be a leftover (of a pickup killed while rewriting).
        unlink(queue.path(of: .maildrop) + "/." + id.rawValue)
        return true
    }

    /// smtpd's checks; nil when the message may go on, else the reason with its DSN status.
    func check(_ envelope: QueueEnvelope, size: Int64) -> (status: String, text: String)? {
        if settings.messageSizeLimit > 0 && size > Int64(settings.messageSizeLimit) {
            return ("5.3.4", "message size exceeds fixed limit (message_size_limit = \(settings.messageSizeLimit))")
        }
        if !envelope.sender.isEmpty && MailAddress(parsing: envelope.sender) == nil {
            return ("5.1.7", "bad sender address syntax: <\(envelope.sender.replacingControlCharacters)>")
        }
        for recipient in envelope.recipients where MailAddress(parsing: recipient.address) == nil {
            return ("5.1.3", "bad recipient address syntax: <\(recipient.address.replacingControlCharacters)>")
        }
        // sendmail checks -R, -V and -N, but a user can write the maildrop file without sendmail.
        if let invalid = envelope.invalidDSNValue { return ("5.5.4", "bad DSN parameter \(invalid)") }
        return nil
    }

    /// The envelope of the queue file pickup writes: the sender and recipients, the uid of the file's owner
    /// and the attributes pickup knows how to pass on. The content filter is pickup's `content_filter`, never
    /// one the maildrop file names: a local user must not choose where qmgr sends a message.
    func pickedUpEnvelope(_ envelope: QueueEnvelope, uid: uid_t) -> QueueEnvelope {
        var attributes: [QueueEnvelope.Attribute] = [.init("origin", "pickup"), .init("uid", String(uid))]
        for name in ["protocol", "helo_name", "body", "smtputf8", "ret", "envid"] {
            if let value = envelope[attribute: name] { attributes.append(.init(name, value)) }
        }
        let recipients = envelope.recipients.map {
            QueueRecipient(address: $0.address, notify: $0.notify, originalRecipient: $0.originalRecipient)
        }
        return QueueEnvelope(
            arrivalTime: envelope.arrivalTime,
            sender: envelope.sender,
            attributes: attributes,
            recipients: recipients,
            contentFilter: settings.contentFilter
        )
    }

    /// Postfix's pickup header: `Received: by HOST (Aviary, from userid UID)` and `id ID; DATE` folded below;
    /// for sendmail -bs `from HELO` and `with ESMTP` as well.
    func receivedHeader(_ id: QueueID, uid: uid_t, envelope: QueueEnvelope) -> [UInt8] {
        var text = "Received: "
        if let helo = envelope[attribute: "helo_name"], !helo.isEmpty { text += "from \(Self.printable(helo))\r\n\t" }
        text += "by \(settings.hostname) (Aviary, from userid \(uid))\r\n\t"
        if let name = envelope[attribute: "protocol"], name == "SMTP" || name == "ESMTP" { text += "with \(name) " }
        text += "id \(id.rawValue); \(MessageDate.rfc5322())\r\n"
        return Array(text.utf8)
    }

    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.prefix(255).map { $0.value > 32 && $0.value < 127 ? Character($0) : "?" })
    }

    private func messageIdentifier(_ file: QueueFile) -> String? {
        var head: [UInt8] = []
        try? file.readMessage(chunkSize: 65536) { chunk in if head.isEmpty { head = chunk } }
        return MIMEHeaderSection(message: head).value("message-id", in: head)
    }

    /// A message that fails the checks: a DSN to its sender, or corrupt/ when there is nobody to tell.
    private func reject(_ id: QueueID, _ file: QueueFile, _ problem: (status: String, text: String)) {
        let envelope = file.envelope
        logger.info("\(id): reject: \(problem.text); from=<\(envelope.sender)>")
        guard !envelope.sender.isEmpty, MailAddress(parsing: envelope.sender) != nil else {
            quarantine(id, "rejected (\(problem.text)) and the sender cannot be told")
            return
        }
        do {
            var first: [UInt8] = []
            try file.readMessage(chunkSize: 65536) { chunk in if first.isEmpty { first = chunk } }
            let report = DeliveryStatusNotification(
                hostname: settings.hostname,
                queueID: id.rawValue,
                recipient: envelope.sender,
                arrivalDate: MessageDate.rfc5322(Int(envelope.arrivalTime)),
                reports: envelope.recipients.map {
                    DeliveryStatusNotification.RecipientReport(
                        finalRecipient: $0.address,
                        originalRecipient: $0.dsnOriginalRecipient?.stored,
                        action: .failed,
                        status: problem.status,
                        diagnostic: problem.text
                    )
                },
                envelopeID: envelope.dsnEnvelopeID?.text,
                returnHeadersOnly: true
            )
            let writer = try QueueWriter(
                directory: queue,
                envelope: QueueEnvelope(
                    arrivalTime: Double(time(nil)),
                    sender: "",
                    attributes: [.init("origin", "bounce")],
                    recipients: [QueueRecipient(address: envelope.sender)]
                )
            )
            try writer.append(report.compose(original: Array(MIMEHeaderSection.bytes(of: first))))
            let bounceID = try writer.commit()
            try queue.remove(id, from: .maildrop)
            logger.info("\(id): sender non-delivery notification: \(bounceID)")
        } catch {
            logger.error("\(id): cannot return the rejected message to its sender: \(error)")
            quarantine(id, "rejected (\(problem.text))")
        }
    }

    private func quarantine(_ id: QueueID, _ reason: String) {
        logger.warning("\(id): \(reason); moved to corrupt/")
        do {
            try queue.quarantine(name: id.rawValue, from: .maildrop)
        } catch {
            logger.error("\(id): cannot move to corrupt/: \(error)")
        }
    }

    /// Removes temporary files of sendmail runs that were killed (SIGKILL leaves no chance to clean up).
    private func removeStaleTemporaryFiles() {
        let directory = queue.path(of: .maildrop)
        let now = time(nil)
        for name in (try? SafeFile.listDirectory(directory)) ?? [] where name.hasPrefix(".") {
            var info = stat()
            let path = directory + "/" + name
            guard lstat(path, &info) == 0, now - info.st_mtim.tv_sec > Self.staleTemporaryAge else { continue }
            if unlink(path) == 0 {
                logger.warning("removed \(path): a submission that never finished (older than a day)")
            }
        }
    }
}
