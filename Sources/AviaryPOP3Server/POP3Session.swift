import AviaryCore
import AviaryPOP3
import AviarySASL
import Logging
import NIOCore

/// One POP3 conversation (RFC 1939 3): AUTHORIZATION until a login opens the maildrop, TRANSACTION until
/// QUIT, then UPDATE, where deletions and seen flags are applied. A session that ends any other way (timeout,
/// dropped connection) changes nothing.
struct POP3Session {
    typealias Lines = POP3LineSource
    typealias Output = POP3Writer

    /// Dovecot's CLIENT_MAX_BAD_COMMANDS: a client that keeps sending nonsense is cut off.
    static let badCommandLimit = 20

    let server: POP3Server
    /// The client's channel; nil in a pop3mail that serves the client's socket directly (`BlockingPOP3Socket`).
    let channel: (any Channel)?
    let remoteAddress: String
    let localAddress: String
    /// Dovecot-style session id, in every log line of the session.
    let id: String
    var logger: Logger
    var settings: POP3ServerSettings { server.settings }

    var isSecure = false
    /// The client is on this host or in `login_trusted_networks` (set when the connection is accepted).
    var isTrusted = false
    var pendingUser: String?
    var failedLogins = 0
    var badCommands = 0
    var transaction: POP3Transaction?
    var endReason: String?

    /// True once a login was handed to pop3mail: this process relayed or passed the connection, and pop3mail logs
    /// the session.
    var isHandedOff = false
    /// The `streamEnd` of the last line the session read (see `ConnectionTransfer`).
    var consumed = 0
    /// True in pop3mail, where the session starts at login: a maildrop that did not open was logged by `open`.
    var isResumed = false

    /// - Parameter id: the session id; pop3mail takes pop3d's, so that both processes' lines share it.
    init(server: POP3Server, channel: (any Channel)?, remoteAddress: String, localAddress: String, id: String? = nil) {
        self.server = server
        self.channel = channel
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.id = id ?? MailSessionID.make()
        logger = server.logger
        logger[metadataKey: "session"] = "\(self.id)"
    }

    /// The whole session, from the greeting.
    mutating func run(inbound: NIOAsyncChannelInboundStream<POP3Line>, outbound: Output) async throws {
        defer { transaction?.lock?.release() }
        try await outbound.write(.response(.greeting(settings.banner)))
        var lines = Lines.channel(inbound.makeAsyncIterator())
        try await serveCommands(&lines, outbound: outbound)
    }

    /// pop3mail: the session after pop3d's login, from opening the maildrop on. The status line is what pop3d
    /// waits for; after `+OK` the commands are TRANSACTION ones, served by the same code as in pop3d.
    /// - Parameter statusTo: the hand-off connection, when pop3d passed the client's connection (`lines` and
    ///   `outbound`, not read until now): the status line goes there, and only a positive one to the client.
    mutating func resume(
        _ identity: MailUser,
        method: String,
        statusTo handoff: AviaryCore.FileDescriptor? = nil,
        lines: Lines,
        outbound: Output
    ) async throws {
        defer { transaction?.lock?.release() }
        isResumed = true
        let response = await open(identity)
        if response == .loggedIn {
            logger.info(
                "login: user=<\(identity.userName)>, method=\(method), rip=\(remoteAddress), lip=\(localAddress), session=<\(id)>"
            )
        }
        if let handoff {
            // A few bytes into an idle local socket that pop3d is waiting on: this write does not block.
            try? UnixSocket.send(Array((response.statusLine + "\r\n").utf8), on: handoff)
            handoff.close()
            guard response.isPositive else { return }
        }
        try await write(response, outbound)
        guard transaction != nil else {
            endReason = "mailbox unavailable"
            return
        }
        var lines = lines
        try await serveCommands(&lines, outbound: outbound)
    }

    private mutating func serveCommands(_ lines: inout Lines, outbound: Output) async throws {
        while let line = try await lines.next() {
            consumed = line.streamEnd
            guard line.isComplete else {
                try await skipRestOfLine(&lines)
                if try await refuse(.lineTooLong, outbound) { return }
                continue
            }
            switch POP3CommandParser.parse(line.bytes.readableBytesView) {
            case .failure(let error):
                if try await refuse(.badArguments(error), outbound) { return }
            case .success(let command):
                logger.trace("client: \(Self.transcript(of: command, line: line.bytes))")
                if try await execute(command, lines: &lines, outbound: outbound) { return }
            }
        }
        endReason = endReason ?? "connection closed by client"
    }

    /// A command line for the trace log, with passwords and SASL data shown as `***`.
    static func transcript(of command: POP3Command, line: ByteBuffer) -> String {
        switch command {
        case .pass: return "PASS ***"
        case .auth(let mechanism?, _?): return "AUTH \(mechanism) ***"
        default: return String(buffer: line)
        }
    }

    /// Answers a malformed command; true when the client has sent too many.
    private mutating func refuse(_ response: POP3Response, _ outbound: Output) async throws -> Bool {
        badCommands += 1
        try await outbound.write(.response(response))
        guard badCommands >= Self.badCommandLimit else { return false }
        endReason = "too many invalid commands"
        return true
    }

    private func skipRestOfLine(_ lines: inout Lines) async throws {
        while let piece = try await lines.next() {
            if piece.isComplete { return }
        }
    }

    /// Runs one command; true when the session is over.
    private mutating func execute(_ command: POP3Command, lines: inout Lines, outbound: Output) async throws -> Bool {
        switch command {
        case .quit:
            return try await quit(outbound)
        case .capa:
            try await outbound.write(.response(.capabilities(await capabilities())))
            return false
        default:
            break
        }
        if transaction != nil {
            let response = try await executeInTransaction(command, outbound: outbound)
            if let response { try await write(response, outbound) }
            return badCommands >= Self.badCommandLimit
        }
        return try await executeInAuthorization(command, lines: &lines, outbound: outbound)
    }

    func write(_ response: POP3Response, _ outbound: Output) async throws {
        try await outbound.write(.response(response))
    }

    private mutating func quit(_ outbound: Output) async throws -> Bool {
        guard var current = transaction else {
            try await outbound.write(.response(.loggingOut))
            endReason = "Logged out"
            return true
        }
        let response = await current.update(server: server, logger: logger)
        transaction = current
        try await outbound.write(.response(response))
        endReason = response.isPositive ? "Logged out" : "Logged out, update failed"
        return true
    }

    /// CAPA (RFC 2449 5): what this connection may use now.
    func capabilities() async -> [String] {
        var lines = ["CAPA", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if transaction == nil {
            if isPlaintextAllowed { lines.append("USER") }
            if let sasl = server.sasl, isPlaintextAllowed {
                let names = await sasl.mechanisms(isSecure: isPrivate)
                if !names.isEmpty { lines.append((["SASL"] + names).joined(separator: " ")) }
            }
            if server.tls != nil && !isSecure { lines.append("STLS") }
        }
        lines.append("IMPLEMENTATION Aviary")
        return lines
    }

    /// `pop3d_tls_auth_only`: passwords only inside TLS, unless the administrator says otherwise.
    var isPlaintextAllowed: Bool { isPrivate || !settings.isTLSRequiredForAuth }

    /// Whether a password sent now stays off the network: TLS is on, or the connection is trusted
    /// (`ClientNetworks.trusts`: from this host, or from `login_trusted_networks`).
    var isPrivate: Bool { isSecure || isTrusted }

    /// The last log line: `logout:` after a login, `disconnect:` before one.
    func end(reason: String?) {
        let why = reason ?? endReason ?? "connection closed"
        if isHandedOff {
            logger.debug("session=<\(id)> handed to pop3mail (\(why))")
            return
        }
        if isResumed && transaction == nil { return }
        if let transaction {
            let stats = transaction.statistics
            logger.info(
                "logout: user=<\(transaction.identity.userName)>, rip=\(remoteAddress), top=\(stats.top)/\(stats.topOctets), retr=\(stats.retrieved)/\(stats.retrievedOctets), del=\(stats.deleted)/\(transaction.maildrop.messages.count), size=\(transaction.maildrop.totalSize), session=<\(id)> (\(why))"
            )
        } else {
            let attempts = failedLogins == 0 ? "no auth attempts" : "auth failed, \(failedLogins) attempts"
            logger.info("disconnect: rip=\(remoteAddress), lip=\(localAddress), session=<\(id)> (\(why); \(attempts))")
        }
    }
}
