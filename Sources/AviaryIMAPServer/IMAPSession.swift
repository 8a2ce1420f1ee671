import AviaryCore
import AviaryIMAP
import AviaryMailbox
import AviarySASL
import Logging
import NIOCore
import Synchronization

/// One IMAP connection (RFC 9051 3): not authenticated until LOGIN or AUTHENTICATE succeeds, then
/// authenticated, selected while a mailbox is open, logout at the end. Commands run one at a time, in order.
struct IMAPSession {
    typealias Frames = NIOAsyncChannelInboundStream<IMAPFrame>.AsyncIterator
    typealias Output = NIOAsyncChannelOutboundWriter<IMAPOutput>

    /// Dovecot's CLIENT_MAX_BAD_COMMANDS: a client that keeps sending nonsense is cut off.
    static let badCommandLimit = 20
    /// Parenthesis nesting before login: enough for every command allowed then.
    static let preLoginNestingLimit = 4
    static let nestingLimit = 32

    let server: IMAPServer
    let channel: any Channel
    let remoteAddress: String
    let localAddress: String
    /// Dovecot-style session id, in every log line of the session.
    let id: String
    var logger: Logger
    var settings: IMAPServerSettings { server.settings }

    var isSecure = false
    /// The client is on this host or in `login_trusted_networks` (set when the connection is accepted).
    var isTrusted = false
    var failedLogins = 0
    var badCommands = 0
    var user: MailUser?
    var store: MailboxStore?
    var selected: SelectedMailbox?
    /// The UIDs saved by `SEARCH RETURN (SAVE)`, for `$`.
    var savedSearch: [UInt32] = []
    /// Set at login, for the login deadline's timer.
    let isLoggedIn = LoginFlag()
    /// ENABLEd extensions (upper case).
    var enabled: Set<String> = []
    var endReason: String?
    var statistics = Statistics()
    /// The last message read for FETCH or SEARCH, kept for the next command about the same message.
    var messageCache: LoadedMessage?
    /// Untagged lines waiting for the command's tagged answer, so that a command's response goes out in one
    /// write (one system call) rather than one per line.
    let pending = PendingOutput()

    struct Statistics {
        var fetched = 0
        var fetchedOctets = 0
        var expunged = 0
        var appended = 0
    }

    /// COMPRESS DEFLATE is on (RFC 4978): a second one is refused.
    var isCompressed = false
    /// True once a login was handed to imapmail: this process only relays, and imapmail logs the session.
    var isHandedOff = false
    /// The `streamEnd` of the last command the session read (see `ConnectionTransfer`).
    var consumed = 0

    /// - Parameter id: the session id; imapmail takes imapd's, so that both processes' lines share it.
    init(server: IMAPServer, channel: any Channel, remoteAddress: String, localAddress: String, id: String? = nil) {
        self.server = server
        self.channel = channel
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.id = id ?? MailSessionID.make()
        logger = server.logger
        logger[metadataKey: "session"] = "\(id)"
    }

    /// How long a client may take to log in, whatever it sends meanwhile (the idle timeout alone would let a
    /// client that sends NOOP every minute hold a connection slot for ever without logging in).
    static let loginDeadline: Int64 = 180

    /// The whole session, from the greeting.
    mutating func run(inbound: NIOAsyncChannelInboundStream<IMAPFrame>, outbound: Output) async throws {
        let loggedIn = isLoggedIn
        let channel = channel
        channel.eventLoop.scheduleTask(in: .seconds(Self.loginDeadline)) {
            guard !loggedIn.value.load(ordering: .relaxed) else { return }
            channel.writeAndFlush(IMAPOutput.line("* BYE Login timeout.")).whenComplete { _ in channel.close(promise: nil) }
        }
        try await outbound.write(.line("* OK [CAPABILITY \(await capabilities().joined(separator: " "))] \(settings.banner)"))
        var frames = inbound.makeAsyncIterator()
        try await serveCommands(&frames, outbound: outbound)
    }

    /// Commands until LOGOUT, the client's end, or too many bad commands.
    mutating func serveCommands(_ frames: inout Frames, outbound: Output) async throws {
        while let frame = try await frames.next() {
            switch frame {
            case .refused(let tag, let error):
                try await refuseFrame(tag: tag, error, outbound)
            case .command(let bytes, let end):
                consumed = end
                let nesting = user == nil ? Self.preLoginNestingLimit : Self.nestingLimit
                switch IMAPCommandParser.parse(bytes, nestingLimit: nesting, utf8MailboxNames: usesUTF8MailboxNames) {
                case .failure(let error):
                    if error.savesSearch { savedSearch = [] }
                    // RFC 6855 3 (errata 4029): once UTF8=ACCEPT is on, a charset label conflicts, so it is BAD.
                    if error.isBadCharset, let tag = error.tag, !enabled.contains("UTF8=ACCEPT") {
                        // Well-formed, but a charset we do not search in: NO, not BAD (RFC 3501 6.4.4, RFC 5256 3).
                        try await no(tag, error.message, code: "BADCHARSET (UTF-8 US-ASCII)", outbound)
                    } else {
                        try await bad(error.tag, error.message, outbound)
                    }
                case .success(let command):
                    logger.trace("client: \(Self.transcript(of: command))")
                    if try await execute(command, frames: &frames, outbound: outbound) { return }
                }
            }
            if badCommands >= Self.badCommandLimit {
                try await send("* BYE Too many invalid IMAP commands.", outbound)
                endReason = "too many invalid commands"
                return
            }
        }
        endReason = endReason ?? "connection closed by client"
    }

    /// A command for the trace log, with passwords and SASL data shown as `***`.
    static func transcript(of command: IMAPTaggedCommand) -> String {
        switch command.command {
        case .login(let user, _): return "\(command.tag) LOGIN \(user) ***"
        case .authenticate(let mechanism, _): return "\(command.tag) AUTHENTICATE \(mechanism) ***"
        case .append(let mailbox, let messages):
            return "\(command.tag) APPEND \(mailbox)" + messages.map { " {\($0.data.count)}" }.joined()
        default: return "\(command.tag) \(command.command)"
        }
    }

    private mutating func refuseFrame(tag: String?, _ error: IMAPFrameError, _ outbound: Output) async throws {
        switch error {
        case .literalTooLarge where user != nil, .commandTooLarge where user != nil: break
        default: badCommands += 1
        }
        try await send(Self.refusal(tag: tag, error, isLoggedIn: user != nil, appendLimit: settings.appendLimit), outbound)
    }

    /// The answer to a command the frame decoder refused.
    static func refusal(tag: String?, _ error: IMAPFrameError, isLoggedIn: Bool, appendLimit: Int) -> String {
        let tag = tag ?? "*"
        switch error {
        case .lineTooLong: return "\(tag) BAD Command line too long."
        // Only literals make a command this large (lines end at the first one without a literal); once logged
        // in, that is mostly a MULTIAPPEND, whose messages together are held to the APPEND limit, and it is
        // answered as a literal over the limit is.
        case .commandTooLarge where isLoggedIn:
            return "\(tag) NO [TOOBIG] Command over the limit of \(appendLimit) bytes for all its literals together."
        case .commandTooLarge: return "\(tag) BAD Command too large."
        case .literalTooLarge(let size) where !isLoggedIn: return "\(tag) BAD Literal of \(size) bytes too large before login."
        case .literalTooLarge(let size): return "\(tag) NO [TOOBIG] Literal of \(size) bytes is over the limit of \(appendLimit)."
        }
    }

    /// `tag BAD text`, counted against the bad command limit.
    mutating func bad(_ tag: String?, _ text: String, _ outbound: Output) async throws {
        badCommands += 1
        try await send("\(tag ?? "*") BAD \(text)", outbound)
    }

    func ok(_ tag: String, _ text: String, code: String? = nil, _ outbound: Output) async throws {
        try await send("\(tag) OK " + (code.map { "[\($0)] " } ?? "") + text, outbound)
    }

    func no(_ tag: String, _ text: String, code: String? = nil, _ outbound: Output) async throws {
        try await send("\(tag) NO " + (code.map { "[\($0)] " } ?? "") + text, outbound)
    }

    /// Untagged lines: they go out with the next write.
    func untagged(_ lines: [String], _ outbound: Output) async throws {
        for line in lines {
            pending.bytes.append(contentsOf: line.utf8)
            pending.bytes.append(contentsOf: [13, 10])
        }
    }

    /// Writes what is pending and then `line` (CR LF added).
    func send(_ line: String, _ outbound: Output) async throws {
        try await send(bytes: Array((line + "\r\n").utf8), outbound)
    }

    /// Writes what is pending and then `bytes`, in one write.
    func send(bytes: [UInt8], _ outbound: Output) async throws {
        var all = pending.bytes
        pending.bytes = []
        all.append(contentsOf: bytes)
        guard !all.isEmpty else { return }
        try await outbound.write(.data(all))
    }

    /// Runs one command; true when the session is over.
    private mutating func execute(_ tagged: IMAPTaggedCommand, frames: inout Frames, outbound: Output) async throws
        -> Bool
    {
        let tag = tagged.tag
        switch tagged.command {
        case .capability:
            try await untagged(["* CAPABILITY " + (await capabilities()).joined(separator: " ")], outbound)
            try await ok(tag, "Capability completed.", outbound)
        case .noop, .check:
            if case .check = tagged.command, selected == nil { return try await notSelected(tag, outbound) }
            try await reportChanges(allowExpunges: true, force: true, outbound)
            try await ok(tag, tagged.command == .noop ? "NOOP completed." : "Check completed.", outbound)
        case .logout:
            try await untagged(["* BYE Logging out"], outbound)
            try await ok(tag, "Logout completed.", outbound)
            endReason = "Logged out"
            return true
        case .id:
            try await untagged(["* ID (\"name\" \"Aviary\")"], outbound)
            try await ok(tag, "ID completed.", outbound)
        case .startTLS:
            try await startTLS(tag, outbound)
        case .login(let name, let password):
            return try await login(tag, user: name, password: password, frames: &frames, outbound)
        case .authenticate(let mechanism, let initialResponse):
            return try await authenticate(
                tag, mechanism: mechanism, initialResponse: initialResponse, frames: &frames, outbound: outbound)
        default:
            guard user != nil, store != nil else {
                try await bad(tag, "Not logged in.", outbound)
                return false
            }
            try await executeAuthenticated(tagged, frames: &frames, outbound: outbound)
        }
        return false
    }

    func notSelected(_ tag: String, _ outbound: Output) async throws -> Bool {
        try await send("\(tag) BAD No mailbox selected.", outbound)
        return false
    }

    /// What this connection may use now (RFC 9051 7.2.2).
    func capabilities() async -> [String] {
        var names = ["IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE"]
        names.append("IMAP4rev2")
        if user == nil {
            if server.tls != nil && !isSecure { names.append("STARTTLS") }
            if isPlaintextAllowed {
                names += await saslMechanismNames
            } else {
                names.append("LOGINDISABLED")
            }
        } else {
            names += [
                "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
                "CREATE-SPECIAL-USE", "ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC", "COMPRESS=DEFLATE",
                "SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
                "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
                "APPENDLIMIT=\(settings.appendLimit)",
            ]
            names.append("MULTIAPPEND")
            names.append("BINARY")
            names.append("STATUS=SIZE")
            names.append("UTF8=ACCEPT")
        }
        return names
    }

    /// Mailbox names are UTF-8 on the wire, not modified UTF-7: after ENABLE UTF8=ACCEPT (RFC 6855 3) or
    /// ENABLE IMAP4rev2 (RFC 9051 5.1).
    var usesUTF8MailboxNames: Bool { enabled.contains("UTF8=ACCEPT") || enabled.contains("IMAP4REV2") }

    /// IMAP4rev2 is enabled (RFC 9051): no \Recent, ESEARCH answers to SEARCH, a LIST line at SELECT.
    var isRev2: Bool { enabled.contains("IMAP4REV2") }

    /// The AUTH= capabilities.
    var saslMechanismNames: [String] {
        get async {
            guard let sasl = server.sasl else { return [] }
            return await sasl.mechanisms(isSecure: isPrivate).map { "AUTH=" + $0 }
        }
    }

    /// `imapd_tls_auth_only`: passwords only inside TLS, unless the administrator says otherwise.
    var isPlaintextAllowed: Bool { isPrivate || !settings.isTLSRequiredForAuth }

    /// Whether a password sent now stays off the network: TLS is on, or the connection is trusted
    /// (`ClientNetworks.trusts`: from this host, or from `login_trusted_networks`).
    var isPrivate: Bool { isSecure || isTrusted }

    /// The last log line: `logout:` after a login, `disconnect:` before one.
    func end(reason: String?) {
        let why = reason ?? endReason ?? "connection closed"
        if isHandedOff {
            logger.debug("session=<\(id)> handed to imapmail (\(why))")
            return
        }
        if let user {
            logger.info(
                "logout: user=<\(user.userName)>, rip=\(remoteAddress), fetch=\(statistics.fetched)/\(statistics.fetchedOctets), expunged=\(statistics.expunged), appended=\(statistics.appended), session=<\(id)> (\(why))"
            )
        } else {
            let attempts = failedLogins == 0 ? "no auth attempts" : "auth failed, \(failedLogins) attempts"
            logger.info("disconnect: rip=\(remoteAddress), lip=\(localAddress), session=<\(id)> (\(why); \(attempts))")
        }
    }
}

/// The bytes a session has ready but not written yet (see `IMAPSession.pending`).
final class PendingOutput {
    var bytes: [UInt8] = []
}

/// Whether a session has logged in, read by its login deadline's timer on the event loop.
final class LoginFlag: Sendable {
    let value = Atomic<Bool>(false)
}
