import AviaryCore
import AviaryDaemon
import AviaryIMAP
import AviaryMailbox
import AviarySASL
import AviaryTLS
import AviaryUsers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

extension IMAPSession {
    /// LOGIN (RFC 9051 6.2.3); LOGINDISABLED without TLS unless `imapd_tls_auth_only = no`.
    mutating func login(_ tag: String, user name: String, password: String, frames: inout Frames, _ outbound: Output)
        async throws -> Bool
    {
        guard user == nil else {
            try await bad(tag, "Already logged in.", outbound)
            return false
        }
        guard isPlaintextAllowed else {
            try await no(tag, "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
                code: "PRIVACYREQUIRED", outbound)
            return false
        }
        let result = await server.passwords.verify(user: name, password: password, clientAddress: remoteAddress)
        return try await finishLogin(tag, result, user: name, method: "PLAIN", frames: &frames, outbound)
    }

    /// AUTHENTICATE (RFC 9051 6.2.2) with SASL-IR (RFC 4959): `+ base64` challenges, `*` cancels.
    mutating func authenticate(
        _ tag: String,
        mechanism: String,
        initialResponse: String?,
        frames: inout Frames,
        outbound: Output
    ) async throws -> Bool {
        guard user == nil else {
            try await bad(tag, "Already logged in.", outbound)
            return false
        }
        guard isPlaintextAllowed else {
            try await no(tag, "Authentication disallowed on non-secure (SSL/TLS) connections.",
                code: "PRIVACYREQUIRED", outbound)
            return false
        }
        let name = mechanism.uppercased()
        guard let sasl = server.sasl, (await sasl.mechanisms(isSecure: isPrivate)).contains(name),
            let exchange = sasl.start(mechanism: name, clientAddress: remoteAddress, isSecure: isPrivate)
        else {
            try await no(tag, "Unsupported authentication mechanism.", outbound)
            return false
        }
        var response: [UInt8]?
        if let initialResponse {
            guard let decoded = initialResponse == "=" ? [] : SASLBase64.decode(initialResponse) else {
                try await bad(tag, "Invalid base64 data in initial response.", outbound)
                return false
            }
            response = decoded
        }
        while true {
            switch await exchange.step(response) {
            case .done(let result):
                return try await finishLogin(tag, result, user: "", method: name, frames: &frames, outbound)
            case .challenge(let challenge):
                try await send("+ " + SASLBase64.encode(challenge), outbound)
                guard let frame = try await frames.next() else { return true }
                guard case .command(let bytes, let end) = frame else {
                    try await bad(tag, "Authentication response too long.", outbound)
                    return false
                }
                consumed = end
                let text = String(decoding: bytes, as: UTF8.self)
                if text == "*" {
                    try await bad(tag, "Authentication aborted by client.", outbound)
                    return false
                }
                guard let decoded = SASLBase64.decode(text) else {
                    try await bad(tag, "Invalid base64 data in continued response.", outbound)
                    return false
                }
                response = decoded
            }
        }
    }

    /// A successful login opens the user's mailboxes; a failed one is answered slowly, and the last one allowed
    /// ends the session.
    private mutating func finishLogin(_ tag: String, _ result: MailLogin, user name: String, method: String,
        frames: inout Frames, _ outbound: Output) async throws -> Bool
    {
        let place = "method=\(method), rip=\(remoteAddress), lip=\(localAddress)\(isSecure ? ", TLS" : ""), session=<\(id)>"
        switch result {
        case .success(let identity):
            if let socket = server.mailboxServiceSocket(for: identity) {
                return try await handOff(tag, identity, method: method, to: socket, frames: &frames, outbound)
            }
            guard let root = mailboxLocation(of: identity) else {
                logger.warning("login refused: user=<\(identity.userName)>, \(place) (no Maildir for IMAP)")
                try await no(tag, "This mailbox is not available over IMAP.", code: "UNAVAILABLE", outbound)
                return false
            }
            guard await open(identity, root) else {
                try await no(tag, "Mailbox unavailable, try again later.", code: "UNAVAILABLE", outbound)
                return false
            }
            logger.info("login: user=<\(identity.userName)>, \(place)")
            try await enterAuthenticatedState(outbound)
            try await ok(tag, "Logged in", code: "CAPABILITY " + (await capabilities()).joined(separator: " "), outbound)
            return false
        case .temporaryFailure(let reason):
            logger.warning("auth failed: user=<\(name)>, \(place) (temporary failure: \(reason))")
            try await no(tag, "Temporary authentication failure.", code: "UNAVAILABLE", outbound)
            return false
        case .failure(let reason):
            failedLogins += 1
            server.metrics.count(.authFailures, "imap")
            logger.info("auth failed: user=<\(name)>, \(place) (\(reason))")
            let base = settings.authFailureDelay
            if base > .zero { try await Task.sleep(for: min(base * (1 << min(failedLogins - 1, 4)), .seconds(15))) }
            guard failedLogins < settings.authFailureLimit else {
                try await untagged(["* BYE Too many invalid authentication attempts."], outbound)
                try await no(tag, "Authentication failed.", code: "AUTHENTICATIONFAILED", outbound)
                endReason = "too many failed logins"
                return true
            }
            try await no(tag, "Authentication failed.", code: "AUTHENTICATIONFAILED", outbound)
            return false
        }
    }

    /// Opens the user's mailboxes (a new account gets its folders); false, logged, when that fails.
    mutating func open(_ identity: MailUser, _ root: Maildir) async -> Bool {
        var store = MailboxStore(root: root, specialUseFolders: settings.specialUseFolders)
        let defaultQuota = settings.mailboxQuotaLimit
        let users = server.users
        let unprepared = store
        do {
            store.quota = try await server.pool.runIfActive { () throws -> QuotaLimits in
                try unprepared.prepareNewAccount()
                switch identity {
                case .virtual(let entry): return QuotaLimits(rule: entry.quotaRule, defaultStorage: defaultQuota)
                case .system(let account):
                    return QuotaLimits(rule: users.virtualUser(account.name)?.quotaRule, defaultStorage: defaultQuota)
                }
            }
        } catch {
            logger.warning("user=<\(identity.userName)>, session=<\(id)>: cannot open \(root.path): \(error)")
            return false
        }
        user = identity
        self.store = store
        isLoggedIn.value.store(true, ordering: .relaxed)
        return true
    }

    /// The Maildir a login opens: a virtual user's under `virtual_mailbox_base`, a system user's `home_mailbox`
    /// when it is a Maildir and imapd runs as that user. nil otherwise (mbox, or another uid).
    func mailboxLocation(of identity: MailUser) -> Maildir? {
        let location: UserMailbox
        switch identity {
        case .virtual(let entry):
            location = .virtual(user: entry.user, base: settings.virtualMailboxBase)
        case .system(let account):
            guard account.uid == geteuid() else { return nil }
            location = .system(account, homeMailbox: settings.homeMailbox, spoolDirectory: settings.mailSpoolDirectory)
        }
        guard case .maildir(let path) = location else { return nil }
        return Maildir(path: path)
    }

    /// After login: literals up to APPENDLIMIT, and the long idle timeout instead of the login timeout.
    func enterAuthenticatedState(_ outbound: Output) async throws {
        try await outbound.write(.literalLimit(settings.appendLimit))
        let timeout = settings.timeoutSeconds
        let channel = channel
        try await channel.eventLoop.submit {
            let sync = channel.pipeline.syncOperations
            let old = try sync.handler(type: IdleStateHandler.self)
            try sync.addHandler(IdleStateHandler(allTimeout: .seconds(Int64(timeout))), position: .after(old))
            sync.removeHandler(old, promise: nil)
        }.get()
    }

    /// STARTTLS (RFC 9051 6.2.1), one event-loop step (AviaryTLS `StartTLS`): the decoder stopped after the
    /// command, so removing it drops whatever the client pipelined behind it in plaintext.
    mutating func startTLS(_ tag: String, _ outbound: Output) async throws {
        guard let provider = server.tls, !isSecure, user == nil else {
            let text = user != nil ? "Already logged in." : isSecure ? "TLS is already active." : "TLS support isn't enabled."
            try await send(bytes: [], outbound)
            try await outbound.write(.startTLSRefused(Array("\(tag) BAD \(text)\r\n".utf8)))
            badCommands += 1
            return
        }
        let eventLoop = channel.eventLoop
        try await StartTLS.afterWriting(IMAPOutput.line("\(tag) OK Begin TLS negotiation now."), on: channel) { sync in
            let decoder = try sync.handler(type: ByteToMessageHandler<IMAPFrameDecoder>.self)
            sync.removeHandler(decoder, promise: nil)
            try sync.addHandler(try provider.makeServerHandler(eventLoop: eventLoop), position: .first)
            // The fresh decoder goes where the old one was, behind the byte counter.
            let counter = try sync.handler(type: InboundByteCounter.self)
            try sync.addHandler(
                ByteToMessageHandler(IMAPFrameDecoder(literalLimit: IMAPServerSettings.preLoginLiteralLimit)),
                name: IMAPServer.decoderName,
                position: .after(counter))
        }
        isSecure = true
    }
}
