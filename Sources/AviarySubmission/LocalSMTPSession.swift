import AviaryCore
import AviaryInstance
import AviaryMessage
import AviaryQueue
import AviarySMTP
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// `sendmail -bs`: a small synchronous SMTP dialogue on stdin and stdout for local programs that would rather
/// speak SMTP than use the command line (Postfix runs smtpd for this). smtpd's engine (`SMTPServerEngine`) and
/// framing (`SMTPFrameDecoder`) run it, driven by blocking reads; every accepted message becomes a maildrop
/// file, exactly like a command-line submission, and pickup is woken.
///
/// Differences from the network smtpd: the client is the local user (no relay control, no recipient lookup:
/// undeliverable mail bounces later), no STARTTLS, AUTH or BDAT, and a line ending in a bare LF counts as
/// CR LF (normalized): a local user can submit any bytes anyway, so there is nothing to smuggle past.
public struct LocalSMTPSession {
    let settings: SubmissionSettings
    let privilege: SetgidPrivilege
    let options: SendmailOptions
    var decoder: SMTPFrameDecoder
    var engine: SMTPServerEngine
    /// The message being received, from DATA's decision to its commit.
    var message: Message?

    struct Message {
        let file: MaildropFile
        var composer: MessageComposer?
        /// The first error writing the file; the rest of the message is read and dropped, then 451.
        var failure: SubmissionError?
    }

    public init(settings: SubmissionSettings, privilege: SetgidPrivilege, options: SendmailOptions) {
        self.settings = settings
        self.privilege = privilege
        self.options = options
        decoder = SMTPFrameDecoder(maximumLineLength: settings.lineLengthLimit, normalizesBareLineFeeds: true)
        var engineOptions = SMTPServerEngine.Options(hostname: settings.hostname, banner: settings.banner)
        engineOptions.messageSizeLimit = settings.messageSizeLimit
        engineOptions.recipientLimit = settings.recipientLimit
        engineOptions.acceptsBareLineEndings = true
        engineOptions.qualifyingDomain = settings.origin
        engine = SMTPServerEngine(options: engineOptions)
    }

    /// Runs the dialogue until QUIT or the end of stdin.
    public mutating func run() throws(SubmissionError) {
        guard let user = SubmittingUser.current() else {
            throw SubmissionError(.noUser, "no login name found for user ID \(getuid())")
        }
        try perform(engine.start(), user: user)
        var input = ByteBuffer()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !engine.isClosed {
            if var frame = decoder.nextFrame(from: &input) {
                // sendmail's unqualified addresses are qualified before the parser, which wants a domain.
                if engine.expectsCommand, case .line(var line) = frame {
                    line.bytes = ByteBuffer(bytes: qualifyingPath(Array(line.bytes.readableBytesView)))
                    frame = .line(line)
                }
                try perform(engine.receive(frame), user: user)
                continue
            }
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SubmissionError(.osError, "error reading standard input: \(SystemError.current("read").reason)")
            }
            // At the end of input a last line without LF is dropped, as the client is gone.
            guard count > 0 else { return try perform(engine.endOfInput(), user: user) }
            input.discardReadBytes()
            input.writeBytes(chunk[..<count])
        }
    }

    private mutating func perform(_ actions: [SMTPServerEngine.Action], user: SubmittingUser) throws(SubmissionError) {
        for action in actions {
            switch action {
            case .reply(let response, _):
                decoder.write(data: response)
                try reply(response)
            case .ask(let question):
                let decision = decide(question)
                try perform(engine.decide(decision), user: user)
            case .beginMessage:
                beginMessage(user: user)
            case .messageData(let bytes):
                guard message?.failure == nil, let composer = message?.composer else { continue }
                do {
                    try composer.consume(bytes.readableBytesView)
                } catch {
                    message?.failure = Self.submissionError(error)
                }
            case .abandonMessage:
                message?.file.abort()
                message = nil
            case .note(.lostConnection):
                throw SubmissionError(.dataError, "unexpected end of input in the message (no final \".\")")
            case .note, .startTLS, .cancelAuthentication, .close:
                break
            }
        }
    }

    /// Everything a local user may do is allowed; DATA needs a maildrop file first (without one, the client
    /// hears 451 before sending the message), and the commit is the file's.
    private mutating func decide(_ question: SMTPServerEngine.Question) -> SMTPServerEngine.Decision {
        switch question {
        case .sender, .recipient:
            return .proceed
        case .verify(let address):
            return .answer(.vrfy(address))
        case .authenticate, .authResponse:
            return .answer(.authNotEnabled)
        case .data:
            do {
                message = Message(file: try MaildropFile(queue: settings.queue, privilege: privilege))
                return .proceed
            } catch {
                return .answer(.localError)
            }
        case .commit:
            return .answer(commit())
        }
    }

    private mutating func beginMessage(user: SubmittingUser) {
        guard let file = message?.file, let transaction = engine.transaction else { return }
        let parameters = transaction.parameters
        var envelopeOptions = options
        envelopeOptions.bodyType = parameters.body?.rawValue
        envelopeOptions.dsnReturn = parameters.dsnReturn
        envelopeOptions.envelopeID = parameters.envelopeID
        var envelope = Sendmail.envelope(
            sender: transaction.sender,
            recipients: [],
            notify: nil,
            user: user,
            options: envelopeOptions,
            protocolName: engine.protocolName,
            heloName: engine.heloName
        )
        envelope.recipients = transaction.recipients.map {
            QueueRecipient(
                address: $0.address, notify: $0.parameters.notify?.description,
                originalRecipient: $0.parameters.originalRecipient?.stored)
        }
        if parameters.isSMTPUTF8 { envelope.attributes.append(.init("smtputf8", "yes")) }
        let editor = HeaderEditor(
            fromAddress: transaction.sender.isEmpty ? settings.qualified(user.name) : transaction.sender,
            fullName: user.fullName,
            hostname: settings.hostname,
            queueID: file.id.rawValue,
            date: MessageDate.rfc5322()
        )
        message?.composer = MessageComposer(
            options: MessageComposer.Options(),
            completeHeaders: { fields in
                file.writer.begin(envelope)
                return editor.headerSection(fields)
            },
            write: { bytes in try file.append(bytes) }
        )
    }

    /// Finishes the maildrop file and wakes pickup; the reply says how it went.
    private mutating func commit() -> SMTPReply {
        guard let current = message else { return .localError }
        message = nil
        var failure = current.failure
        if failure == nil {
            do {
                try current.composer?.finish()
                try current.file.commit(ignoreSignalsAfter: false)
            } catch {
                failure = Self.submissionError(error)
            }
        }
        if let failure {
            current.file.abort()
            printError("sendmail: warning: \(failure.message)")
            return .localError
        }
        privilege.usingQuietly {
            _ = PublicService.trigger(settings.publicSocket(PublicService.pickup), UInt8(ascii: "W"))
        }
        return .queued(as: current.file.id.rawValue)
    }

    private static func submissionError(_ error: any Error) -> SubmissionError {
        error as? SubmissionError ?? SubmissionError(.software, "\(error)")
    }

    /// `MAIL FROM:<user>` and `RCPT TO:<user>` get `@$myorigin` before parsing, as unqualified addresses on
    /// sendmail's command line do (the SMTP grammar wants a domain; local programs often give none).
    func qualifyingPath(_ line: [UInt8]) -> [UInt8] {
        let text = String(decoding: line, as: UTF8.self)
        let upper = text.uppercased()
        guard upper.hasPrefix("MAIL FROM:") || upper.hasPrefix("RCPT TO:"),
            let open = text.firstIndex(of: "<"), let close = text[open...].firstIndex(of: ">")
        else { return line }
        let address = text[text.index(after: open)..<close]
        guard !address.isEmpty, !address.contains("@"), !address.contains("\""), address.lowercased() != "postmaster"
        else { return line }
        return Array((text[...open] + address + "@" + settings.origin + text[close...]).utf8)
    }

    private func reply(_ response: SMTPReply) throws(SubmissionError) {
        guard writeAll(STDOUT_FILENO, Array(response.description.utf8)) else {
            throw SubmissionError(.osError, "cannot write the SMTP reply: \(SystemError.current("write").reason)")
        }
    }
}
