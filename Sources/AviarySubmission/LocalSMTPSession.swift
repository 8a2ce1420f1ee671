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
    var heloName: String?
    var isExtended = false
    var transaction: Transaction?
    var errorCount = 0
    static let hardErrorLimit = 20

    struct Transaction {
        var sender: String
        var parameters: SMTPMailParameters
        var recipients: [QueueRecipient] = []
    }

    public init(settings: SubmissionSettings, privilege: SetgidPrivilege, options: SendmailOptions) {
        self.settings = settings
        self.privilege = privilege
        self.options = options
        input.maximumLineLength = settings.lineLengthLimit
    }

    /// Runs the dialogue until QUIT or the end of stdin.
    public mutating func run() throws(SubmissionError) {
        guard let user = SubmittingUser.current() else {
            throw SubmissionError(.noUser, "no login name found for user ID \(getuid())")
        }
        try reply(.greeting(settings.banner))
        while let line = try input.next() {
            var response: SMTPReply
            if line.ending == .unfinished {
                while let rest = try input.next(), rest.ending == .unfinished {}
                response = .lineTooLong
            } else {
                switch SMTPCommandParser.parse(qualifyingPath(Array(line.bytes.readableBytesView))) {
                case .failure(let error):
                    response = error.reply
                case .success(.quit):
                    try reply(.closing)
                    return
                case .success(let command):
                    response = try execute(command, user: user)
                }
            }
            if !response.isPositive {
                errorCount += 1
                if errorCount >= Self.hardErrorLimit {
                    try reply(.tooManyErrors(hostname: settings.hostname))
                    return
                }
            }
            try reply(response)
        }
    }

    private mutating func execute(_ command: SMTPCommand, user: SubmittingUser) throws(SubmissionError) -> SMTPReply {
        switch command {
        case .helo(let name), .ehlo(let name):
            heloName = name
            transaction = nil
            if case .ehlo = command {
                isExtended = true
                var keywords = ["PIPELINING"]
                if settings.messageSizeLimit > 0 { keywords.append("SIZE \(settings.messageSizeLimit)") }
                keywords += ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"]
                return .ehlo(hostname: settings.hostname, keywords: keywords)
            }
            isExtended = false
            return .helo(hostname: settings.hostname)
        case .mail(let path, let parameters):
            guard transaction == nil else { return .nestedMail }
            if let path, !path.isASCII, !parameters.isSMTPUTF8 { return .smtputf8Required }
            if let size = parameters.size, settings.messageSizeLimit > 0, size > settings.messageSizeLimit {
                return .messageTooBig
            }
            var sender = path?.description ?? ""
            if path?.domain.isEmpty == true { sender = settings.qualified(sender) }
            transaction = Transaction(sender: sender, parameters: parameters)
            return .senderOk
        case .rcpt(let path, let parameters):
            guard var current = transaction else { return .needMail }
            guard current.recipients.count < settings.recipientLimit else { return .tooManyRecipients }
            if !path.isASCII, !current.parameters.isSMTPUTF8 { return .smtputf8Required }
            let address = path.domain.isEmpty ? settings.qualified(path.description) : path.description
            current.recipients.append(
                QueueRecipient(
                    address: address,
                    notify: parameters.notify?.description,
                    originalRecipient: parameters.originalRecipient?.stored
                )
            )
            transaction = current
            return .recipientOk
        case .data:
            guard let current = transaction else { return .needMail }
            guard !current.recipients.isEmpty else { return .needRecipients }
            transaction = nil
            return try receive(current, user: user)
        case .rset:
            transaction = nil
            return .reset
        case .noop:
            return .noop
        case .quit:
            return .closing
        case .vrfy(let text, _):
            return .vrfy(text)
        case .help:
            return .help()
        case .expn, .bdat, .startTLS:
            return .commandNotImplemented
        case .auth:
            return .authNotEnabled
        case .unknown:
            return .unknownCommand
        }
    }

    /// DATA: creates the maildrop file first, then reads the message into it, then commits.
    private mutating func receive(_ transaction: Transaction, user: SubmittingUser) throws(SubmissionError) -> SMTPReply
    {
        let file: MaildropFile
        do {
            file = try MaildropFile(queue: settings.queue, privilege: privilege)
        } catch {
            // Read nothing more: the client gets a temporary failure for the DATA command.
            return .localError
        }
        try reply(.startData)
        var reader = SMTPDataReader(sizeLimit: settings.messageSizeLimit > 0 ? settings.messageSizeLimit : nil)
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
            protocolName: isExtended ? "ESMTP" : "SMTP",
            heloName: heloName
        )
        envelope.recipients = transaction.recipients
        if parameters.isSMTPUTF8 { envelope.attributes.append(.init("smtputf8", "yes")) }
        let editor = HeaderEditor(
            fromAddress: transaction.sender.isEmpty ? settings.qualified(user.name) : transaction.sender,
            fullName: user.fullName,
            hostname: settings.hostname,
            queueID: file.id.rawValue,
            date: MessageDate.rfc5322()
        )
        let composer = MessageComposer(
            options: MessageComposer.Options(),
            completeHeaders: { fields in
                file.writer.begin(envelope)
                return editor.headerSection(fields)
            },
            write: { bytes in try file.append(bytes) }
        )
        var failure: SubmissionError?
        var buffer = ByteBuffer()
        while true {
            guard var line = try input.next(maximumLength: 65536) else {
                file.abort()
                throw SubmissionError(.dataError, "unexpected end of input in the message (no final \".\")")
            }
            if line.ending == .bareLF { line.ending = .crlf }
            let progress = reader.consume(line, into: &buffer)
            if failure == nil && buffer.readableBytes > 0 {
                do {
                    try composer.consume(buffer.readableBytesView)
                } catch let error as SubmissionError {
                    failure = error
                } catch {
                    failure = SubmissionError(.software, "\(error)")
                }
            }
            buffer.clear()
            if progress == .endOfMessage { break }
        }
        if reader.exceededSizeLimit {
            file.abort()
            return .messageTooBig
        }
        if failure == nil {
            do {
                try composer.finish()
                try file.commit(ignoreSignalsAfter: false)
            } catch let error as SubmissionError {
                failure = error
            } catch {
                failure = SubmissionError(.software, "\(error)")
            }
        }
        if let failure {
            file.abort()
            printError("sendmail: warning: \(failure.message)")
            return .localError
        }
        privilege.usingQuietly {
            _ = PublicService.trigger(settings.publicSocket(PublicService.pickup), UInt8(ascii: "W"))
        }
        return .queued(as: file.id.rawValue)
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
