import AviaryConfig
import AviaryCore
import AviaryInstance
import AviaryMessage
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// The `sendmail` program (also run as `mailq` and `newaliases`): the local submission interface every Unix
/// program expects. Works while master is down: a message waits in `maildrop/` until pickup runs.
public enum Sendmail {
    public static let defaultConfigDirectory = "/etc/aviary"

    /// Runs sendmail with the process's argv; returns the exit status (sysexits).
    public static func main(_ argv: [String]) -> Int32 {
        let privilege = SetgidPrivilege.atStart()
        let programName = argv.first.map { SafeFile.baseName(of: $0) } ?? "sendmail"
        signal(SIGPIPE, SIG_IGN)
        do throws(SubmissionError) {
            let options = try SendmailOptions.parse(Array(argv.dropFirst()), programName: programName)
            let settings = try loadSettings(options, privilege: privilege)
            try privilege.suspend()
            switch options.mode {
            case .deliver:
                TemporaryFileGuard.install()
                let id = try submit(options, settings: settings, privilege: privilege)
                if options.verbosity > 0 { printError("\(programName): queued as \(id)") }
            case .smtp:
                TemporaryFileGuard.install()
                var session = LocalSMTPSession(settings: settings, privilege: privilege, options: options)
                try session.run()
            case .listQueue:
                try QueueReport.print(settings: settings, json: options.json, privilege: privilege)
            case .newAliases:
                try privilege.dropPermanently()
                try AliasCheck.run(settings: settings, programName: programName)
            case .flush:
                try flush(settings: settings, privilege: privilege)
            }
            try privilege.dropPermanently()
            return SendmailExitStatus.ok.rawValue
        } catch {
            if error.status == .ok {
                writeAll(STDOUT_FILENO, Array((error.message + "\n").utf8))  // --help
            } else if error.status == .usage && error.message.hasPrefix("usage:") {
                printError(error.message)
            } else {
                printError(
                    error.message.split(separator: "\n").map { "\(programName): fatal: \($0)" }
                        .joined(separator: "\n")
                )
            }
            return error.status.rawValue
        }
    }

    /// Finds the configuration directory (-C, MAIL_CONFIG, /etc/aviary), gives up the setgid group first when
    /// that directory is not trusted, and reads main.cf.
    static func loadSettings(
        _ options: SendmailOptions,
        privilege: SetgidPrivilege
    ) throws(SubmissionError)
        -> SubmissionSettings
    {
        var directory =
            options.configDirectory ?? getenv("MAIL_CONFIG").map { String(cString: $0) }
            ?? defaultConfigDirectory
        if !directory.isEmpty && !SafeFile.isDirectory(directory) && SafeFile.baseName(of: directory) == "main.cf" {
            directory = SafeFile.directoryName(of: directory)  // Postfix's -C also takes the main.cf file
        }
        if directory.isEmpty { directory = defaultConfigDirectory }
        if privilege.isSetgid
            && !SetgidPrivilege.isTrusted(configDirectory: directory, defaultDirectory: defaultConfigDirectory)
        {
            try privilege.dropPermanently()
        }
        do {
            return SubmissionSettings(config: try MainConfig.load(directory: directory))
        } catch {
            throw SubmissionError(.configuration, "\(error)")
        }
    }

    /// Reads the message on stdin and leaves it in maildrop/ for pickup. Returns its queue ID.
    static func submit(
        _ options: SendmailOptions,
        settings: SubmissionSettings,
        privilege: SetgidPrivilege
    )
        throws(SubmissionError) -> QueueID
    {
        guard let user = SubmittingUser.current() else {
            throw SubmissionError(.noUser, "no login name found for user ID \(getuid())")
        }
        let sender = try envelopeSender(options.sender, user: user, settings: settings)
        let notify = options.notify?.description
        var recipients: [String] = []
        for argument in options.recipients {
            for address in AddressList.addresses(in: argument) {
                guard let recipient = settings.recipient(address) else {
                    throw SubmissionError(.noUser, "bad recipient address syntax: \(address)")
                }
                recipients.append(recipient)
            }
        }
        if recipients.isEmpty && !options.extractsRecipients {
            throw SubmissionError(
                .usage,
                "Recipient addresses must be specified on the command line or via the -t option"
            )
        }
        let file = try MaildropFile(queue: settings.queue, privilege: privilege)
        do {
            let editor = HeaderEditor(
                fromAddress: sender.isEmpty ? settings.qualified(user.name) : sender,
                fullName: options.fullName ?? user.fullName,
                hostname: settings.hostname,
                queueID: file.id.rawValue,
                date: MessageDate.rfc5322()
            )
            var composerOptions = MessageComposer.Options()
            composerOptions.dotEndsMessage = !options.ignoresDots
            composerOptions.skipsFromLine = true
            composerOptions.sizeLimit = settings.messageSizeLimit
            let composer = MessageComposer(
                options: composerOptions,
                completeHeaders: { fields in
                    var all = recipients
                    if options.extractsRecipients {
                        for address in HeaderEditor.recipients(in: fields) {
                            guard let recipient = settings.recipient(address) else {
                                throw SubmissionError(
                                    .noUser,
                                    "bad recipient address syntax in the message header: \(address)"
                                )
                            }
                            all.append(recipient)
                        }
                    }
                    all = unique(all)
                    if all.isEmpty {
                        throw SubmissionError(.dataError, "No recipient addresses found in message header")
                    }
                    file.writer.begin(
                        envelope(
                            sender: sender,
                            recipients: all,
                            notify: notify,
                            user: user,
                            options: options,
                            protocolName: "local",
                            heloName: nil
                        )
                    )
                    return editor.headerSection(fields)
                },
                write: { bytes in try file.append(bytes) }
            )
            try readStandardInput(into: composer)
            try composer.finish()
            try file.commit(ignoreSignalsAfter: true)
        } catch let error as SubmissionError {
            file.abort()
            throw error
        } catch {
            file.abort()
            throw SubmissionError(.software, "\(error)")
        }
        privilege.usingQuietly {
            _ = PublicService.trigger(settings.publicSocket(PublicService.pickup), UInt8(ascii: "W"))
        }
        return file.id
    }

    /// Feeds stdin to the composer until EOF or a "." line.
    static func readStandardInput(into composer: MessageComposer) throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SubmissionError(
                    .osError,
                    "error reading the message from standard input: \(SystemError.current("read").reason)"
                )
            }
            if count == 0 { return }
            if try composer.consume(buffer[..<count]) { return }
        }
    }

    /// The envelope sender: -f (qualified, checked; "" and "<>" are the null sender), else user@$myorigin.
    static func envelopeSender(
        _ given: String?,
        user: SubmittingUser,
        settings: SubmissionSettings
    )
        throws(SubmissionError) -> String
    {
        guard let given else { return settings.qualified(user.name) }
        var text = given.trimmingCharacters(in: " \t")
        if text.hasPrefix("<") && text.hasSuffix(">") && text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        if text.isEmpty { return "" }
        guard let sender = settings.recipient(text) else {
            throw SubmissionError(.usage, "bad sender address syntax: \(given)")
        }
        return sender
    }

    static func envelope(
        sender: String,
        recipients: [String],
        notify: String?,
        user: SubmittingUser,
        options: SendmailOptions,
        protocolName: String,
        heloName: String?
    ) -> QueueEnvelope {
        var attributes: [QueueEnvelope.Attribute] = [
            .init("origin", "sendmail"), .init("uid", String(user.uid)), .init("protocol", protocolName),
        ]
        if let heloName { attributes.append(.init("helo_name", heloName)) }
        if let body = options.bodyType { attributes.append(.init("body", body)) }
        if let ret = options.dsnReturn { attributes.append(.init("ret", ret.rawValue)) }
        if let envid = options.envelopeID { attributes.append(.init("envid", envid.text)) }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return QueueEnvelope(
            arrivalTime: Double(now.tv_sec) + Double(now.tv_nsec) / 1e9,
            sender: sender,
            attributes: attributes,
            recipients: recipients.map { QueueRecipient(address: $0, notify: notify) }
        )
    }

    /// -q: asks qmgr to flush the deferred queue and pickup to look at maildrop/.
    static func flush(settings: SubmissionSettings, privilege: SetgidPrivilege) throws(SubmissionError) {
        let flushed = privilege.usingQuietly {
            _ = PublicService.trigger(settings.publicSocket(PublicService.pickup), UInt8(ascii: "W"))
            return PublicService.trigger(settings.publicSocket(PublicService.queueManager), UInt8(ascii: "F"))
        }
        guard flushed else { throw SubmissionError(.unavailable, "Cannot flush mail queue - mail system is down") }
    }

    static func unique(_ addresses: [String]) -> [String] {
        var seen: Set<String> = []
        return addresses.filter { seen.insert($0.lowercased()).inserted }
    }
}

/// Writes a line to stderr.
func printError(_ line: String) {
    writeAll(STDERR_FILENO, Array((line + "\n").utf8))
}

/// Writes every byte to a descriptor; false when the write fails.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}
