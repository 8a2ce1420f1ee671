import AviaryConfig
import AviaryQueue
import AviarySMTP
import Logging
import NIOPosix

/// smtpd's milters (`smtpd_milters`) and the threads their conversations run on.
///
/// Every exchange with a milter blocks a thread of `threads` for at most a timeout (`milter_connect_timeout`,
/// `milter_command_timeout`, `milter_content_timeout`): never an event loop, never the pool that writes queue
/// files, so a stalled milter holds up only the sessions waiting for it.
final class SMTPMilters: Sendable {
    let endpoints: [PolicyServiceEndpoint]
    let settings: MilterSettings
    let threads: NIOThreadPool

    static let threadCount = 16

    /// nil when `smtpd_milters` is empty. Entries that are not `unix:/path` or `inet:host:port` are logged and
    /// skipped.
    init?(config: MainConfig, logger: Logger) {
        var endpoints: [PolicyServiceEndpoint] = []
        for entry in config.list(.smtpdMilters) {
            guard let endpoint = PolicyServiceEndpoint(entry) else {
                logger.warning("smtpd_milters: ignoring \"\(entry)\": not unix:/path or inet:host:port")
                continue
            }
            endpoints.append(endpoint)
        }
        if !config.list(.nonSMTPDMilters).isEmpty {
            logger.warning("non_smtpd_milters is not supported yet: mail from sendmail and pickup is not given to milters")
        }
        guard !endpoints.isEmpty else { return nil }
        self.endpoints = endpoints
        var settings = MilterSettings()
        settings.protocolVersion = UInt32(min(6, max(2, config.integer(.milterProtocol))))
        settings.connectTimeout = Double(max(1, config.seconds(.milterConnectTimeout)))
        settings.commandTimeout = Double(max(1, config.seconds(.milterCommandTimeout)))
        settings.contentTimeout = Double(max(1, config.seconds(.milterContentTimeout)))
        let action = config.string(.milterDefaultAction).lowercased()
        if let known = MilterDefaultAction(rawValue: action) {
            settings.defaultAction = known
        } else {
            logger.warning("milter_default_action: unknown action \"\(action)\"; using tempfail")
        }
        settings.macroNames = [
            .connect: config.list(.milterConnectMacros), .helo: config.list(.milterHeloMacros),
            .mail: config.list(.milterMailMacros), .rcpt: config.list(.milterRcptMacros),
            .data: config.list(.milterDataMacros), .endOfHeader: config.list(.milterEndOfHeaderMacros),
            .endOfMessage: config.list(.milterEndOfDataMacros),
        ]
        self.settings = settings
        threads = NIOThreadPool(numberOfThreads: Self.threadCount)
        threads.start()
    }

    deinit { threads.shutdownGracefully { _ in } }

    /// The conversations of one SMTP session, one per milter.
    func session() -> MilterSession {
        MilterSession(clients: endpoints.map { MilterClient(endpoint: $0, settings: settings) })
    }
}

/// One SMTP session's milters, asked in order at each stage: the first verdict other than "go on" decides (a
/// milter that accepted is not asked again about that message). Used by one session, one call at a time, on
/// the milter threads (`@unchecked Sendable` rests on that).
final class MilterSession: @unchecked Sendable {
    let clients: [MilterClient]
    private var isConnected = false
    private var lastHelo: String?
    /// A refusal at CONNECT answers every MAIL of the session; one at HELO every MAIL until the next HELO.
    private var connectionVerdict: MilterVerdict?
    private var heloVerdict: MilterVerdict?
    /// A message was begun (MAIL) and has not reached its end: the next MAIL needs an ABORT first.
    private var isInMessage = false

    init(clients: [MilterClient]) { self.clients = clients }

    /// The connection's facts for CONNECT.
    struct Connection: Sendable {
        var clientName: String
        var clientAddress: String
        var clientPort: UInt16 = 0
    }

    /// CONNECT (once per session) and HELO (when the name changed), then MAIL.
    func mail(
        connection: Connection, helo: String?, arguments: [String], macros: [String: String], logger: Logger
    ) -> MilterVerdict {
        if !isConnected {
            isConnected = true
            let family = connection.clientAddress.contains(":") ? UInt8(ascii: "6") : UInt8(ascii: "4")
            let verdict = each(logger) { client in
                let opened = client.open()
                guard opened == .proceed else { return opened }
                return client.ask(
                    .connect(hostname: connection.clientName, family: family, port: connection.clientPort,
                        address: connection.clientAddress), stage: .connect, macros: macros)
            }
            if verdict != .proceed, verdict != .accept { connectionVerdict = verdict }
        }
        if let connectionVerdict { return connectionVerdict }
        if let helo, helo != lastHelo {
            lastHelo = helo
            let verdict = each(logger) { $0.ask(.helo(helo), stage: .helo, macros: macros) }
            heloVerdict = verdict != .proceed && verdict != .accept ? verdict : nil
        }
        if let heloVerdict { return heloVerdict }
        if isInMessage { abort() }
        isInMessage = true
        return each(logger) { $0.ask(.mail(arguments), stage: .mail, macros: macros) }
    }

    func rcpt(arguments: [String], macros: [String: String], logger: Logger) -> MilterVerdict {
        each(logger) { $0.ask(.rcpt(arguments), stage: .rcpt, macros: macros) }
    }

    func data(macros: [String: String], logger: Logger) -> MilterVerdict {
        each(logger) { $0.ask(.data, stage: .data, macros: macros) }
    }

    /// What the milters made of a message at its end.
    struct Outcome: Sendable {
        /// A QUARANTINE from any milter makes it `.quarantine`.
        var verdict: MilterVerdict
        /// The header section (with the empty line after it), with the milters' header changes.
        var head: [UInt8]
        /// The body a milter put in place of the message's (REPLBODY), with CRLF line ends.
        var replacementBody: [UInt8]?
        /// CHGFROM, ADDRCPT, ADDRCPT_PAR and DELRCPT, in the order they came.
        var envelopeChanges: [MilterResponse] = []

        /// Whether the queue file must differ from the message received.
        func changes(_ originalHead: [UInt8]) -> Bool {
            head != originalHead || replacementBody != nil || !envelopeChanges.isEmpty
        }
    }

    /// The message through every milter in turn, each seeing the previous ones' changes. `head` is the header
    /// section with the empty line after it; `body` gives the body in pieces, each time it is called (a large
    /// message is read back from its queue file, never held whole).
    func endOfMessage(
        head: [UInt8], body: () -> AnySequence<[UInt8]>, macros: [String: String], logger: Logger
    ) -> Outcome {
        isInMessage = false
        var outcome = Outcome(verdict: .proceed, head: head)
        var quarantine: String?
        for client in clients {
            let header = MilterHeaderEditor.fields(of: outcome.head)
            let pieces = outcome.replacementBody.map { AnySequence([$0]) } ?? body()
            let (verdict, modifications) = client.endOfMessage(header: header, body: pieces, macros: macros)
            logFailure(client, logger)
            var replacementBody: [UInt8]?
            for modification in modifications {
                switch modification {
                case .quarantine(let reason): quarantine = reason
                case .replaceBody(let chunk): replacementBody = (replacementBody ?? []) + chunk
                case .changeSender, .addRecipient, .addRecipientWithParameters, .deleteRecipient:
                    outcome.envelopeChanges.append(modification)
                default: break
                }
            }
            MilterHeaderEditor.apply(
                modifications, to: &outcome.head,
                hasLeadingSpace: client.agreed?.protocolSteps.contains(.headerLeadingSpace) == true)
            if let replacementBody { outcome.replacementBody = MilterHeaderEditor.withCRLF(replacementBody) }
            switch verdict {
            case .proceed, .accept: continue
            case .quarantine(let reason): quarantine = reason
            case .discard, .refuse:
                outcome.verdict = verdict
                return outcome
            }
        }
        if let quarantine { outcome.verdict = .quarantine(quarantine) }
        return outcome
    }

    /// The envelope after a milter's CHGFROM, ADDRCPT, ADDRCPT_PAR and DELRCPT (Postfix ignores the ESMTP
    /// parameters of the changes; so does Aviary). Addresses come with or without angle brackets.
    static func applying(
        _ changes: [MilterResponse], to envelope: QueueEnvelope
    ) -> QueueEnvelope {
        var envelope = envelope
        func bare(_ address: String) -> String {
            let trimmed = address.trimmingWhitespace()
            return trimmed.hasPrefix("<") && trimmed.hasSuffix(">") ? String(trimmed.dropFirst().dropLast()) : trimmed
        }
        for change in changes {
            switch change {
            case .changeSender(let sender, _):
                envelope.sender = bare(sender)
            case .addRecipient(let address), .addRecipientWithParameters(let address, _):
                let address = bare(address)
                guard !address.isEmpty,
                    !envelope.recipients.contains(where: { $0.address.lowercased() == address.lowercased() })
                else { continue }
                envelope.recipients.append(QueueRecipient(address: address))
            case .deleteRecipient(let address):
                let address = bare(address).lowercased()
                envelope.recipients.removeAll { $0.address.lowercased() == address }
            default:
                break
            }
        }
        return envelope
    }

    /// ABORT to every milter (RSET, a refused message, a lost client).
    func abort() {
        for client in clients { client.abortMessage() }
    }

    /// QUIT to every milter and close the connections.
    func close() {
        for client in clients { client.close() }
    }

    private func each(_ logger: Logger, _ stage: (MilterClient) -> MilterVerdict) -> MilterVerdict {
        var result = MilterVerdict.proceed
        for client in clients {
            let verdict = stage(client)
            logFailure(client, logger)
            switch verdict {
            case .proceed: continue
            case .accept: result = .accept
            case .refuse, .discard, .quarantine: return verdict
            }
        }
        return result
    }

    private func logFailure(_ client: MilterClient, _ logger: Logger) {
        guard let failure = client.failure, !client.failureLogged else { return }
        client.failureLogged = true
        logger.warning("\(failure.description); milter_default_action = \(client.settings.defaultAction.rawValue)")
    }
}
