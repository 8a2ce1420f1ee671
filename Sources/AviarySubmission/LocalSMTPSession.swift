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
/// speak SMTP than use the command line (Postfix runs smtpd for this). Commands are parsed by AviarySMTP's
/// `SMTPCommandParser`, replies come from its catalogue, DATA is read by `SMTPDataReader`; every accepted
/// message becomes a maildrop file, exactly like a command-line submission, and pickup is woken.
///
/// Differences from the network smtpd: the client is the local user (no relay control, no recipient lookup:
/// undeliverable mail bounces later), no STARTTLS, AUTH or BDAT, and a line ending in a bare LF counts as
/// CR LF (normalized): a local user can submit any bytes anyway, so there is nothing to smuggle past.
public struct LocalSMTPSession {
    let settings: SubmissionSettings
    let privilege: SetgidPrivilege
    let options: SendmailOptions
    var input = LineReader(fd: STDIN_FILENO)
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
        input.maximumLineLength = settings.lineLengthLimit
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
        while !engine.isClosed {
            // A message's lines may be long (they are stored in pieces); commands get the line limit.
            guard var line = try input.next(maximumLength: engine.expectsCommand ? nil : 65536) else {
                try perform(engine.endOfInput(), user: user)
                return
            }
            if engine.expectsCommand { line.bytes = ByteBuffer(bytes: qualifyingPath(Array(line.bytes.readableBytesView))) }
            try perform(engine.receive(.line(line)), user: user)
        }
    }

    private mutating func perform(_ actions: [SMTPServerEngine.Action], user: SubmittingUser) throws(SubmissionError) {
        for action in actions {
            switch action {
            case .reply(let response, _):
                try reply(response)
            case .ask(let question):
                let decision = decide(question, user: user)
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
    private mutating func decide(_ question: SMTPServerEngine.Question, user: SubmittingUser) -> SMTPServerEngine.Decision {
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

/// Reads lines from a descriptor as ``SMTPLine``s: CR LF or a bare LF ends a line; a line longer than the
/// limit comes in `.unfinished` pieces. Blocking; for sendmail -bs on stdin.
struct LineReader {
    let fd: Int32
    var maximumLineLength = 2048
    private var buffer: [UInt8] = []
    private var start = 0
    private var isAtEnd = false

    init(fd: Int32) { self.fd = fd }

    /// The next line, or nil at the end of input (a last line without LF is dropped, as the client is gone).
    mutating func next(maximumLength: Int? = nil) throws(SubmissionError) -> SMTPLine? {
        let limit = maximumLength ?? maximumLineLength
        while true {
            if let newline = buffer[start...].firstIndex(of: 10), newline - start <= limit + 1 {
                var end = newline
                var ending = SMTPLine.Ending.bareLF
                if end > start && buffer[end - 1] == 13 {
                    end -= 1
                    ending = .crlf
                }
                let line = SMTPLine(bytes: ByteBuffer(bytes: buffer[start..<end]), ending: ending)
                start = newline + 1
                compact()
                return line
            }
            if buffer.count - start > limit {
                var end = start + limit
                if buffer[end - 1] == 13 { end -= 1 }  // keep a CR that may begin CR LF with the next piece
                let piece = SMTPLine(bytes: ByteBuffer(bytes: buffer[start..<end]), ending: .unfinished)
                start = end
                compact()
                return piece
            }
            if isAtEnd { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SubmissionError(.osError, "error reading standard input: \(SystemError.current("read").reason)")
            }
            if count == 0 {
                isAtEnd = true
            } else {
                buffer += chunk[..<count]
            }
        }
    }

    private mutating func compact() {
        if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
