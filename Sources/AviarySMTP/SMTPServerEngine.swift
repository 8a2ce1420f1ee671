import AviaryMessage
import NIOCore

/// The server side of an SMTP conversation (RFC 5321) as a state machine with no socket: frames in, actions out.
/// smtpd drives it from a NIO channel handler, `sendmail -bs` from stdin and stdout, tests from arrays.
///
/// It owns the order of commands, the transaction (sender, recipients), the DATA and BDAT phases (bare line
/// endings, the size limit; `SMTPFrameDecoder` removes dot-stuffing and finds DATA's real end), AUTH's challenge loop, STARTTLS's fresh start,
/// pipelining rules, error limits and the per-verb counts of the disconnect log line. What needs the world
/// (a recipient look-up, a queue file, libsasl2, the TLS handshake) it asks of its driver as an ``Action/ask(_:)``
/// and waits: until the driver calls ``decide(_:)`` the engine takes no frame, so the driver queues what arrives
/// meanwhile (which is also what keeps a pipelining client's commands in order).
///
/// Nothing here reads a clock: the only times involved, the pause before an error reply past the soft error
/// limit, are durations in the actions; idle timeouts belong to the transport.
public struct SMTPServerEngine: Sendable {
    /// What one kind of server offers; the same engine serves smtpd's ports and `sendmail -bs`.
    public struct Options: Sendable {
        public var hostname: String
        /// The greeting's text after `220 `.
        public var banner: String
        /// `message_size_limit` in octets; 0 for none.
        public var messageSizeLimit = 0
        /// `smtpd_recipient_limit`.
        public var recipientLimit = 1000
        /// `smtpd_helo_required`.
        public var isHeloRequired = false
        /// VRFY is answered (through ``Question/verify(_:)``) or refused with 502.
        public var allowsVRFY = true
        /// BDAT (RFC 3030, CHUNKING in EHLO).
        public var allowsChunking = false
        /// Whether STARTTLS exists here, and whether it can be used now.
        public var startTLS = StartTLSSupport.notImplemented
        /// `smtpd_tls_security_level = encrypt`: everything but the greeting commands waits for TLS.
        public var requiresTLS = false
        /// A local submission (`sendmail -bs`): a bare LF ends a line like CR LF, and a bare CR is kept.
        /// A network server refuses both (SMTP smuggling, CVE-2023-51764).
        public var acceptsBareLineEndings = false
        /// Addresses without a domain get `@` and this (sendmail's `myorigin`); nil leaves them as they are.
        public var qualifyingDomain: String?
        /// `smtpd_soft_error_limit`, `smtpd_hard_error_limit`, `smtpd_error_sleep_time`.
        public var softErrorLimit = Int.max
        public var hardErrorLimit = 20
        public var errorSleepSeconds = 0
        /// `smtpd_forbid_unauth_pipelining`: a client that talks ahead where RFC 2920 does not allow it is dropped.
        public var forbidsUnauthPipelining = false

        public init(hostname: String, banner: String) {
            self.hostname = hostname
            self.banner = banner
        }
    }

    public enum StartTLSSupport: Sendable, Equatable {
        /// `502`: this server never speaks TLS (sendmail -bs).
        case notImplemented
        /// `454 4.7.0 TLS not available`: configured off, or no usable certificate.
        case unavailable
        /// STARTTLS is offered.
        case available
    }

    /// What the engine asks of its driver; it waits for ``decide(_:)``.
    public enum Question: Sendable, Equatable {
        /// MAIL passed the engine's checks (sequence, SMTPUTF8, declared size): may the transaction start?
        /// ``Decision/proceed`` starts it; ``Decision/answer(_:)`` refuses with that reply.
        case sender(String, SMTPMailParameters)
        /// May this recipient be added? Proceed adds it (250 2.1.5), an answer refuses it.
        case recipient(String, SMTPRecipientParameters)
        /// DATA with recipients: may the message come? Proceed sends 354 and ``Action/beginMessage``.
        case data
        /// The message (``transaction``) is complete and clean: make it durable and answer with the final reply
        /// (250 with the queue ID only once it is on disk).
        case commit
        /// VRFY of this address (angle brackets removed): the reply.
        case verify(String)
        /// AUTH with a mechanism the driver offered (``authMechanisms``) and the initial response as sent
        /// (base64, or `=` for an empty one): a ``Decision/challenge(_:)``, ``Decision/authenticated(_:)``, or
        /// an answer (a failure).
        case authenticate(mechanism: String, initialResponse: String?)
        /// The client's answer (base64) to the last challenge; decided as ``authenticate(mechanism:initialResponse:)``.
        /// (A `*`, the client cancelling, is the engine's: ``Action/cancelAuthentication``.)
        case authResponse(String)
    }

    public enum Decision: Sendable, Equatable {
        case proceed
        /// The reply to the command asked about (for ``Question/commit`` and ``Question/verify(_:)`` the only
        /// kind of decision).
        case answer(SMTPReply)
        /// AUTH goes on: `334` with this base64 text.
        case challenge(String)
        /// AUTH succeeded for this login name.
        case authenticated(String)
    }

    public enum Action: Sendable, Equatable {
        /// Send this reply (after `delay` seconds: past the soft error limit, errors come slowly).
        case reply(SMTPReply, delay: Int)
        /// Ask the driver; the engine takes no frame until ``decide(_:)``.
        case ask(Question)
        /// Send `220 Ready to start TLS` and start the handshake; frames until ``SMTPInboundFrame/tlsStarted``
        /// were sent in plaintext and are discarded by the engine.
        case startTLS
        /// The message of ``transaction`` starts: open its queue file or buffer.
        case beginMessage
        /// Message octets, already de-stuffed (DATA) or as sent (BDAT).
        case messageData(ByteBuffer)
        /// Throw the message away (refused, reset, or the client left in the middle).
        case abandonMessage(MessageRefusal)
        /// The client cancelled AUTH (`*`): end the SASL exchange.
        case cancelAuthentication
        /// Something the log should say.
        case note(Note)
        /// Close the connection (after the replies before it).
        case close
    }

    public enum MessageRefusal: Sendable, Equatable {
        case bareLineFeed, bareCarriageReturn, tooBig, reset, connectionLost
    }

    public enum Note: Sendable, Equatable {
        /// The client sent commands ahead where RFC 2920 does not allow it.
        case illegalPipelining(verb: String)
        case tooManyErrors(verb: String)
        /// Lines that came in plaintext behind STARTTLS, discarded.
        case discardedPlaintext(lines: Int)
        /// Refused by the engine itself at MAIL (a declared size over the limit), logged as Postfix's NOQUEUE line.
        case rejected(verb: String, SMTPReply, sender: String)
        /// The client left in the middle of a message or of AUTH.
        case lostConnection(inAuth: Bool)
    }

    /// A mail transaction, from MAIL to the end of its message.
    public struct Transaction: Sendable, Equatable {
        public var sender: String
        public var parameters: SMTPMailParameters
        public var recipients: [Recipient] = []
        /// BDAT chunks have started.
        public var isChunking = false
    }

    public struct Recipient: Sendable, Equatable {
        public var address: String
        public var parameters: SMTPRecipientParameters
    }

    public let options: Options
    /// AUTH's mechanisms to announce now; nil when AUTH is not offered. The driver sets it (and again once TLS is
    /// on, when it may differ).
    public var authMechanisms: [String]?
    public private(set) var heloName: String?
    public private(set) var isExtended = false
    public private(set) var isTLS = false
    /// The SASL login once AUTH succeeded.
    public private(set) var saslUsername: String?
    /// The transaction; during ``Question/commit`` still the one being committed.
    public private(set) var transaction: Transaction?
    /// The client talked ahead where RFC 2920 forbids it at least once (reject_unauth_pipelining).
    public private(set) var hasIllegalPipelining = false
    /// Per verb (lower-case): attempts and successes, for Postfix's `disconnect from ... ehlo=1 mail=1 ...` line.
    public private(set) var statistics: [(verb: String, attempts: Int, successes: Int)] = []
    /// True from ``Action/close`` on.
    public private(set) var isClosed = false

    private var phase = Phase.commands
    private var errorCount = 0
    /// The verb of the command being answered (lower-case), for the statistics and the log.
    public private(set) var commandVerb = "unknown"
    private var pending: Question?
    /// The AUTH mechanism being tried, for `sasl_method=`.
    public private(set) var authMechanism: String?

    private enum Phase: Sendable {
        case commands
        /// The rest of an over-long command line is skipped before the error.
        case skippingLongLine
        /// The message after 354: octets so far, and whether they passed the size limit.
        case data(octets: Int, isOversized: Bool)
        case chunk(BDATChunk)
        case authResponse([UInt8])
        /// STARTTLS answered: frames until `.tlsStarted` came in plaintext.
        case awaitingTLS(discarded: Int)
    }

    /// A BDAT chunk on its way in (the decoder hands over exactly `size` octets); `refusal` is the answer once
    /// they have been read (RFC 3030: read them all).
    private struct BDATChunk: Sendable {
        var size: Int
        var isLast: Bool
        var refusal: SMTPReply?
    }

    /// Octets and line-ending state of a BDAT message, carried across its chunks.
    private struct ChunkedMessage: Sendable {
        var octets = 0
        var previousWasCR = false
        var sawBareLineFeed = false
        var sawBareCarriageReturn = false
        var isOversized = false
    }

    private var chunked = ChunkedMessage()

    public init(options: Options) {
        self.options = options
    }

    /// Whether the engine waits for ``decide(_:)``; frames must wait too.
    public var isWaiting: Bool { pending != nil }

    /// Whether the next line is read as a command (not message data, an AUTH response or skipped text):
    /// sendmail qualifies addresses in command lines.
    public var expectsCommand: Bool {
        if case .commands = phase { return pending == nil }
        return false
    }

    /// `SMTP`, `ESMTP`, with `S` for TLS and `A` for AUTH (RFC 3848): ESMTPS, ESMTPA, ESMTPSA.
    public var protocolName: String {
        guard isExtended else { return "SMTP" }
        return "ESMTP" + (isTLS ? "S" : "") + (saslUsername != nil ? "A" : "")
    }

    /// Wrapper mode (port 465): TLS from the first byte.
    public mutating func tlsEstablished() {
        isTLS = true
    }

    /// The greeting.
    public func start() -> [Action] {
        [.reply(.greeting(options.banner), delay: 0)]
    }

    // MARK: - Frames

    /// Takes one frame from the decoder. Must not be called while ``isWaiting``.
    public mutating func receive(_ frame: SMTPInboundFrame) -> [Action] {
        precondition(pending == nil, "a frame while the engine waits for a decision")
        guard !isClosed else { return [] }
        switch (phase, frame) {
        case (.awaitingTLS(let discarded), .tlsStarted):
            return tlsStarted(discarded: discarded)
        case (.awaitingTLS(let discarded), _):
            phase = .awaitingTLS(discarded: discarded + 1)
            return []
        case (_, .tlsStarted):
            return []
        case (.chunk(let chunk), .chunk(let piece, let isEnd)):
            return chunkPiece(piece, isEnd: isEnd, chunk)
        case (_, .chunk), (.chunk, .line):
            return []  // lines inside a chunk, or octets of one it is not reading: SMTPFrameDecoder sends neither
        case (.data(let octets, let isOversized), .message(let bytes, let end)):
            return messagePiece(bytes, end: end, octets: octets, isOversized: isOversized)
        case (_, .message), (.data, .line):
            return []  // message octets outside DATA, or lines inside it: SMTPFrameDecoder sends neither
        case (.authResponse(let text), .line(let line)):
            return authLine(line, text: text)
        case (.skippingLongLine, .line(let line)):
            guard line.ending != .unfinished else { return [] }
            phase = .commands
            commandVerb = "unknown"
            return finish(.lineTooLong)
        case (.commands, .line(let line)):
            return commandLine(line)
        }
    }

    /// The client closed its side (or the connection broke).
    public mutating func endOfInput() -> [Action] {
        guard !isClosed else { return [] }
        isClosed = true
        switch phase {
        case .data, .chunk:
            return [.abandonMessage(.connectionLost), .note(.lostConnection(inAuth: false)), .close]
        case .authResponse:
            return [.note(.lostConnection(inAuth: true)), .close]
        default:
            var actions: [Action] = []
            if transaction?.isChunking == true { actions.append(.abandonMessage(.connectionLost)) }
            return actions + [.close]
        }
    }

    /// The driver's answer to the last ``Action/ask(_:)``.
    public mutating func decide(_ decision: Decision) -> [Action] {
        guard let question = pending else { preconditionFailure("a decision nobody asked for") }
        pending = nil
        switch (question, decision) {
        case (.sender(let sender, let parameters), .proceed):
            transaction = Transaction(sender: sender, parameters: parameters)
            return finish(.senderOk)
        case (.recipient(let address, let parameters), .proceed):
            transaction?.recipients.append(Recipient(address: address, parameters: parameters))
            return finish(.recipientOk)
        case (.data, .proceed):
            phase = .data(octets: 0, isOversized: false)
            return [.reply(.startData, delay: 0), .beginMessage]
        case (.data, .answer(let reply)):
            transaction = nil
            return finish(reply)
        case (.commit, .answer(let reply)):
            transaction = nil
            return finish(reply)
        case (.authenticate, .challenge(let text)), (.authResponse, .challenge(let text)):
            phase = .authResponse([])
            return [.reply(.authChallenge(text), delay: 0)]
        case (.authenticate, .authenticated(let username)), (.authResponse, .authenticated(let username)):
            saslUsername = username
            return finish(.authSucceeded)
        case (_, .answer(let reply)):
            return finish(reply)
        default:
            preconditionFailure("decision \(decision) does not answer \(question)")
        }
    }

    private mutating func ask(_ question: Question) -> [Action] {
        pending = question
        return [.ask(question)]
    }

    /// The final reply to the current command: counts it, applies the error limits, and closes where it says so.
    private mutating func finish(_ reply: SMTPReply) -> [Action] {
        count(commandVerb, succeeded: reply.isPositive)
        var delay = 0
        if !reply.isPositive {
            errorCount += 1
            if errorCount >= options.hardErrorLimit {
                isClosed = true
                return [.note(.tooManyErrors(verb: commandVerb.uppercased())), .reply(.tooManyErrors(hostname: options.hostname), delay: 0), .close]
            }
            if errorCount >= options.softErrorLimit { delay = options.errorSleepSeconds }
        }
        if reply.closesConnection {
            isClosed = true
            return [.reply(reply, delay: delay), .close]
        }
        return [.reply(reply, delay: delay)]
    }

    private mutating func count(_ verb: String, succeeded: Bool) {
        if let index = statistics.firstIndex(where: { $0.verb == verb }) {
            statistics[index].attempts += 1
            if succeeded { statistics[index].successes += 1 }
        } else {
            statistics.append((commandVerb, 1, succeeded ? 1 : 0))
        }
    }

    // MARK: - Commands

    private mutating func commandLine(_ line: SMTPLine) -> [Action] {
        commandVerb = "unknown"
        if line.ending == .unfinished {
            phase = .skippingLongLine
            return []
        }
        let command: SMTPCommand
        switch SMTPCommandParser.parse(line.bytes) {
        case .failure(let error): return finish(error.reply)
        case .success(let parsed): command = parsed
        }
        commandVerb = command.verb.lowercased()
        var actions: [Action] = []
        if line.isFollowedByInput, isPipeliningViolation(command) {
            hasIllegalPipelining = true
            actions.append(.note(.illegalPipelining(verb: command.verb)))
            if options.forbidsUnauthPipelining {
                count(commandVerb, succeeded: false)
                isClosed = true
                return actions + [.reply(.protocolSynchronization, delay: 0), .close]
            }
        }
        return actions + execute(command)
    }

    /// RFC 2920 lets a client send commands ahead only after EHLO announced PIPELINING, and never behind
    /// EHLO, HELO or DATA, whose replies it must see first. (Input behind STARTTLS is discarded instead.)
    private func isPipeliningViolation(_ command: SMTPCommand) -> Bool {
        switch command {
        case .quit, .startTLS: return false
        case .helo, .ehlo, .data: return true
        default: return !isExtended
        }
    }

    private mutating func execute(_ command: SMTPCommand) -> [Action] {
        if case .quit = command { return finish(.closing) }
        if case .startTLS = command { return startTLS() }
        if transaction?.isChunking == true {
            switch command {
            case .bdat, .rset, .noop, .help: break
            default: return finish(.afterBDAT(command.verb))
            }
        }
        if options.requiresTLS, !isTLS {
            switch command {
            case .helo, .ehlo, .noop, .rset, .help: break
            default: return finish(.encryptionRequired)
            }
        }
        switch command {
        case .helo(let name), .ehlo(let name):
            heloName = name
            transaction = nil
            if case .ehlo = command {
                isExtended = true
                return finish(.ehlo(hostname: options.hostname, keywords: extensions))
            }
            isExtended = false
            return finish(.helo(hostname: options.hostname))
        case .mail(let path, let parameters):
            return mail(from: path, parameters: parameters)
        case .rcpt(let path, let parameters):
            guard let current = transaction else { return finish(.needMail) }
            guard current.recipients.count < options.recipientLimit else { return finish(.tooManyRecipients) }
            if !path.isASCII, !current.parameters.isSMTPUTF8 { return finish(.smtputf8Required) }
            return ask(.recipient(qualified(path), parameters))
        case .data:
            guard let current = transaction else { return finish(.needMail) }
            guard !current.recipients.isEmpty else { return finish(.needRecipients) }
            return ask(.data)
        case .bdat(let size, let isLast):
            return bdat(size: size, isLast: isLast)
        case .rset:
            let wasChunking = transaction?.isChunking == true
            transaction = nil
            return (wasChunking ? [.abandonMessage(.reset)] : []) + finish(.reset)
        case .noop:
            return finish(.noop)
        case .vrfy(let text, _):
            guard options.allowsVRFY else { return finish(.vrfyDisabled) }
            let trimmed = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            let address =
                trimmed.hasPrefix("<") && trimmed.hasSuffix(">") ? String(trimmed.dropFirst().dropLast()) : trimmed
            return ask(.verify(address))
        case .expn:
            return finish(.commandNotImplemented)
        case .help:
            return finish(.help())
        case .auth(let mechanism, let initialResponse):
            guard authMechanisms != nil else { return finish(.authNotEnabled) }
            guard heloName != nil else { return finish(.sendHeloFirst) }
            guard saslUsername == nil else { return finish(.alreadyAuthenticated) }
            guard transaction == nil else { return finish(.transactionInProgress) }
            authMechanism = mechanism
            return ask(.authenticate(mechanism: mechanism, initialResponse: initialResponse))
        case .unknown:
            return finish(.unknownCommand)
        case .quit, .startTLS:
            return []  // handled above
        }
    }

    private var extensions: [String] {
        var keywords = ["PIPELINING", "SIZE \(options.messageSizeLimit)"]
        if options.allowsVRFY { keywords.append("VRFY") }
        if !isTLS, options.startTLS == .available { keywords.append("STARTTLS") }
        if saslUsername == nil, let mechanisms = authMechanisms { keywords.append("AUTH " + mechanisms.joined(separator: " ")) }
        keywords += ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"]
        if options.allowsChunking { keywords.append("CHUNKING") }
        return keywords
    }

    private func qualified(_ path: MailAddress) -> String {
        if let domain = options.qualifyingDomain, path.domain.isEmpty, !path.localPart.isEmpty {
            return path.description + "@" + domain
        }
        return path.description
    }

    private mutating func mail(from path: MailAddress?, parameters: SMTPMailParameters) -> [Action] {
        if options.isHeloRequired && heloName == nil { return finish(.sendHeloFirst) }
        guard transaction == nil else { return finish(.nestedMail) }
        if let path, !path.isASCII, !parameters.isSMTPUTF8 { return finish(.smtputf8Required) }
        let sender = path.map(qualified) ?? ""
        if let size = parameters.size, options.messageSizeLimit > 0, size > options.messageSizeLimit {
            return [.note(.rejected(verb: "MAIL", .messageTooBig, sender: sender))] + finish(.messageTooBig)
        }
        return ask(.sender(sender, parameters))
    }

    // MARK: - STARTTLS and AUTH

    private mutating func startTLS() -> [Action] {
        if isTLS { return finish(.tlsAlreadyActive) }
        switch options.startTLS {
        case .notImplemented: return finish(.commandNotImplemented)
        case .unavailable: return finish(.tlsNotAvailable)
        case .available:
            count(commandVerb, succeeded: true)
            phase = .awaitingTLS(discarded: 0)
            return [.startTLS]
        }
    }

    /// A fresh start (RFC 3207 4.2): HELO/EHLO, the transaction and a plaintext login are forgotten.
    private mutating func tlsStarted(discarded: Int) -> [Action] {
        phase = .commands
        isTLS = true
        heloName = nil
        isExtended = false
        transaction = nil
        saslUsername = nil
        return discarded > 0 ? [.note(.discardedPlaintext(lines: discarded))] : []
    }

    /// A line of the client's answer to a challenge (long ones come in pieces; 12 KiB is kept).
    private mutating func authLine(_ line: SMTPLine, text: [UInt8]) -> [Action] {
        var text = text
        if text.count < 12288 { text += line.bytes.readableBytesView.prefix(12288 - text.count) }
        guard line.ending != .unfinished else {
            phase = .authResponse(text)
            return []
        }
        phase = .commands
        let response = String(decoding: text, as: UTF8.self)
        if response == "*" { return [.cancelAuthentication] + finish(.authAborted) }
        return ask(.authResponse(response))
    }

    // MARK: - DATA

    /// A piece of the message from the decoder (dot-stuffing already removed); at its end, the verdict.
    private mutating func messagePiece(_ bytes: ByteBuffer, end: SMTPMessageEnd?, octets: Int, isOversized: Bool)
        -> [Action]
    {
        let octets = octets + bytes.readableBytes
        let isOversized = isOversized || (options.messageSizeLimit > 0 && octets > options.messageSizeLimit)
        // Past the limit nothing more is kept, but the message is read to its end to stay in step with the client.
        let actions: [Action] = isOversized || bytes.readableBytes == 0 ? [] : [.messageData(bytes)]
        guard let end else {
            phase = .data(octets: octets, isOversized: isOversized)
            return actions
        }
        phase = .commands
        if end.sawBareLineEnding, !options.acceptsBareLineEndings {
            transaction = nil
            let refusal: SMTPReply = end.sawBareLineFeed ? .bareLineFeed : .bareCarriageReturn
            return actions + [.abandonMessage(end.sawBareLineFeed ? .bareLineFeed : .bareCarriageReturn)]
                + finish(refusal)
        }
        if isOversized {
            transaction = nil
            return actions + [.abandonMessage(.tooBig)] + finish(.messageTooBig)
        }
        return actions + ask(.commit)
    }

    // MARK: - BDAT

    private mutating func bdat(size: Int, isLast: Bool) -> [Action] {
        // Without CHUNKING there is no chunk framing either (sendmail -bs reads lines): refuse the command alone.
        guard options.allowsChunking else { return finish(.commandNotImplemented) }
        var chunk = BDATChunk(size: size, isLast: isLast)
        if transaction == nil {
            chunk.refusal = .needMail
        } else if transaction?.recipients.isEmpty == true {
            chunk.refusal = .needRecipients
        } else if size == 0 && !isLast {
            chunk.refusal = .nullBDAT
        }
        var actions: [Action] = []
        if chunk.refusal == nil, transaction?.isChunking == false {
            transaction?.isChunking = true
            chunked = ChunkedMessage()
            actions.append(.beginMessage)
        }
        phase = .chunk(chunk)
        return actions
    }

    private mutating func chunkPiece(_ piece: ByteBuffer, isEnd: Bool, _ chunk: BDATChunk) -> [Action] {
        var actions: [Action] = []
        if chunk.refusal == nil {
            scan(piece)
            if options.messageSizeLimit > 0, chunked.octets > options.messageSizeLimit {
                chunked.isOversized = true
            } else if !chunked.isOversized {
                actions.append(.messageData(piece))
            }
        }
        guard isEnd else {
            phase = .chunk(chunk)
            return actions
        }
        phase = .commands
        if let refusal = chunk.refusal {
            if refusal == .nullBDAT {
                if transaction?.isChunking == true { actions.append(.abandonMessage(.reset)) }
                transaction = nil
            }
            return actions + finish(refusal)
        }
        if !chunk.isLast { return actions + finish(.chunkReceived(octets: chunk.size)) }
        if chunked.sawBareLineFeed || chunked.sawBareCarriageReturn || chunked.previousWasCR {
            transaction = nil
            let isLineFeed = chunked.sawBareLineFeed
            return actions + [.abandonMessage(isLineFeed ? .bareLineFeed : .bareCarriageReturn)]
                + finish(isLineFeed ? .bareLineFeed : .bareCarriageReturn)
        }
        if chunked.isOversized {
            transaction = nil
            return actions + [.abandonMessage(.tooBig)] + finish(.messageTooBig)
        }
        return actions + ask(.commit)
    }

    /// Watches BDAT content for bare CR or LF, across chunk boundaries.
    private mutating func scan(_ piece: ByteBuffer) {
        chunked.octets += piece.readableBytes
        guard !options.acceptsBareLineEndings else { return }
        var previousWasCR = chunked.previousWasCR
        var sawBareLineFeed = chunked.sawBareLineFeed
        var sawBareCarriageReturn = chunked.sawBareCarriageReturn
        piece.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                if byte == 10 {
                    if !previousWasCR { sawBareLineFeed = true }
                } else if previousWasCR {
                    sawBareCarriageReturn = true
                }
                previousWasCR = byte == 13
            }
        }
        chunked.previousWasCR = previousWasCR
        chunked.sawBareLineFeed = sawBareLineFeed
        chunked.sawBareCarriageReturn = sawBareCarriageReturn
    }
}
