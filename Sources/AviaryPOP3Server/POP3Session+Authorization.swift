import AviaryCore
import AviaryDaemon
import AviaryPOP3
import AviaryTLS
import AviarySASL
import AviaryUsers
import Logging
import NIOCore

extension POP3Session {
    /// AUTHORIZATION state: USER/PASS, AUTH, STLS. Returns true when the session is over.
    mutating func executeInAuthorization(
        _ command: POP3Command,
        lines: inout Lines,
        outbound: Output
    ) async throws -> Bool {
        switch command {
        case .user(let name):
            guard isPlaintextAllowed else {
                try await write(.plaintextDisallowed, outbound)
                return false
            }
            pendingUser = name
            try await write(.userAccepted, outbound)
            return false
        case .pass(let password):
            guard let user = pendingUser else {
                try await write(.passWithoutUser, outbound)
                return false
            }
            pendingUser = nil
            guard isPlaintextAllowed else {
                try await write(.plaintextDisallowed, outbound)
                return false
            }
            let login = await server.authenticator.verify(user: user, password: password, clientAddress: remoteAddress)
            return try await finishLogin(login, user: user, method: "PLAIN", lines: &lines, outbound: outbound)
        case .auth(let mechanism, let initialResponse):
            return try await authenticate(
                mechanism: mechanism,
                initialResponse: initialResponse,
                lines: &lines,
                outbound: outbound
            )
        case .stls:
            try await startTLS(outbound)
            return false
        case .apop:
            try await write(.apopNotSupported, outbound)
            return false
        default:
            try await write(.notLoggedIn, outbound)
            return false
        }
    }

    /// A successful login opens the maildrop, or for a system account that pop3d does not run as, hands the
    /// session to pop3mail; a failed one is answered slowly, and the last one allowed ends the session.
    mutating func finishLogin(
        _ login: MailLogin,
        user: String,
        method: String,
        lines: inout Lines,
        outbound: Output
    ) async throws -> Bool {
        let place = "method=\(method), rip=\(remoteAddress), lip=\(localAddress), session=<\(id)>"
        switch login {
        case .success(let identity):
            if let socket = server.mailboxServiceSocket(for: identity) {
                return try await handOff(identity, method: method, to: socket, lines: &lines, outbound: outbound)
            }
            let response = await open(identity)
            if response == .loggedIn {
                logger.info("login: user=<\(identity.userName)>, \(place)")
            }
            try await write(response, outbound)
            return false
        case .temporaryFailure(let reason):
            logger.warning("auth failed: user=<\(user)>, \(place) (temporary failure: \(reason))")
            try await write(.authenticationTemporaryFailure, outbound)
            return false
        case .failure(let reason):
            failedLogins += 1
            server.metrics.count(.authFailures, "pop3")
            logger.info("auth failed: user=<\(user)>, \(place) (\(reason))")
            try await pauseAfterFailure()
            guard failedLogins < settings.authFailureLimit else {
                try await write(.tooManyFailures, outbound)
                endReason = "too many failed logins"
                return true
            }
            try await write(.authenticationFailed, outbound)
            return false
        }
    }

    /// Slows password guessing down: the configured delay, doubled for every earlier failure, at most 15 s.
    private func pauseAfterFailure() async throws {
        let base = settings.authFailureDelay
        guard base > .zero else { return }
        let factor = 1 << min(failedLogins - 1, 4)
        try await Task.sleep(for: min(base * factor, .seconds(15)))
    }

    /// Locks and reads the user's mailbox (on the thread pool) and enters TRANSACTION.
    mutating func open(_ identity: MailUser) async -> POP3Response {
        let location = UserMailbox(for: identity, settings: settings)
        let sizeLimit = settings.mboxSizeLimit
        let uidlFormat = settings.uidlFormat ?? .fileName
        let result: Result<(Maildrop, MaildropLock?), MaildropError>
        do {
            result = try await server.blocking { () -> Result<(Maildrop, MaildropLock?), MaildropError> in
                do throws(MaildropError) {
                    return .success(try Maildrop.open(location, mboxSizeLimit: sizeLimit, uidlFormat: uidlFormat))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            return .serverBug
        }
        switch result {
        case .success(let (maildrop, lock)):
            transaction = POP3Transaction(identity: identity, maildrop: maildrop, lock: lock)
            return .loggedIn
        case .failure(.inUse):
            logger.info(
                "login refused: user=<\(identity.userName)>, rip=\(remoteAddress), session=<\(id)> (mailbox in use: \(location))"
            )
            return .mailboxInUse
        case .failure(.unavailable(let error)):
            logger.warning("user=<\(identity.userName)>, session=<\(id)>: cannot open \(location): \(error)")
            return .mailboxUnavailable
        case .failure(let error):
            logger.warning("user=<\(identity.userName)>, session=<\(id)>: cannot open \(location): \(error)")
            return .mailboxTooLarge
        }
    }

    /// STLS (RFC 2595 4). The TLS provider is the seam; see `POP3SecurityHooks.swift` for the sequence.
    private mutating func startTLS(_ outbound: Output) async throws {
        guard let provider = server.tls else {
            try await write(.tlsNotAvailable, outbound)
            return
        }
        guard !isSecure, let channel else {
            try await write(.tlsAlreadyActive, outbound)
            return
        }
        let eventLoop = channel.eventLoop
        try await StartTLS.afterWriting(POP3Output.response(.beginTLS), on: channel) { sync in
            // Removing the paused decoder drops the plaintext the client sent after STLS.
            let decoder = try sync.handler(type: ByteToMessageHandler<POP3LineDecoder>.self)
            sync.removeHandler(decoder, promise: nil)
            try sync.addHandler(try provider.makeServerHandler(eventLoop: eventLoop), position: .first)
            // The fresh decoder goes where the old one was, behind the byte counter.
            let counter = try sync.handler(type: InboundByteCounter.self)
            try sync.addHandler(
                ByteToMessageHandler(POP3LineDecoder()),
                name: POP3Server.decoderName,
                position: .after(counter)
            )
        }
        isSecure = true
        pendingUser = nil
    }

    /// AUTH (RFC 5034). Without SASL mechanisms (until the SASL library is wired in) every mechanism is refused.
    private mutating func authenticate(
        mechanism: String?,
        initialResponse: String?,
        lines: inout Lines,
        outbound: Output
    ) async throws -> Bool {
        guard let sasl = server.sasl, isPlaintextAllowed else {
            try await write(
                isPlaintextAllowed || server.sasl == nil ? .authNotAvailable : .plaintextDisallowed,
                outbound
            )
            return false
        }
        guard let mechanism else {
            try await write(.mechanisms(await sasl.mechanisms(isSecure: isPrivate)), outbound)
            return false
        }
        guard let exchange = sasl.start(mechanism: mechanism, clientAddress: remoteAddress, isSecure: isPrivate) else {
            try await write(.authNotAvailable, outbound)
            return false
        }
        var response: [UInt8]?
        if let initialResponse {
            guard let decoded = initialResponse == "=" ? [] : SASLBase64.decode(initialResponse) else {
                try await write(.badArguments(POP3CommandError("Invalid base64 data in initial response")), outbound)
                return false
            }
            response = decoded
        }
        while true {
            switch await exchange.step(response) {
            case .done(let login):
                return try await finishLogin(login, user: "", method: mechanism, lines: &lines, outbound: outbound)
            case .challenge(let challenge):
                try await write(.authChallenge(SASLBase64.encode(challenge)), outbound)
                guard let line = try await lines.next() else { return true }
                consumed = line.streamEnd
                let text = String(buffer: line.bytes)
                guard line.isComplete, text != "*", let decoded = SASLBase64.decode(text) else {
                    if !line.isComplete { try await skipRest(&lines) }
                    try await write(.authCancelled, outbound)
                    return false
                }
                response = decoded
            }
        }
    }

    private func skipRest(_ lines: inout Lines) async throws {
        while let piece = try await lines.next() {
            if piece.isComplete { return }
        }
    }
}
