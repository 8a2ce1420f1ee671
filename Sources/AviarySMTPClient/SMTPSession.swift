import AviaryIPC
import AviaryMessage
import AviaryQueue
import AviarySASL
import AviarySMTP
import AviaryTLS
import Logging
import NIOCore

/// One server to try: a host name (MX name or the next hop's host) and one of its addresses.
struct SMTPTarget: Sendable {
    var hostName: String
    var address: String
    var port: Int
    /// Whether this host is (one of) the most preferred for the destination: the best MX, or the host itself
    /// when there is no MX. A loop back to ourselves bounces there; from a less preferred MX (we are a backup
    /// MX and the better ones are down) it only defers.
    var isBestMX = true
    /// `mx.example.test[127.0.0.1]:25`.
    var relay: String { "\(hostName)[\(address)]:\(port)" }
    /// `mx.example.test[127.0.0.1]`, as Postfix quotes a host in result texts.
    var hostText: String { "\(hostName)[\(address)]" }
}

/// The message as the session sends it.
struct OutboundMessage {
    var file: QueueFile
    var sender: String
    /// The recipients still to deliver, with their queue-file record (DSN NOTIFY and ORCPT).
    var recipients: [(request: DeliveryRequest.Recipient, queued: QueueRecipient)]
    var requiresSMTPUTF8: Bool
    var bodyType: String?
    var dsnReturn: DSNReturn?
    var envelopeID: DSNEnvelopeID?
    /// The message converted for this server (8-bit MIME downgraded to 7-bit), sent instead of the queue file's.
    var converted: [UInt8]? = nil
}

/// How one session with one server ended.
enum SessionEnd {
    /// Outcomes for the recipients the server answered for (possibly not all: the rest go to the next host).
    case finished([DeliveryResult.Outcome])
    /// The server could not be used; every recipient gets this outcome unless another host does better.
    /// `bounced` is final: no other host is tried.
    /// `remoteReply`: the server's refusal (for a DSN's Diagnostic-Code), when it gave one.
    /// `reachedServer`: a greeting was received (counts against smtp_mx_session_limit).
    case hostFailed(
        DeliveryResult.Status, dsn: String, text: String, remoteReply: String? = nil, reachedServer: Bool)
    /// TLS failed at level `may`: Postfix tries the same server again without TLS.
    case retryWithoutTLS(String)
}

/// Credentials for one next hop, from smtp_sasl_password_maps.
struct SASLCredentials: Sendable {
    var username: String
    var password: String
}

/// One SMTP conversation with one server (Postfix `smtp_proto.c`): greeting, EHLO (HELO after a 5xx),
/// STARTTLS, AUTH, MAIL/RCPT/DATA (pipelined when offered), QUIT.
struct SMTPSession {
    let settings: SMTPClientSettings
    let group: any EventLoopGroup
    let tlsContext: TLSContext?
    let target: SMTPTarget
    let nextHop: NextHop
    let credentials: SASLCredentials?
    let useTLS: Bool
    let logger: Logger

    var connection: SMTPConnection!
    var capabilities = SMTPCapabilities()
    var isEncrypted = false

    init(
        settings: SMTPClientSettings, group: any EventLoopGroup, tlsContext: TLSContext?, target: SMTPTarget,
        nextHop: NextHop, credentials: SASLCredentials?, useTLS: Bool, logger: Logger
    ) {
        self.settings = settings
        self.group = group
        self.tlsContext = tlsContext
        self.target = target
        self.nextHop = nextHop
        self.credentials = credentials
        self.useTLS = useTLS
        self.logger = logger
    }

    /// Runs the whole conversation. Never throws: every failure becomes an outcome.
    mutating func run(_ message: OutboundMessage) -> SessionEnd {
        do {
            connection = try SMTPConnection.connect(
                hostName: target.hostName, address: target.address, port: target.port, group: group,
                timeout: settings.connectTimeout)
        } catch {
            return .hostFailed(.deferred, dsn: "4.4.1", text: error.message, reachedServer: false)
        }
        defer { connection.close() }
        do {
            if let failure = try open() { return failure }
            let outcomes = try transaction(message)
            quit()
            return .finished(outcomes)
        } catch {
            return .hostFailed(.deferred, dsn: "4.4.2", text: error.message, reachedServer: true)
        }
    }

    /// Greeting, EHLO/HELO, STARTTLS, AUTH. Returns how the session ends when it cannot go on to MAIL.
    private mutating func open() throws(SMTPClientError) -> SessionEnd? {
        let greeting = try connection.reply(timeout: settings.heloTimeout, stage: "receiving the initial server greeting")
        guard greeting.code == 220 else {
            // Postfix's smtp_skip_5xx_greeting: a server that will not talk is skipped, whatever its code.
            return .hostFailed(
                .deferred,
                dsn: (greeting.enhancedCode ?? EnhancedStatusCode(4, 3, 0)).withClass(.persistentTransientFailure).description,
                text: "host \(target.hostText) refused to talk to me: \(greeting.singleLineText)",
                remoteReply: greeting.singleLineText, reachedServer: true)
        }
        if let failure = loopCheck(greeting, "greeted me") { return failure }
        if let failure = try hello() { return failure }
        if let failure = try negotiateTLS() { return failure }
        if let failure = try authenticate() { return failure }
        return nil
    }

    /// EHLO, or HELO when EHLO gets a 5xx.
    mutating func hello() throws(SMTPClientError) -> SessionEnd? {
        let ehlo = try command("EHLO \(settings.heloName)", timeout: settings.heloTimeout, stage: "sending EHLO")
        if ehlo.code == 250 {
            if !isEncrypted, let failure = loopCheck(ehlo, "replied to HELO/EHLO") { return failure }
            capabilities = SMTPCapabilities(ehloReply: ehlo)
            return nil
        }
        var reply = ehlo
        if ehlo.isPermanentFailure && !isEncrypted {
            reply = try command("HELO \(settings.heloName)", timeout: settings.heloTimeout, stage: "sending HELO")
            if reply.code == 250 {
                capabilities = SMTPCapabilities()
                return nil
            }
        }
        let verb = reply == ehlo ? "EHLO" : "HELO"
        return siteFailure(reply, command: verb)
    }

    /// Postfix's loop detection: a server that names itself with our own `myhostname` (in its greeting or its
    /// EHLO reply) is us, reached through an MX record or a route that points back here. Delivering would send
    /// the message round until hopcount_limit; instead it bounces with 5.4.6 "loops back to myself" (defers when
    /// we were only a backup MX).
    func loopCheck(_ reply: SMTPReply, _ how: String) -> SessionEnd? {
        guard let first = reply.lines.first, !settings.myHostname.isEmpty,
            first.split(separator: " ", maxSplits: 1).first.map({ $0.lowercased() == settings.myHostname.lowercased() }) == true
        else { return nil }
        logger.warning("host \(target.hostText) \(how) with my own hostname \(settings.myHostname)")
        let text = "mail for \(nextHop.text) loops back to myself"
        return target.isBestMX
            ? .hostFailed(.bounced, dsn: "5.4.6", text: text, reachedServer: true)
            : .hostFailed(.deferred, dsn: "4.4.6", text: text, reachedServer: true)
    }

    /// Sends one command line and reads its reply.
    /// - Parameter isSecret: the line carries credentials: the transcript shows `***`.
    func command(
        _ line: String, timeout: TimeAmount, stage: String, isSecret: Bool = false
    ) throws(SMTPClientError) -> SMTPReply {
        logger.trace("> \(target.hostText): \(isSecret ? "***" : line)")
        try connection.send(commands: [line])
        let reply = try connection.reply(timeout: timeout, stage: stage)
        logger.trace("< \(target.hostText): \(reply.singleLineText)")
        return reply
    }

    /// A failed reply to a command that concerns the whole session: 4xx lets the next host try, 5xx is final.
    func siteFailure(_ reply: SMTPReply, command: String) -> SessionEnd {
        let text = "host \(target.hostText) said: \(reply.singleLineText) (in reply to \(command) command)"
        let permanent = reply.isPermanentFailure
        return .hostFailed(
            permanent ? .bounced : .deferred, dsn: Self.dsn(reply, default: permanent ? "5.0.0" : "4.0.0"), text: text,
            remoteReply: reply.singleLineText, reachedServer: true)
    }

    /// QUIT, politely; its failure changes nothing.
    func quit() {
        _ = try? command("QUIT", timeout: settings.quitTimeout, stage: "sending QUIT")
    }

    /// The reply's enhanced status code, or one made from its code class.
    static func dsn(_ reply: SMTPReply, default fallback: String) -> String {
        reply.enhancedCode.map { "\($0)" } ?? fallback
    }
}
