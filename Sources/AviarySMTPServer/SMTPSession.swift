#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import AviaryMessage
import AviaryQueue
import AviarySMTP
import AviaryTLS
import AviaryUsers
import Logging
import NIOCore

/// One SMTP conversation (RFC 5321), from the greeting to QUIT: command order, recipients, relay
/// control, and the message itself. Frames come from `SMTPFrameDecoder`; replies go to the encoder.
struct SMTPSession {
    typealias Frames = NIOAsyncChannelInboundStream<SMTPInboundFrame>.AsyncIterator
    typealias Replies = NIOAsyncChannelOutboundWriter<SMTPReply>

    let server: SMTPServer
    let client: ClientIdentity
    let channel: any Channel
    /// The TLS session, once STARTTLS (or wrapper mode) completed its handshake.
    var tls: TLSHandshakeCompleted?
    var settings: SMTPServerSettings { server.settings }
    var logger: Logger
    var heloName: String?
    var isExtended = false
    var transaction: Transaction?
    var errorCount = 0
    /// The SASL login name once AUTH succeeded.
    var saslUsername: String?
    /// The client sent commands ahead where RFC 2920 does not allow it (for reject_unauth_pipelining).
    var hasIllegalPipelining = false
    /// Failed AUTH attempts in this session (each one answered more slowly).
    var authFailures = 0
    /// The AUTH mechanisms EHLO announced (computed when EHLO is answered).
    var announcedMechanisms: [String]?
    /// Per verb: (attempts, successes), for Postfix's `disconnect from ... ehlo=1 mail=1 ...` line.
    var statistics: [(verb: String, attempts: Int, successes: Int)] = []

    /// A mail transaction, from MAIL to the end of the message.
    struct Transaction {
        var id: QueueID
        var sender: String
        var parameters: SMTPMailParameters
        var recipients: [QueueRecipient] = []
        /// Message bytes being received with BDAT, with whether they contained a bare CR or LF.
        var chunks: MessageAssembly?
    }

    init(server: SMTPServer, client: ClientIdentity, channel: any Channel) {
        self.server = server
        self.client = client
        self.channel = channel
        self.logger = server.logger
    }

    mutating func run(inbound: NIOAsyncChannelInboundStream<SMTPInboundFrame>, outbound: Replies) async throws {
        logger.info("connect from \(client.description)")
        server.metrics.count(.connections, "smtp")
        if settings.isWrapperMode {
            // Wrapper mode (port 465): no greeting before the handshake; without a usable certificate, nothing.
            guard server.tlsContext != nil else {
                logger.warning("TLS is unavailable; closing the wrapper-mode connection from \(client.description)")
                return
            }
            let channel = channel
            let handshake = try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.handler(type: TLSHandler.self).handshakeResult
            }.get()
            try await completeHandshake(handshake)
        }
        try await outbound.write(.greeting(settings.banner))
        var frames = inbound.makeAsyncIterator()
        while let frame = try await frames.next() {
            guard case .line(let line) = frame else { continue }  // chunk bytes of a BDAT already answered
            var reply: SMTPReply
            var verb = "unknown"
            if line.ending == .unfinished {
                try await skipRestOfLine(&frames)
                reply = .lineTooLong
            } else {
                switch SMTPCommandParser.parse(line.bytes) {
                case .failure(let error):
                    reply = error.reply
                    logger.trace("bad command: \(error.detail)")
                case .success(let command):
                    verb = command.verb.lowercased()
                    if line.isFollowedByInput, isPipeliningViolation(command) {
                        hasIllegalPipelining = true
                        logger.info("improper command pipelining after \(command.verb) from \(client.description)")
                        if settings.forbidsUnauthPipelining {
                            count(verb, succeeded: false)
                            try await outbound.write(.protocolSynchronization)
                            return
                        }
                    }
                    if case .quit = command {
                        count(verb, succeeded: true)
                        try await outbound.write(.closing)
                        return
                    }
                    if case .startTLS = command, let refusal = startTLSRefusal() {
                        reply = refusal
                    } else if case .startTLS = command {
                        try await startTLS(frames: &frames)
                        count(verb, succeeded: true)
                        continue
                    } else {
                        reply = try await execute(command, frames: &frames, outbound: outbound)
                    }
                }
            }
            count(verb, succeeded: reply.isPositive)
            if !reply.isPositive {
                errorCount += 1
                if errorCount >= settings.hardErrorLimit {
                    try await outbound.write(.tooManyErrors(hostname: settings.hostname))
                    logger.warning("too many errors after \(verb.uppercased()) from \(client.description)")
                    return
                }
                // Past the soft limit every error reply comes slowly: a guessing client gets little done.
                if errorCount >= settings.softErrorLimit, settings.errorSleepSeconds > 0 {
                    try await Task.sleep(nanoseconds: UInt64(settings.errorSleepSeconds) * 1_000_000_000)
                }
            }
            try await outbound.write(reply)
            if reply.closesConnection { return }
        }
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

    // MARK: - TLS

    private func startTLSRefusal() -> SMTPReply? {
        if tls != nil { return .tlsAlreadyActive }
        if server.tlsContext == nil || settings.tlsLevel == .none { return .tlsNotAvailable }
        return nil
    }

    /// STARTTLS (RFC 3207): 220, the handshake, and a fresh start: frames that arrived in plaintext behind
    /// the command are discarded, and HELO/EHLO, the transaction and any other state are forgotten.
    private mutating func startTLS(frames: inout Frames) async throws {
        guard let context = server.tlsContext else { return }
        let handshake = try await SMTPServer.startTLS(on: channel, context: context, lineLimit: settings.lineLengthLimit)
        var discarded = 0
        while let frame = try await frames.next() {
            if case .tlsStarted = frame { break }
            discarded += 1
        }
        if discarded > 0 {
            logger.info("discarding \(discarded) line(s) sent in plaintext behind STARTTLS by \(client.description)")
        }
        try await completeHandshake(handshake)
        heloName = nil
        isExtended = false
        transaction = nil
        // A login made in plaintext is forgotten too: the client logs in again over TLS (RFC 3207 4.2).
        saslUsername = nil
        announcedMechanisms = nil
    }

    private mutating func completeHandshake(_ handshake: EventLoopFuture<TLSHandshakeCompleted>) async throws {
        do {
            let completed = try await handshake.get()
            tls = completed
            logger.info("Anonymous TLS connection established from \(client.description): \(completed.version) with cipher \(completed.cipher) (\(completed.cipherBits)/\(completed.cipherAlgorithmBits) bits)")
        } catch {
            logger.info("TLS handshake failed with \(client.description): \(error)")
            server.metrics.count(.tlsFailures, "smtp")
            throw SessionEnded.tlsFailed
        }
    }

    /// Whether a command must wait for TLS (`smtpd_tls_security_level = encrypt`).
    private func needsTLSFirst(_ command: SMTPCommand) -> Bool {
        guard settings.tlsLevel == .encrypt, tls == nil else { return false }
        switch command {
        case .helo, .ehlo, .startTLS, .noop, .quit, .rset, .help: return false
        default: return true
        }
    }

    private mutating func skipRestOfLine(_ frames: inout Frames) async throws {
        while let frame = try await frames.next() {
            if case .line(let piece) = frame, piece.ending != .unfinished { return }
        }
    }

    private mutating func count(_ verb: String, succeeded: Bool) {
        if let index = statistics.firstIndex(where: { $0.verb == verb }) {
            statistics[index].attempts += 1
            if succeeded { statistics[index].successes += 1 }
        } else {
            statistics.append((verb, 1, succeeded ? 1 : 0))
        }
    }

    func logDisconnect(reason: String?) {
        var text = "disconnect from \(client.description)"
        var total = (0, 0)
        for entry in statistics {
            text += entry.attempts == entry.successes ? " \(entry.verb)=\(entry.attempts)" : " \(entry.verb)=\(entry.successes)/\(entry.attempts)"
            total.0 += entry.attempts
            total.1 += entry.successes
        }
        text += total.0 == total.1 ? " commands=\(total.0)" : " commands=\(total.1)/\(total.0)"
        if let reason { text += " (\(reason))" }
        logger.info("\(text)")
    }

    // MARK: - Commands

    private mutating func execute(_ command: SMTPCommand, frames: inout Frames, outbound: Replies) async throws -> SMTPReply {
        if transaction?.chunks != nil {
            switch command {
            case .bdat, .rset, .noop, .quit, .help: break
            default: return .afterBDAT(command.verb)
            }
        }
        if needsTLSFirst(command) { return .encryptionRequired }
        switch command {
        case .helo(let name), .ehlo(let name):
            heloName = name
            transaction = nil
            if case .ehlo = command {
                isExtended = true
                announcedMechanisms = await offeredMechanisms()
                return .ehlo(hostname: settings.hostname, keywords: extensions)
            }
            isExtended = false
            return .helo(hostname: settings.hostname)
        case .mail(let path, let parameters):
            if let refusal = checkQueueSpace(declaredSize: parameters.size) {
                reject("MAIL", refusal, sender: path?.description ?? "", recipient: nil)
                return refusal
            }
            return mail(from: path, parameters: parameters)
        case .rcpt(let path, let parameters):
            return await recipient(path, parameters: parameters)
        case .data:
            return try await data(frames: &frames, outbound: outbound)
        case .bdat(let size, let isLast):
            return try await chunk(size: size, isLast: isLast, frames: &frames)
        case .rset:
            transaction = nil
            return .reset
        case .noop:
            return .noop
        case .quit:
            return .closing
        case .vrfy(let text, _):
            return await verify(text)
        case .expn:
            return .commandNotImplemented
        case .help:
            return .help()
        case .startTLS:
            return startTLSRefusal() ?? .badSequence
        case .auth(let mechanism, let initialResponse):
            return try await authenticate(
                mechanism: mechanism, initialResponse: initialResponse, frames: &frames, outbound: outbound)
        case .unknown:
            return .unknownCommand
        }
    }

    private var extensions: [String] {
        var keywords = ["PIPELINING", "SIZE \(settings.messageSizeLimit)"]
        if !settings.isVRFYDisabled { keywords.append("VRFY") }
        if tls == nil, startTLSRefusal() == nil { keywords.append("STARTTLS") }
        if saslUsername == nil, let mechanisms = announcedMechanisms { keywords.append("AUTH " + mechanisms.joined(separator: " ")) }
        keywords += ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]
        return keywords
    }

    private mutating func mail(from path: MailAddress?, parameters: SMTPMailParameters) -> SMTPReply {
        if settings.isHeloRequired && heloName == nil { return .sendHeloFirst }
        guard transaction == nil else { return .nestedMail }
        if let path, !path.isASCII, !parameters.isSMTPUTF8 { return .smtputf8Required }
        if let size = parameters.size, settings.messageSizeLimit > 0, size > settings.messageSizeLimit {
            reject("MAIL", .messageTooBig, sender: path?.description ?? "", recipient: nil)
            return .messageTooBig
        }
        let id = QueueID.make()
        transaction = Transaction(id: id, sender: path?.description ?? "", parameters: parameters)
        return .senderOk
    }

    /// Postfix's check of the queue's file system at MAIL: free space below `queue_minfree`, below 1.5 times
    /// `message_size_limit`, or too small for the SIZE= the client declared, gets 452 4.3.1, so the client
    /// keeps the message instead of sending it into a write that would fail.
    /// (statvfs is a cheap system call that reads no disk: it runs here, not on the pool.)
    private func checkQueueSpace(declaredSize: Int?) -> SMTPReply? {
        let root = settings.queue.root
        var info = statvfs()
        guard statvfs(root, &info) == 0 else { return nil }
        let free = Int(info.f_bavail) * Int(info.f_frsize)
        let needed = max(settings.queueMinimumFree, settings.messageSizeLimit + settings.messageSizeLimit / 2)
        if free < needed || free - (declaredSize ?? 0) < settings.queueMinimumFree {
            logger.warning("not enough free space in \(root): \(free) bytes free, \(needed) needed (queue_minfree, 1.5 x message_size_limit)")
            return .insufficientStorage
        }
        return nil
    }

    private mutating func recipient(_ path: MailAddress, parameters: SMTPRecipientParameters) async -> SMTPReply {
        guard var current = transaction else { return .needMail }
        guard current.recipients.count < settings.recipientLimit else { return .tooManyRecipients }
        if !path.isASCII, !current.parameters.isSMTPUTF8 { return .smtputf8Required }
        let address = path.description
        let check = await check(recipient: address)
        if let refusal = check {
            reject("RCPT", refusal, sender: current.sender, recipient: address)
            return refusal
        }
        if current.recipients.isEmpty {
            // As Postfix logs it: when the queue ID is first used, at the first accepted recipient (a
            // transaction whose recipients are all refused is no message; log tools count these lines).
            let login = saslUsername.map { ", sasl_username=\($0)" } ?? ""
            logger.info("\(current.id): client=\(client.description)\(login)")
        }
        current.recipients.append(
            QueueRecipient(
                address: address, notify: parameters.notify?.description,
                originalRecipient: parameters.originalRecipient?.stored))
        transaction = current
        return .recipientOk
    }

    /// nil when the recipient is acceptable, otherwise the refusal: the restriction lists (relay control
    /// among them), then whether a local or virtual user exists (smtpd_reject_unlisted_recipient).
    private func check(recipient address: String) async -> SMTPReply? {
        let policy = server.policy
        let request = policyRequest(recipient: address)
        do {
            return try await server.pool.runIfActive { () -> SMTPReply? in
                if let refusal = policy.checkRecipient(request) { return refusal }
                if case .refuse(let refusal) = policy.unlistedRecipient(address) { return refusal }
                return nil
            }
        } catch {
            return .temporaryLookupFailure
        }
    }

    func policyRequest(recipient: String?) -> PolicyRequest {
        PolicyRequest(
            client: client, heloName: heloName, sender: transaction?.sender ?? "", recipient: recipient,
            saslUsername: saslUsername, hasIllegalPipelining: hasIllegalPipelining)
    }

    private func verify(_ text: String) async -> SMTPReply {
        if settings.isVRFYDisabled { return .vrfyDisabled }
        let trimmed = text.trimmingWhitespace()
        let address = trimmed.hasPrefix("<") && trimmed.hasSuffix(">") ? String(trimmed.dropFirst().dropLast()) : trimmed
        let directory = server.directory
        switch try? await server.pool.runIfActive({ directory.lookup(address) }) {
        case .local?, .virtual?, .notLocal?: return .vrfy(address)
        case .unknown(let table)?:
            return .unknownUser(address, table: table == "virtual mailbox" ? .virtualMailbox : .localRecipient)
        case .none: return .temporaryLookupFailure
        }
    }

    /// Postfix's reject log line: `NOQUEUE: reject: RCPT from host[addr]: 550 5.1.1 ...; from=<> to=<> proto=ESMTP helo=<>`.
    private func reject(_ verb: String, _ reply: SMTPReply, sender: String, recipient: String?) {
        let replyText = "\(reply.code) " + (reply.enhancedCode.map { "\($0) " } ?? "") + reply.lines.joined(separator: " ")
        var text = "NOQUEUE: reject: \(verb) from \(client.description): \(replyText); from=<\(sender)>"
        if let recipient { text += " to=<\(recipient)>" }
        text += " proto=\(protocolName) helo=<\(heloName ?? "")>"
        logger.info("\(text)")
    }

    // MARK: - The message

    private mutating func data(frames: inout Frames, outbound: Replies) async throws -> SMTPReply {
        guard let current = transaction else { return .needMail }
        guard !current.recipients.isEmpty else { return .needRecipients }
        if let refusal = await checkData() {
            reject("DATA", refusal, sender: current.sender, recipient: nil)
            transaction = nil
            return refusal
        }
        try await outbound.write(.startData)
        var reader = SMTPDataReader(sizeLimit: settings.messageSizeLimit > 0 ? settings.messageSizeLimit : nil)
        var assembly = newAssembly(for: current)
        var buffer = ByteBuffer()
        var sawBareLineFeed = false
        while let frame = try await frames.next() {
            guard case .line(let line) = frame else { continue }
            if line.ending == .bareLF { sawBareLineFeed = true }
            let progress = reader.consume(line, into: &buffer)
            if buffer.readableBytes >= 65536 {
                await assembly.flush(buffer, envelope: envelope(for: current), id: current.id)
                buffer.clear()
            }
            if progress == .endOfMessage { break }
        }
        guard reader.isComplete else {
            assembly.abandon()
            throw SessionEnded.lostConnectionInData
        }
        transaction = nil
        if reader.sawBareLineEnding {
            assembly.abandon()
            let refusal: SMTPReply = sawBareLineFeed ? .bareLineFeed : .bareCarriageReturn
            logger.info("\(current.id): reject: DATA from \(client.description): \(refusal.lines.joined())")
            return refusal
        }
        if reader.exceededSizeLimit {
            assembly.abandon()
            logger.info("\(current.id): reject: DATA from \(client.description): message size exceeds \(settings.messageSizeLimit)")
            return .messageTooBig
        }
        return await commit(assembly, last: buffer, transaction: current)
    }

    private func checkData() async -> SMTPReply? {
        guard !server.policy.lists.data.isEmpty else { return nil }
        let policy = server.policy
        let request = policyRequest(recipient: nil)
        do {
            return try await server.pool.runIfActive { policy.checkData(request) }
        } catch {
            return .temporaryLookupFailure
        }
    }

    private mutating func chunk(size: Int, isLast: Bool, frames: inout Frames) async throws -> SMTPReply {
        // The chunk's bytes follow the command whatever we answer; read them all first (RFC 3030).
        var refusal: SMTPReply?
        if transaction == nil {
            refusal = .needMail
        } else if transaction?.recipients.isEmpty == true {
            refusal = .needRecipients
        } else if size == 0 && !isLast {
            refusal = .nullBDAT
        }
        // The assembly is taken out of the transaction while the chunk arrives and put back after, so that
        // adding to it never copies what it holds (a copy per chunk made many small chunks quadratic).
        var assembly: MessageAssembly?
        if refusal == nil, let current = transaction {
            assembly = current.chunks ?? newAssembly(for: current)
            transaction?.chunks = nil
        }
        let queueEnvelope = transaction.map { envelope(for: $0) }
        var received = 0
        // Even BDAT 0 comes with one (empty) piece that marks the end of its chunk.
        while let frame = try await frames.next() {
            guard case .chunk(let piece, let isEnd) = frame else { continue }
            received += piece.readableBytes
            if var current = assembly, let queueEnvelope, let id = transaction?.id {
                assembly = nil
                current.scan(piece.readableBytesView)
                if settings.messageSizeLimit > 0, current.messageOctets > settings.messageSizeLimit {
                    current.isOversized = true
                } else if !current.isOversized {
                    await current.add(piece, envelope: queueEnvelope, id: id)
                }
                assembly = current
            }
            if isEnd { break }
        }
        guard received == size else { throw SessionEnded.lostConnectionInData }
        if let refusal {
            if refusal == .nullBDAT { transaction?.chunks?.abandon(); transaction = nil }
            return refusal
        }
        guard let current = transaction, let finished = assembly else { return .badSequence }
        if !isLast {
            transaction?.chunks = finished
            return .chunkReceived(octets: size)
        }
        transaction = nil
        if let refusal = finished.bareLineEndingRefusal() {
            finished.abandon()
            logger.info("\(current.id): reject: BDAT from \(client.description): \(refusal.lines.joined())")
            return refusal
        }
        if finished.isOversized {
            finished.abandon()
            return .messageTooBig
        }
        return await commit(finished, last: ByteBuffer(), transaction: current)
    }

    /// `SMTP`, `ESMTP`, with `S` for TLS and `A` for AUTH (RFC 3848): ESMTPS, ESMTPA, ESMTPSA.
    private var protocolName: String {
        guard isExtended else { return "SMTP" }
        return "ESMTP" + (tls != nil ? "S" : "") + (saslUsername != nil ? "A" : "")
    }

    /// A message's assembly, starting with our Received: field; a local client's message is completed with a
    /// Message-ID: and Date: where it lacks them (`local_header_rewrite_clients`).
    private func newAssembly(for transaction: Transaction) -> MessageAssembly {
        var assembly = MessageAssembly(sink: QueueSink(queue: settings.queue, pool: server.pool))
        assembly.append(receivedHeader(for: transaction))
        if settings.headerRewriteClients.includes(
            address: client.address, localAddress: client.localAddress, saslUsername: saslUsername,
            mynetworks: settings.trustedNetworks)
        {
            assembly.addingMissing(
                messageID: MessageIdentifier.make(queueID: transaction.id.rawValue, hostname: settings.hostname),
                date: MessageDate.rfc5322())
        }
        return assembly
    }

    private func receivedHeader(for transaction: Transaction) -> [UInt8] {
        var name = protocolName
        if transaction.parameters.isSMTPUTF8 { name = "UTF8" + name }
        return ReceivedHeader(
            heloName: heloName, clientName: client.name, clientAddress: client.address, hostname: settings.hostname,
            protocolName: name, queueID: transaction.id.rawValue,
            recipient: transaction.recipients.count == 1 ? transaction.recipients[0].address : nil,
            tlsComment: settings.recordsTLSInReceived ? tls?.receivedComment : nil
        ).bytes
    }

    private func envelope(for transaction: Transaction) -> QueueEnvelope {
        var attributes: [QueueEnvelope.Attribute] = [
            .init("origin", "smtpd"), .init("client_address", client.address), .init("client_name", client.name),
            .init("helo_name", heloName ?? ""), .init("protocol", protocolName),
        ]
        let parameters = transaction.parameters
        if let body = parameters.body { attributes.append(.init("body", body.rawValue)) }
        if parameters.isSMTPUTF8 { attributes.append(.init("smtputf8", "yes")) }
        if let ret = parameters.dsnReturn { attributes.append(.init("ret", ret.rawValue)) }
        if let envid = parameters.envelopeID { attributes.append(.init("envid", envid.text)) }
        var seconds = timespec()
        clock_gettime(CLOCK_REALTIME, &seconds)
        return QueueEnvelope(
            arrivalTime: Double(seconds.tv_sec) + Double(seconds.tv_nsec) / 1e9, sender: transaction.sender,
            attributes: attributes, recipients: transaction.recipients)
    }

    /// Makes the message durable (file and directory fsynced) and only then says 250.
    private func commit(_ assembly: MessageAssembly, last: ByteBuffer, transaction: Transaction) async -> SMTPReply {
        var assembly = assembly
        assembly.finish(last)
        if assembly.hops.count >= settings.hopCountLimit {
            assembly.abandon()
            logger.warning("\(transaction.id): message rejected: hopcount exceeded (\(assembly.hops.count) Received: headers, hopcount_limit = \(settings.hopCountLimit)) from \(client.description)")
            return .tooManyHops
        }
        do {
            let size = try await assembly.commit(envelope: envelope(for: transaction), id: transaction.id)
            let messageID = assembly.messageID.map { "<\($0)>" } ?? "<>"
            logger.info("\(transaction.id): message-id=\(messageID)")
            logger.trace("\(transaction.id): queued \(size) bytes")
            server.metrics.count(.received, "smtpd")
            return .queued(as: transaction.id.rawValue)
        } catch {
            assembly.abandon()
            logger.error("\(transaction.id): cannot write queue file: \(error)")
            if let code = (error as? SystemError)?.code, code == ENOSPC || code == EDQUOT { return .insufficientStorage }
            return .localError
        }
    }
}

enum SessionEnded: Error, CustomStringConvertible {
    case lostConnectionInData
    case lostConnectionInAuth
    case tlsFailed

    var description: String {
        switch self {
        case .lostConnectionInData: "lost connection while receiving the message"
        case .lostConnectionInAuth: "lost connection during AUTH"
        case .tlsFailed: "TLS handshake failed"
        }
    }
}
