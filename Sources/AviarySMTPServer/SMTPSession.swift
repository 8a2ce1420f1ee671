#if canImport(Glibc)
import Glibc
#endif
import AviaryAuthentication
import AviaryCore
import AviaryMessage
import AviaryQueue
import AviarySASL
import AviarySMTP
import AviaryTLS
import Logging
import NIOCore
import Synchronization

/// One SMTP connection: the channel handler that drives `SMTPServerEngine` on the connection's event loop.
///
/// The engine decides everything SMTP; this does what it asks. Bytes from the client wait in `input` and are
/// framed (`SMTPFrameDecoder`) one frame at a time, only when the engine is ready for the next: the decoder sees
/// each reply before it frames what follows, so a client that sends its message behind DATA without waiting for
/// the 354 (`printf ... | nc`) still has it read as a message, and DATA's lines come as one frame per read, not
/// one per line. Replies are flushed once per batch of input (a pipelining client's replies leave in one
/// segment). Questions the engine asks (a recipient look-up, a queue-file write, libsasl2) run on the thread
/// pool or as a task; meanwhile the handler asks the channel for no more bytes, so a session holds at most a
/// read's worth beyond one line. Every callback runs on the channel's event loop, so the handler needs no lock.
final class SMTPSessionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = SMTPReply
    typealias OutboundOut = SMTPReply

    let server: SMTPServer
    var settings: SMTPServerSettings { server.settings }
    private var logger: Logger { server.logger }
    private var client: ClientIdentity
    private var engine: SMTPServerEngine
    private var context: ChannelHandlerContext?
    private var admission = ClientLimits.Admission()
    /// The client's bytes not yet framed.
    private var input = ByteBuffer()
    private var decoder: SMTPFrameDecoder
    private var isStarted = false
    /// Something runs on the engine's behalf (a question, a delayed reply, a write of message bytes).
    private var isBusy = false
    private var hasUnflushedReplies = false
    /// The channel asked for a read that was held back.
    private var isReadPending = false
    /// From STARTTLS until the TLS handler is in place: nothing is read (what follows is TLS).
    private var isStartingTLS = false
    private var isInputClosed = false
    private var isGone = false
    private var disconnectReason: String?
    /// The TLS session, once STARTTLS (or wrapper mode) completed its handshake.
    private var tls: TLSHandshakeCompleted?
    private var queueID: QueueID?
    /// The transaction's SPF verdict (`smtpd_spf_enable`), taken at MAIL FROM; nil when SPF is off or the
    /// client is not judged by it.
    private var spf: SPFOutcome?
    /// What the restrictions remember for the session: blocklist answers, PREPEND fields for the message.
    private let policySession: PolicySessionState
    private var assembly: MessageAssembly?
    private var sink: QueueSink?
    private var exchange: SASLExchange?
    /// Failed AUTH attempts in this session (each one answered more slowly).
    private var authFailures = 0
    /// The first error writing the queue file: the rest of the message is read and dropped, and the client
    /// hears of it at the end (a session that stopped reading mid-message would take the rest for commands).
    private var writeFailure: (any Error)?
    /// The session's milter conversations, opened at the first MAIL (nil without `smtpd_milters`).
    private var milterSession: MilterSession?
    /// What milters decided about the transaction beside an answer to a command: discard or hold it.
    private var milterOutcome = MilterVerdict.proceed

    /// Unframed bytes beyond this stop reading from the socket until the session catches up.
    private static let inputLimit = 65536

    init(server: SMTPServer, remoteAddress: String, localAddress: String) {
        self.server = server
        client = ClientIdentity(
            name: ClientNameLookup.isLoopback(remoteAddress) ? "localhost" : "unknown", address: remoteAddress)
        client.localAddress = localAddress
        engine = SMTPServerEngine(options: server.engineOptions)
        policySession = PolicySessionState(logger: server.logger)
        decoder = SMTPFrameDecoder(maximumLineLength: server.settings.lineLengthLimit)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input.readableBytes == 0 {
            input = bytes
        } else {
            input.writeBuffer(&bytes)
        }
        process()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        // A client that waits for each reply (most do) sends nothing while the session is busy: reading on
        // costs nothing then, and saves turning the socket's read interest off and on again (two epoll_ctl)
        // around every question. Reads stop while busy once something waits unframed (a pipelining client:
        // memory stays one read beyond what is there, as before), beyond inputLimit, and around STARTTLS.
        if !isStarted || isStartingTLS || input.readableBytes >= Self.inputLimit || (isBusy && input.readableBytes > 0) {
            isReadPending = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            isInputClosed = true
            process()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if disconnectReason == nil { disconnectReason = "\(error)" }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isGone = true
        if !isBusy {
            abandonMessage()
            closeMilters()
        }
        if isStarted {
            logDisconnect()
        }
        if admission.isCounted {
            admission.isCounted = false
            server.limits.release(client, pool: server.pool)
        }
        context.fireChannelInactive()
    }

    // MARK: - Start

    private var admitting = false

    /// The per-client limits first (they need only the address: a client over them must not make us wait for
    /// its reverse zone), then the client's name, then the greeting.
    private func admit(context: ChannelHandlerContext) {
        guard !admitting else { return }
        admitting = true
        let server = server
        let identity = client
        let eventLoop = context.eventLoop
        let start = eventLoop.makeFutureWithTask { () -> (ClientLimits.Admission, String) in
            let admission = await server.limits.admit(identity, pool: server.pool, logger: server.logger)
            guard admission.refusal == nil, !ClientNameLookup.isLoopback(identity.address) else {
                return (admission, identity.name)
            }
            return (admission, await server.nameLookup.name(of: identity.address, on: eventLoop))
        }
        start.assumeIsolated().whenSuccess { result in
            let (admission, name) = result
            self.admission = admission
            if self.isGone {
                if admission.isCounted { server.limits.release(identity, pool: server.pool) }
                return
            }
            if let refusal = admission.refusal {
                self.close(after: refusal.reply(hostname: server.settings.hostname, client: identity.address))
                return
            }
            self.client.name = name
            self.begin()
        }
    }

    private func begin() {
        guard let context else { return }
        logger.info("connect from \(client.description)")
        server.metrics.count(.connections, "smtp")
        engine.authMechanisms = server.offeredMechanisms(isEncrypted: false)
        guard settings.isWrapperMode else { return started() }
        // Wrapper mode (port 465): no greeting before the handshake; without a usable certificate, nothing.
        guard server.tlsContext != nil, let handler = try? context.pipeline.syncOperations.handler(type: TLSHandler.self)
        else {
            logger.warning("TLS is unavailable; closing the wrapper-mode connection from \(client.description)")
            isStarted = true
            context.close(promise: nil)
            return
        }
        isBusy = true
        isStarted = true
        handler.handshakeResult.assumeIsolated().whenComplete { result in
            self.isBusy = false
            guard self.handshakeCompleted(result) else { return }
            self.engine.authMechanisms = self.server.offeredMechanisms(isEncrypted: true)
            self.engine.tlsEstablished()
            self.started()
        }
    }

    private func started() {
        isStarted = true
        perform(engine.start()[...])
        process()
    }

    // MARK: - Driving the engine

    /// Frames waiting input for the engine until it waits or a frame needs more bytes; at the end of input, tells
    /// it so.
    private func process() {
        guard isStarted, !isGone else { return }
        while !isBusy, !engine.isClosed, let frame = decoder.nextFrame(from: &input) {
            perform(engine.receive(frame)[...])
        }
        if input.readableBytes == 0 {
            input.clear()
        } else if input.readerIndex >= Self.inputLimit {
            input.discardReadBytes()
        }
        if !isBusy, !engine.isClosed, isInputClosed {
            perform(engine.endOfInput()[...])
        }
        flushIfNeeded()
        if isReadPending, !isBusy, !engine.isClosed, input.readableBytes < Self.inputLimit {
            isReadPending = false
            context?.read()
        }
    }

    /// Carries out the engine's actions in order. An action that takes time (a question, a delayed reply, a write
    /// of message bytes) makes the session busy; the actions after it wait for it.
    private func perform(_ actions: ArraySlice<SMTPServerEngine.Action>) {
        var rest = actions
        while let action = rest.popFirst() {
            switch action {
            case .reply(let reply, let delay):
                if delay > 0 {
                    after(context!.eventLoop.scheduleTask(in: .seconds(Int64(delay))) {}.futureResult) {
                        self.perform([.reply(reply, delay: 0)] + rest)
                    }
                    return
                }
                if rest.first == .close {
                    rest.removeFirst()
                    close(after: reply)
                } else {
                    write(reply)
                }
            case .ask(let question):
                ask(question)
            case .startTLS:
                startTLS()
            case .beginMessage:
                beginMessage()
            case .messageData(let bytes):
                guard assembly != nil else { continue }
                assembly!.add(bytes)
                if assembly!.isDueForWriting, let write = writePending() {
                    after(write) { self.perform(rest) }
                    return
                }
            case .abandonMessage(let reason):
                abandonMessage(reason)
            case .cancelAuthentication:
                _ = exchange?.abort()
                exchange = nil
            case .note(let note):
                log(note)
            case .close:
                close(after: nil)
            }
        }
    }

    /// Makes the session busy until `future` completes, then runs `then` (unless the connection is gone).
    private func wait<T>(for future: EventLoopFuture<T>, then: @escaping (T) -> Void) {
        isBusy = true
        flushIfNeeded()
        future.assumeIsolated().whenComplete { result in
            self.isBusy = false
            guard !self.isGone else {
                self.abandonMessage()
                self.closeMilters()
                return
            }
            if case .success(let value) = result { then(value) } else { self.context?.close(promise: nil) }
            self.process()
        }
    }

    private func after(_ future: EventLoopFuture<Void>, then: @escaping () -> Void) {
        wait(for: future) { (_: Void) in then() }
    }

    /// Answers a question with a decision that takes time: the engine's next actions run once it is ready.
    private func decide(when future: EventLoopFuture<SMTPServerEngine.Decision>) {
        wait(for: future) { decision in self.perform(self.engine.decide(decision)[...]) }
    }

    private func decideNow(_ decision: SMTPServerEngine.Decision) {
        perform(engine.decide(decision)[...])
    }

    private func write(_ reply: SMTPReply) {
        decoder.write(data: reply)
        context?.write(wrapOutboundOut(reply), promise: nil)
        hasUnflushedReplies = true
    }

    private func flushIfNeeded() {
        guard hasUnflushedReplies else { return }
        hasUnflushedReplies = false
        context?.flush()
    }

    /// Writes `reply` and closes the connection once it has left.
    private func close(after reply: SMTPReply?) {
        guard let context else { return }
        hasUnflushedReplies = false
        guard let reply else {
            context.flush()
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        decoder.write(data: reply)
        context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: - Questions

    private func ask(_ question: SMTPServerEngine.Question) {
        switch question {
        case .sender(let sender, let parameters):
            if let refusal = checkQueueSpace(declaredSize: parameters.size) {
                reject("MAIL", refusal, sender: sender, recipient: nil)
                return decideNow(.answer(refusal))
            }
            queueID = QueueID.make()
            spf = nil
            milterOutcome = .proceed
            _ = policySession.takePrependedFields()
            guard server.milters != nil else { return checkSender(sender) }
            let connection = MilterSession.Connection(clientName: client.name, clientAddress: client.address)
            let helo = engine.heloName
            wait(for: askMilters { session, macros, logger in
                session.mail(
                    connection: connection, helo: helo, arguments: ["<\(sender)>"], macros: macros, logger: logger)
            }) { verdict in
                if let refusal = self.milterRefusal(verdict, verb: "MAIL", sender: sender, recipient: nil) {
                    return self.decideNow(.answer(refusal))
                }
                self.checkSender(sender)
            }
        case .recipient(let address, _):
            let policy = server.policy
            let request = policyRequest(recipient: address)
            let check = policy.threads.pool.runIfActive(eventLoop: context!.eventLoop) { () -> SMTPReply? in
                if let refusal = policy.checkRecipient(request) { return refusal }
                if case .refuse(let refusal) = policy.unlistedRecipient(address) { return refusal }
                return nil
            }
            let eventLoop = context!.eventLoop
            decide(when: check.recover { _ in .temporaryLookupFailure }.assumeIsolated().flatMap { refusal in
                guard refusal == nil, self.server.milters != nil else {
                    return eventLoop.makeSucceededFuture(self.recipientDecision(address, refusal: refusal))
                }
                return self.askMilters(recipient: address) { session, macros, logger in
                    session.rcpt(arguments: ["<\(address)>"], macros: macros, logger: logger)
                }.assumeIsolated().map { verdict in
                    self.recipientDecision(
                        address, refusal: self.milterRefusal(verdict, verb: "RCPT", recipient: address),
                        isLogged: true)
                }.nonisolated()
            }.nonisolated())
        case .data:
            guard !server.policy.lists.data.isEmpty else { return milterData() }
            let policy = server.policy
            let request = policyRequest(recipient: nil)
            let check = policy.threads.pool.runIfActive(eventLoop: context!.eventLoop) { policy.checkData(request) }
            wait(for: check.recover { _ in .temporaryLookupFailure }) { refusal in
                guard let refusal else { return self.milterData() }
                self.reject("DATA", refusal, sender: self.engine.transaction?.sender ?? "", recipient: nil)
                self.decideNow(.answer(refusal))
            }
        case .commit:
            commit()
        case .verify(let address):
            let directory = server.directory
            let lookup = server.pool.runIfActive(eventLoop: context!.eventLoop) { directory.lookup(address) }
            decide(when: lookup.map { result -> SMTPServerEngine.Decision in
                switch result {
                case .local, .virtual, .notLocal: .answer(.vrfy(address))
                case .unknown(let table):
                    .answer(.unknownUser(address, table: table == "virtual mailbox" ? .virtualMailbox : .localRecipient))
                }
            }.recover { _ in .answer(.temporaryLookupFailure) })
        case .authenticate(let mechanism, let initialResponse):
            authenticate(mechanism: mechanism, initialResponse: initialResponse)
        case .authResponse(let line):
            respond(line)
        }
    }

    /// SPF is judged once per transaction, at MAIL (DNS: on the policy's threads); the restrictions and the
    /// header fields use this verdict.
    private func checkSender(_ sender: String) {
        guard server.policy.spf != nil else { return decideNow(.proceed) }
        // SPF is judged once per transaction, here (DNS: on the policy's threads); the restrictions and the
        // header fields use this verdict.
        var asked = policyRequest(recipient: nil)
        asked.sender = sender
        let request = asked
        let policy = server.policy
        let check = policy.threads.pool.runIfActive(eventLoop: context!.eventLoop) {
            policy.spfOutcome(for: request)
        }
        decide(when: check.recover { _ in nil }.assumeIsolated().map { outcome -> SMTPServerEngine.Decision in
            self.spf = outcome
            return .proceed
        }.nonisolated())
    }

    private func recipientDecision(
        _ address: String, refusal: SMTPReply?, isLogged: Bool = false
    ) -> SMTPServerEngine.Decision {
        let sender = engine.transaction?.sender ?? ""
        if let refusal {
            if !isLogged { reject("RCPT", refusal, sender: sender, recipient: address) }
            return .answer(refusal)
        }
        if engine.transaction?.recipients.isEmpty == true, let queueID {
            // As Postfix logs it: when the queue ID is first used, at the first accepted recipient (a
            // transaction whose recipients are all refused is no message; log tools count these lines).
            let login = engine.saslUsername.map { ", sasl_username=\($0)" } ?? ""
            logger.info("\(queueID): client=\(client.description)\(login)")
        }
        return .proceed
    }

    func policyRequest(recipient: String?) -> PolicyRequest {
        var request = PolicyRequest(
            client: client, heloName: engine.heloName, sender: engine.transaction?.sender ?? "", recipient: recipient,
            saslUsername: engine.saslUsername, hasIllegalPipelining: engine.hasIllegalPipelining)
        request.spf = spf
        request.protocolName = engine.protocolName
        request.instance = queueID?.rawValue ?? ""
        request.recipientCount = engine.transaction?.recipients.count ?? 0
        if request.recipientCount > 0 { request.queueID = queueID?.rawValue }
        request.size = engine.transaction?.parameters.size
        request.saslMethod = engine.authMechanism
        request.encryption = tls.map { .init(protocolName: $0.version, cipher: $0.cipher, keySize: $0.cipherBits) }
        request.session = policySession
        return request
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

    /// Postfix's reject log line: `NOQUEUE: reject: RCPT from host[addr]: 550 5.1.1 ...; from=<> to=<> proto=ESMTP helo=<>`.
    private func reject(_ verb: String, _ reply: SMTPReply, sender: String, recipient: String?) {
        let replyText = "\(reply.code) " + (reply.enhancedCode.map { "\($0) " } ?? "") + reply.lines.joined(separator: " ")
        var text = "NOQUEUE: reject: \(verb) from \(client.description): \(replyText); from=<\(sender)>"
        if let recipient { text += " to=<\(recipient)>" }
        text += " proto=\(engine.protocolName) helo=<\(engine.heloName ?? "")>"
        logger.info("\(text)")
    }

    private func log(_ note: SMTPServerEngine.Note) {
        switch note {
        case .illegalPipelining(let verb):
            logger.info("improper command pipelining after \(verb) from \(client.description)")
        case .tooManyErrors(let verb):
            logger.warning("too many errors after \(verb) from \(client.description)")
        case .discardedPlaintext(let lines):
            logger.info("discarding \(lines) line(s) sent in plaintext behind STARTTLS by \(client.description)")
        case .rejected(let verb, let reply, let sender):
            reject(verb, reply, sender: sender, recipient: nil)
        case .lostConnection(let inAuth):
            disconnectReason = inAuth ? "lost connection during AUTH" : "lost connection while receiving the message"
        }
    }

    func logDisconnect() {
        var text = "disconnect from \(client.description)"
        var total = (0, 0)
        for entry in engine.statistics {
            text += entry.attempts == entry.successes ? " \(entry.verb)=\(entry.attempts)" : " \(entry.verb)=\(entry.successes)/\(entry.attempts)"
            total.0 += entry.attempts
            total.1 += entry.successes
        }
        text += total.0 == total.1 ? " commands=\(total.0)" : " commands=\(total.1)/\(total.0)"
        if let disconnectReason { text += " (\(disconnectReason))" }
        logger.info("\(text)")
    }

    // MARK: - Milters

    /// Runs `stage` on the milter threads with the macros smtpd sends; a pool that refuses the job counts as a
    /// failed milter.
    private func askMilters(
        recipient: String? = nil,
        _ stage: @escaping @Sendable (MilterSession, [String: String], Logger) -> MilterVerdict
    ) -> EventLoopFuture<MilterVerdict> {
        let eventLoop = context!.eventLoop
        guard let milters = server.milters else { return eventLoop.makeSucceededFuture(.proceed) }
        let session = milterSession ?? milters.session()
        milterSession = session
        let macros = milterMacros(recipient: recipient)
        let logger = logger
        return milters.threads.runIfActive(eventLoop: eventLoop) { stage(session, macros, logger) }
            .recover { _ in MilterClient.verdict(for: milters.settings.defaultAction) }
    }

    /// A stage's verdict as the answer to the SMTP command (logged as Postfix's `milter-reject`); nil to go on.
    /// DISCARD and QUARANTINE are remembered for the end of the message.
    private func milterRefusal(
        _ verdict: MilterVerdict, verb: String, sender: String? = nil, recipient: String?
    ) -> SMTPReply? {
        switch verdict {
        case .proceed, .accept:
            return nil
        case .discard, .quarantine:
            if milterOutcome == .proceed || verdict == .discard { milterOutcome = verdict }
            return nil
        case .refuse(let reply):
            let replyText = "\(reply.code) " + (reply.enhancedCode.map { "\($0) " } ?? "") + reply.lines.joined(separator: " ")
            var text = "NOQUEUE: milter-reject: \(verb) from \(client.description): \(replyText); from=<\(sender ?? engine.transaction?.sender ?? "")>"
            if let recipient { text += " to=<\(recipient)>" }
            logger.info("\(text) proto=\(engine.protocolName) helo=<\(engine.heloName ?? "")>")
            return reply
        }
    }

    private func milterData() {
        guard server.milters != nil else { return decideNow(.proceed) }
        wait(for: askMilters { session, macros, logger in session.data(macros: macros, logger: logger) }) { verdict in
            if let refusal = self.milterRefusal(verdict, verb: "DATA", recipient: nil) {
                return self.decideNow(.answer(refusal))
            }
            self.decideNow(.proceed)
        }
    }

    /// The macros Postfix's smtpd defines for milters (MILTER_README, "Macros").
    private func milterMacros(recipient: String? = nil) -> [String: String] {
        var macros = [
            "j": settings.hostname, "{daemon_name}": settings.hostname, "v": "Aviary",
            "_": "\(client.name) [\(client.address)]", "{client_addr}": client.address,
            "{client_name}": client.name, "{client_ptr}": client.name, "{daemon_addr}": client.localAddress,
        ]
        if let queueID { macros["i"] = queueID.rawValue }
        if let sender = engine.transaction?.sender {
            macros["{mail_addr}"] = sender
            macros["{mail_host}"] = settings.hostname
            macros["{mail_mailer}"] = "smtp"
        }
        if let recipient {
            macros["{rcpt_addr}"] = recipient
            macros["{rcpt_mailer}"] = "smtp"
        }
        if let username = engine.saslUsername {
            macros["{auth_authen}"] = username
            macros["{auth_type}"] = engine.authMechanism ?? ""
        }
        if let tls {
            macros["{tls_version}"] = tls.version
            macros["{cipher}"] = tls.cipher
            macros["{cipher_bits}"] = String(tls.cipherBits)
        }
        return macros
    }

    /// QUIT to the milters, on their threads (sending may wait for a full socket buffer).
    private func closeMilters() {
        guard let milterSession, let milters = server.milters else { return }
        self.milterSession = nil
        milters.threads.submit { _ in milterSession.close() }
    }

    // MARK: - TLS

    /// STARTTLS: the 220 and, in the event loop step in which it leaves, TLS first in the pipeline. What the client
    /// sent behind the command came in plaintext: its lines go to the engine to be counted and discarded, a partial
    /// one is dropped, and a fresh decoder starts on what comes through TLS.
    private func startTLS() {
        guard let context, let tlsContext = server.tlsContext else { return }
        flushIfNeeded()
        isBusy = true
        isStartingTLS = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.readyToStartTLS)).assumeIsolated().whenComplete { written in
            self.isBusy = false
            self.isStartingTLS = false
            guard case .success = written, let handshake = try? SMTPServer.insertTLS(on: channel, context: tlsContext)
            else {
                channel.close(promise: nil)
                return
            }
            while let plaintext = self.decoder.nextFrame(from: &self.input) {
                self.perform(self.engine.receive(plaintext)[...])
            }
            self.input.clear()
            self.decoder = SMTPFrameDecoder(maximumLineLength: self.settings.lineLengthLimit)
            self.engine.authMechanisms = self.server.offeredMechanisms(isEncrypted: true)
            self.perform(self.engine.receive(.tlsStarted)[...])
            handshake.assumeIsolated().whenComplete { result in _ = self.handshakeCompleted(result) }
            self.process()
        }
    }

    /// Logs the handshake's outcome; a failure ends the session.
    private func handshakeCompleted(_ result: Result<TLSHandshakeCompleted, any Error>) -> Bool {
        switch result {
        case .success(let completed):
            tls = completed
            logger.info("Anonymous TLS connection established from \(client.description): \(completed.version) with cipher \(completed.cipher) (\(completed.cipherBits)/\(completed.cipherAlgorithmBits) bits)")
            return true
        case .failure(let error):
            logger.info("TLS handshake failed with \(client.description): \(error)")
            server.metrics.count(.tlsFailures, "smtp")
            disconnectReason = "TLS handshake failed"
            context?.close(promise: nil)
            return false
        }
    }

    // MARK: - AUTH

    /// AUTH (RFC 4954) through libsasl2; failures are logged with the client and answered after a growing pause.
    /// The client's responses never reach the log.
    private func authenticate(mechanism: String, initialResponse: String?) {
        guard let authenticator = server.authenticator else { return decideNow(.answer(.authNotEnabled)) }
        var initial: [UInt8]?
        if let initialResponse {
            guard let decoded = initialResponse == "=" ? [] : SASLBase64.decode(initialResponse) else {
                return decideNow(.answer(.authCannotDecode))
            }
            initial = decoded
        }
        let isEncrypted = tls != nil
        let logger = logger
        let step = context!.eventLoop.makeFutureWithTask { [initial] in
            await authenticator.begin(
                mechanism: mechanism, initialResponse: initial, isEncrypted: isEncrypted, logger: logger)
        }
        continueAuthentication(step, mechanism: mechanism)
    }

    private func respond(_ line: String) {
        guard let exchange else { return decideNow(.answer(.authFailed())) }
        guard let response = SASLBase64.decode(line) else {
            _ = exchange.abort()
            self.exchange = nil
            return decideNow(.answer(.authCannotDecode))
        }
        let step = context!.eventLoop.makeFutureWithTask { await exchange.step(response: response) }
        continueAuthentication(step, mechanism: engine.authMechanism ?? "")
    }

    private func continueAuthentication(_ step: EventLoopFuture<SASLStep>, mechanism: String) {
        let decision = step.assumeIsolated().flatMap { step -> EventLoopFuture<SMTPServerEngine.Decision> in
            let eventLoop = self.context!.eventLoop
            switch step {
            case .challenge(let challenge, let exchange):
                self.exchange = exchange
                return eventLoop.makeSucceededFuture(.challenge(SASLBase64.encode(challenge)))
            case .success(let username):
                self.exchange = nil
                self.logger.info("\(self.client.description): sasl_method=\(mechanism), sasl_username=\(username)")
                return eventLoop.makeSucceededFuture(.authenticated(username))
            case .failure(let failure):
                self.exchange = nil
                return self.refuse(failure, mechanism: mechanism)
            }
        }.nonisolated()
        decide(when: decision)
    }

    private func refuse(_ failure: SASLFailure, mechanism: String) -> EventLoopFuture<SMTPServerEngine.Decision> {
        let eventLoop = context!.eventLoop
        switch failure.code {
        case .unsupportedMechanism: return eventLoop.makeSucceededFuture(.answer(.unsupportedAuthMechanism))
        case .encryptionRequired: return eventLoop.makeSucceededFuture(.answer(.encryptionRequiredForAuth))
        case .cancelled: return eventLoop.makeSucceededFuture(.answer(.authAborted))
        case .temporary:
            logger.error("\(client.description): SASL \(mechanism) authentication failed: \(failure.reason)")
            return eventLoop.makeSucceededFuture(.answer(.temporaryAuthFailure(failure.clientText)))
        default:
            authFailures += 1
            server.metrics.count(.authFailures, "smtp")
            logger.warning("\(client.description): SASL \(mechanism) authentication failed: \(failure.reason)")
            // Each failure in a session doubles the pause (capped): guessing passwords gets slow.
            let delay = min(settings.authFailureDelaySeconds << min(authFailures - 1, 4), 16)
            let reply = SMTPReply.authFailed(failure.clientText)
            guard delay > 0 else { return eventLoop.makeSucceededFuture(.answer(reply)) }
            return eventLoop.scheduleTask(in: .seconds(Int64(delay))) { .answer(reply) }.futureResult
        }
    }

    // MARK: - The message

    /// A message's assembly, starting with our Received: field; a local client's message is completed with a
    /// Message-ID: and Date: where it lacks them (`local_header_rewrite_clients`).
    private func beginMessage() {
        guard let transaction = engine.transaction, let queueID else { return }
        writeFailure = nil
        sink = QueueSink(queue: settings.queue, pool: server.pool, id: queueID)
        let policy = server.policy
        // no_header_body_checks (the service taking filtered mail back): the fields naming our authserv-id are
        // the ones our smtpd wrote before the message went to the filter.
        var assembly =
            settings.receiveOverrides.skipsHeaderBodyChecks
            ? MessageAssembly()
            : MessageAssembly { bytes, range in
                AuthenticationResults.claimedFields(in: bytes, range, authservID: policy.authservID)
            }
        // Trace fields go on top, newest first: the verdicts, then our Received: (as Postfix with
        // policyd-spf and OpenDKIM has them).
        assembly.append(
            policySession.takePrependedFields() + policy.authenticationFields(spf: spf, dkim: nil)
                + receivedHeader(for: transaction, id: queueID))
        if settings.headerRewriteClients.includes(
            address: client.address, localAddress: client.localAddress, saslUsername: engine.saslUsername,
            mynetworks: settings.trustedNetworks)
        {
            assembly.addingMissing(
                messageID: MessageIdentifier.make(queueID: queueID.rawValue, hostname: settings.hostname),
                date: MessageDate.rfc5322())
        }
        self.assembly = assembly
    }

    /// Writes what the assembly holds to the queue file; nil when nothing is written (after a write error the
    /// rest of the message is dropped).
    private func writePending() -> EventLoopFuture<Void>? {
        guard var assembly, let sink, let transaction = engine.transaction, let context else { return nil }
        let bytes = assembly.takePending(isWholeMessage: false)
        self.assembly = assembly
        guard writeFailure == nil else { return nil }
        return sink.write(bytes, envelope: envelope(for: transaction), on: context.eventLoop).assumeIsolated()
            .recover { error in
                self.writeFailure = error
                sink.abandon()
            }.nonisolated()
    }

    private func abandonMessage(_ reason: SMTPServerEngine.MessageRefusal? = nil) {
        if let reason, let queueID {
            switch reason {
            case .bareLineFeed, .bareCarriageReturn:
                let reply: SMTPReply = reason == .bareLineFeed ? .bareLineFeed : .bareCarriageReturn
                logger.info("\(queueID): reject: \(engine.commandVerb.uppercased()) from \(client.description): \(reply.lines.joined())")
            case .tooBig:
                logger.info("\(queueID): reject: \(engine.commandVerb.uppercased()) from \(client.description): message size exceeds \(settings.messageSizeLimit)")
            case .reset, .connectionLost:
                break
            }
        }
        sink?.abandon()
        sink = nil
        assembly = nil
    }

    /// Makes the message durable (file and directory fsynced) and only then says 250.
    private func commit() {
        guard var assembly, let sink, let transaction = engine.transaction, let queueID, let context else {
            return decideNow(.answer(.localError))
        }
        self.assembly = nil
        self.sink = nil
        let bytes = assembly.takePending(isWholeMessage: true)
        if assembly.hops.count >= settings.hopCountLimit {
            sink.abandon()
            logger.warning("\(queueID): message rejected: hopcount exceeded (\(assembly.hops.count) Received: headers, hopcount_limit = \(settings.hopCountLimit)) from \(client.description)")
            return decideNow(.answer(.tooManyHops))
        }
        if let writeFailure {
            return decideNow(.answer(failed(writeFailure, sink: sink, id: queueID)))
        }
        let messageID = assembly.messageID.map { "<\($0)>" } ?? "<>"
        guard let milters = server.milters, let milterSession else {
            return write(bytes, sink: sink, envelope: envelope(for: transaction), messageID: messageID)
        }
        if milterOutcome == .discard { return discard(sink: sink, id: queueID) }
        let macros = milterMacros()
        let logger = logger
        let eventLoop = context.eventLoop
        guard sink.hasWritten else {
            // The whole message is in memory: edited there, written once.
            let bodyStart = MilterHeaderEditor.bodyStart(of: bytes)
            let head = Array(bytes[..<bodyStart])
            let body = Array(bytes[bodyStart...])
            let filtered = milters.threads.runIfActive(eventLoop: eventLoop) {
                milterSession.endOfMessage(head: head, body: { AnySequence([body]) }, macros: macros, logger: logger)
            }
            return wait(for: filtered) { outcome in
                self.finish(outcome, transaction: transaction, sink: sink) { envelope, hold in
                    self.write(
                        outcome.head + (outcome.replacementBody ?? body), sink: sink, envelope: envelope,
                        messageID: messageID, hold: hold)
                }
            }
        }
        // Partly on disk: the rest written, the message read back for the milters, and rewritten if they changed
        // it (the design is in MilterHeaderEditor).
        let appended = sink.write(bytes, envelope: envelope(for: transaction), on: eventLoop)
        let filtered = appended.flatMap { _ in
            milters.threads.runIfActive(eventLoop: eventLoop) { () throws -> (MilterSession.Outcome, [UInt8]) in
                let length = sink.messageLength
                let window = try sink.readMessage(count: Self.milterHeaderWindow, at: 0)
                let head = Array(window[..<MilterHeaderEditor.bodyStart(of: window)])
                // A read that fails ends the body early; the message is then refused, never passed on as judged.
                let readFailure = Mutex<(any Error)?>(nil)
                let body = {
                    AnySequence(sequence(state: Int64(head.count)) { position -> [UInt8]? in
                        guard position < length else { return nil }
                        do {
                            let piece = try sink.readMessage(count: 65536, at: position)
                            position += Int64(piece.count)
                            return piece.isEmpty ? nil : piece
                        } catch {
                            readFailure.withLock { $0 = error }
                            return nil
                        }
                    })
                }
                var outcome = milterSession.endOfMessage(head: head, body: body, macros: macros, logger: logger)
                if let error = readFailure.withLock({ $0 }) {
                    logger.error("\(queueID): cannot read the queue file back for milters: \(error)")
                    outcome.verdict = .refuse(.localError)
                }
                return (outcome, head)
            }
        }
        wait(for: filtered) { outcome, head in
            self.finish(outcome, transaction: transaction, sink: sink) { envelope, hold in
                guard outcome.changes(head) || hold else {
                    return self.write([], sink: sink, envelope: envelope, messageID: messageID)
                }
                let pool = self.server.pool
                let rewritten = pool.runIfActive(eventLoop: eventLoop) {
                    try sink.rewrite(
                        envelope: envelope, head: outcome.head, body: outcome.replacementBody,
                        keepingFrom: Int64(head.count), hold: hold)
                }
                self.wait(for: rewritten.map { true }.recover { error in
                    logger.error("\(queueID): cannot rewrite the queue file after milter changes: \(error)")
                    return false
                }) { isRewritten in
                    guard isRewritten else { return self.decideNow(.answer(.localError)) }
                    self.write([], sink: sink, envelope: envelope, messageID: messageID)
                }
            }
        }
    }

    /// Header sections longer than this are given to milters cut here (the rest goes as body).
    private static let milterHeaderWindow = 1024 * 1024

    /// Acts on the milters' end-of-message verdict: a refusal or DISCARD answers DATA; otherwise `then` gets the
    /// envelope with the milters' changes and whether the message goes on hold.
    private func finish(
        _ outcome: MilterSession.Outcome, transaction: SMTPServerEngine.Transaction, sink: QueueSink,
        then: (QueueEnvelope, Bool) -> Void
    ) {
        guard let queueID else { return decideNow(.answer(.localError)) }
        let envelope = MilterSession.applying(outcome.envelopeChanges, to: self.envelope(for: transaction))
        switch outcome.verdict {
        case .refuse(let reply):
            sink.abandon()
            let text = "\(reply.code) " + (reply.enhancedCode.map { "\($0) " } ?? "") + reply.lines.joined(separator: " ")
            logger.info("\(queueID): milter-reject: END-OF-MESSAGE from \(client.description): \(text); from=<\(transaction.sender)> proto=\(engine.protocolName) helo=<\(engine.heloName ?? "")>")
            decideNow(.answer(reply))
        case .discard:
            discard(sink: sink, id: queueID)
        case _ where envelope.recipients.isEmpty:
            // Every recipient deleted: nothing to deliver, as Postfix's cleanup discards it.
            discard(sink: sink, id: queueID)
        case .quarantine(let reason):
            logger.info("\(queueID): milter-hold: END-OF-MESSAGE from \(client.description): milter triggers HOLD action: \(reason)")
            then(envelope, true)
        case .proceed, .accept:
            if case .quarantine(let reason) = milterOutcome {
                logger.info("\(queueID): milter-hold: milter triggers HOLD action: \(reason)")
            }
            then(envelope, milterOutcome != .proceed)
        }
    }

    /// Commits the message's last bytes; answers 250 once the queue file is durable.
    private func write(
        _ bytes: [UInt8], sink: QueueSink, envelope: QueueEnvelope, messageID: String, hold: Bool = false
    ) {
        guard let context, let queueID else { return decideNow(.answer(.localError)) }
        let written = sink.commit(bytes, envelope: envelope, hold: hold, on: context.eventLoop)
        decide(when: written.assumeIsolated().map { size -> SMTPServerEngine.Decision in
            self.logger.info("\(queueID): message-id=\(messageID)")
            self.logger.trace("\(queueID): queued \(size) bytes")
            self.server.metrics.count(.received, "smtpd")
            return .answer(.queued(as: queueID.rawValue))
        }.recover { error in
            .answer(self.failed(error, sink: sink, id: queueID))
        }.nonisolated())
    }

    /// A milter's DISCARD: the client hears the message was queued, as from Postfix; nothing is kept.
    private func discard(sink: QueueSink, id: QueueID) {
        sink.abandon()
        logger.info("\(id): milter-discard: END-OF-MESSAGE from \(client.description): milter triggers DISCARD action")
        decideNow(.answer(.queued(as: id.rawValue)))
    }

    private func failed(_ error: any Error, sink: QueueSink, id: QueueID) -> SMTPReply {
        sink.abandon()
        logger.error("\(id): cannot write queue file: \(error)")
        if let code = (error as? SystemError)?.code, code == ENOSPC || code == EDQUOT { return .insufficientStorage }
        return .localError
    }

    private func receivedHeader(for transaction: SMTPServerEngine.Transaction, id: QueueID) -> [UInt8] {
        var name = engine.protocolName
        if transaction.parameters.isSMTPUTF8 { name = "UTF8" + name }
        return ReceivedHeader(
            heloName: engine.heloName, clientName: client.name, clientAddress: client.address,
            hostname: settings.hostname, protocolName: name, queueID: id.rawValue,
            recipient: transaction.recipients.count == 1 ? transaction.recipients[0].address : nil,
            tlsComment: settings.recordsTLSInReceived ? tls?.receivedComment : nil
        ).bytes
    }

    private func envelope(for transaction: SMTPServerEngine.Transaction) -> QueueEnvelope {
        var attributes: [QueueEnvelope.Attribute] = [
            .init("origin", "smtpd"), .init("client_address", client.address), .init("client_name", client.name),
            .init("helo_name", engine.heloName ?? ""), .init("protocol", engine.protocolName),
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
            attributes: attributes,
            recipients: transaction.recipients.map {
                QueueRecipient(
                    address: $0.address, notify: $0.parameters.notify?.description,
                    originalRecipient: $0.parameters.originalRecipient?.stored)
            },
            contentFilter: settings.contentFilter)
    }
}
