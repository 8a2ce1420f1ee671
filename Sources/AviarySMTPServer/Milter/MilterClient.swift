import AviaryCore
import AviarySMTP

/// How smtpd talks to its milters: Postfix's `milter_*` parameters.
struct MilterSettings: Sendable, Equatable {
    /// `milter_protocol`: the version offered (2 to 6; Aviary speaks 6's packets to all).
    var protocolVersion: UInt32 = 6
    /// `milter_connect_timeout`, seconds.
    var connectTimeout: Double = 30
    /// `milter_command_timeout`, seconds: a reply to one command other than the message content.
    var commandTimeout: Double = 30
    /// `milter_content_timeout`, seconds: a reply to a header, body or end-of-message packet.
    var contentTimeout: Double = 300
    /// `milter_default_action`: what a failed or broken milter means.
    var defaultAction: MilterDefaultAction = .tempfail
    /// `milter_*_macros`: the macro names sent per stage unless the milter asks for others.
    var macroNames: [MilterMacroStage: [String]] = [
        .connect: ["j", "{daemon_name}", "{daemon_addr}", "v", "_"],
        .helo: ["{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"],
        .mail: ["i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"],
        .rcpt: ["i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"],
        .data: ["i"],
        .endOfHeader: ["i"],
        .endOfMessage: ["i"],
    ]
}

/// `milter_default_action`.
enum MilterDefaultAction: String, Sendable, Equatable {
    case accept, reject, tempfail, quarantine
}

/// A milter's answer to one stage, as smtpd acts on it.
enum MilterVerdict: Sendable, Equatable {
    /// Go on asking this milter.
    case proceed
    /// Accept: ask this milter nothing more about this message (or, before MAIL, this connection).
    case accept
    /// Accept the message and throw it away.
    case discard
    /// Refuse with this reply (5xx or 4xx).
    case refuse(SMTPReply)
    /// Keep the message on hold (the default action `quarantine`, or a QUARANTINE at end of message).
    case quarantine(String)

    /// Postfix's replies for a bare REJECT and TEMPFAIL.
    static let rejected = SMTPReply(550, EnhancedStatusCode(5, 7, 1), "Command rejected")
    static let tempfailed = SMTPReply(451, EnhancedStatusCode(4, 7, 1), "Service unavailable - try again later")
}

/// What a milter failure is, for the log.
struct MilterFailure: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// One milter's conversation for one SMTP session: a connection, OPTNEG, then the session's commands, with the
/// agreed steps left out and the "no reply" ones not waited for. Blocking, every wait bounded by a timeout: it
/// runs on smtpd's milter threads, never an event loop, and one session uses it at a time (the session waits
/// for each call before the next), which is what `@unchecked Sendable` rests on.
///
/// A failure (no connection, a timeout, a broken packet) closes the connection and turns every later answer in
/// this session into `milter_default_action`, as Postfix's milter8 does.
final class MilterClient: @unchecked Sendable {
    let endpoint: PolicyServiceEndpoint
    let settings: MilterSettings
    private var descriptor: FileDescriptor?
    private var input: [UInt8] = []
    /// What the milter agreed to in OPTNEG.
    private(set) var agreed: MilterOptions?
    /// Why the milter is no longer asked, once it failed.
    private(set) var failure: MilterFailure?
    /// The failure has been logged (once per session).
    var failureLogged = false
    /// The milter accepted the connection (before MAIL) or the message: nothing more to ask until the next one.
    private var hasAcceptedConnection = false
    private var hasAcceptedMessage = false

    init(endpoint: PolicyServiceEndpoint, settings: MilterSettings) {
        self.endpoint = endpoint
        self.settings = settings
    }

    deinit { descriptor?.close() }

    /// The actions smtpd lets milters take: all of version 6's. libmilter refuses to talk to an MTA that does not
    /// offer every action its milter registered.
    static let offeredActions = MilterActions.all

    // MARK: - Connection

    /// Connects and negotiates.
    func open() -> MilterVerdict {
        guard descriptor == nil, failure == nil else { return currentFailureVerdict ?? .proceed }
        guard let connected = BlockingSocket.connect(to: endpoint, timeout: settings.connectTimeout) else {
            return fail("cannot connect to milter \(endpoint)")
        }
        descriptor = connected
        let offer = MilterOptions(
            version: settings.protocolVersion, actions: Self.offeredActions, protocolSteps: .offeredByAviary)
        do {
            try send(.negotiate(offer))
            let packet = try receive(timeout: settings.commandTimeout)
            guard case .negotiate(let answer) = try MilterResponse(packet) else {
                return fail("milter \(endpoint) did not answer OPTNEG")
            }
            guard answer.version >= 2, answer.version <= 6 else {
                return fail("milter \(endpoint) speaks protocol version \(answer.version)")
            }
            guard Self.offeredActions.isSuperset(of: answer.actions),
                MilterProtocolSteps.offeredByAviary.union([.maximumDataSize256K, .maximumDataSize1M, .rejectedRecipients])
                    .isSuperset(of: answer.protocolSteps)
            else {
                return fail(
                    "milter \(endpoint) asks for actions 0x\(String(answer.actions.rawValue, radix: 16)) or protocol steps"
                        + " 0x\(String(answer.protocolSteps.rawValue, radix: 16)) that smtpd does not offer")
            }
            agreed = answer
            return .proceed
        } catch let error as MilterFailure {
            return fail(error.description)
        } catch {
            return fail("milter \(endpoint): \(error)")
        }
    }

    /// Ends the conversation (QUIT) and closes the connection.
    func close() {
        if let descriptor, failure == nil { try? send(.quit) }
        descriptor?.close()
        descriptor = nil
    }

    // MARK: - Stages

    /// The macros a stage sends: those the milter asked for in OPTNEG, else `milter_*_macros`; only those known.
    func macroPairs(_ stage: MilterMacroStage, _ values: [String: String]) -> [(name: String, value: String)] {
        let names: [String]
        if let asked = agreed?.macroLists[stage] {
            names = asked.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        } else {
            names = settings.macroNames[stage] ?? []
        }
        return names.compactMap { name in
            // Milters write single-letter names with or without braces: `{i}` and `i` are the same macro.
            let bare = name.hasPrefix("{") && name.hasSuffix("}") && name.count == 3 ? String(name.dropFirst().dropLast()) : name
            return values[bare].map { (name, $0) }
        }
    }

    /// CONNECT, HELO, MAIL, RCPT or DATA, with its macros; the verdict.
    func ask(_ command: MilterCommand, stage: MilterMacroStage, macros: [String: String]) -> MilterVerdict {
        if let verdict = currentFailureVerdict { return verdict }
        if case .mail = command { hasAcceptedMessage = false }
        guard let agreed, !hasAcceptedConnection, !hasAcceptedMessage else { return .proceed }
        let steps = agreed.protocolSteps
        let (skip, noReply): (MilterProtocolSteps, MilterProtocolSteps) =
            switch stage {
            case .connect: (.noConnect, .noConnectReply)
            case .helo: (.noHelo, .noHeloReply)
            case .mail: (.noMail, .noMailReply)
            case .rcpt: (.noRecipient, .noRecipientReply)
            case .data: (.noData, .noDataReply)
            case .endOfHeader: (.noEndOfHeader, .noEndOfHeaderReply)
            case .endOfMessage: ([], [])
            }
        guard !steps.contains(skip) else { return .proceed }
        do {
            let pairs = macroPairs(stage, macros)
            if !pairs.isEmpty { try send(.macros(stage: stage.commandLetter, pairs)) }
            try send(command)
            guard !steps.contains(noReply) else { return .proceed }
            return try verdict(stage: stage, timeout: settings.commandTimeout).verdict
        } catch {
            return fail("\(error)")
        }
    }

    /// The message's content and end: every header field, EOH, the body in chunks, EOM with its macros. Returns
    /// the verdict and the modifications the milter asked for, in its order.
    func endOfMessage(
        header: [(name: String, value: String)], body: some Sequence<[UInt8]>, macros: [String: String]
    ) -> (verdict: MilterVerdict, modifications: [MilterResponse]) {
        if let verdict = currentFailureVerdict { return (verdict, []) }
        guard let agreed, !hasAcceptedConnection, !hasAcceptedMessage else { return (.proceed, []) }
        let steps = agreed.protocolSteps
        do {
            if !steps.contains(.noHeaders) {
                for field in header {
                    let value = steps.contains(.headerLeadingSpace) || !field.value.hasPrefix(" ")
                        ? field.value : String(field.value.dropFirst())
                    try send(.header(name: field.name, value: value))
                    if !steps.contains(.noHeaderReply) {
                        let answer = try verdict(stage: .endOfHeader, timeout: settings.contentTimeout)
                        if answer.verdict != .proceed { return (answer.verdict, []) }
                    }
                }
            }
            if !steps.contains(.noEndOfHeader) {
                let pairs = macroPairs(.endOfHeader, macros)
                if !pairs.isEmpty { try send(.macros(stage: MilterMacroStage.endOfHeader.commandLetter, pairs)) }
                try send(.endOfHeader)
                if !steps.contains(.noEndOfHeaderReply) {
                    let answer = try verdict(stage: .endOfHeader, timeout: settings.contentTimeout)
                    if answer.verdict != .proceed { return (answer.verdict, []) }
                }
            }
            if !steps.contains(.noBody) {
                bodyLoop: for piece in body {
                    var offset = 0
                    while offset < piece.count {
                        let end = min(piece.count, offset + MilterCommand.bodyChunkLimit)
                        try send(.body(Array(piece[offset..<end])))
                        offset = end
                        if !steps.contains(.noBodyReply) {
                            let answer = try verdict(stage: .endOfMessage, timeout: settings.contentTimeout, isBody: true)
                            if answer.isSkip { break bodyLoop }
                            if answer.verdict != .proceed { return (answer.verdict, answer.modifications) }
                        }
                    }
                }
            }
            let pairs = macroPairs(.endOfMessage, macros)
            if !pairs.isEmpty { try send(.macros(stage: MilterMacroStage.endOfMessage.commandLetter, pairs)) }
            try send(.endOfMessage)
            let answer = try verdict(stage: .endOfMessage, timeout: settings.contentTimeout, collectsModifications: true)
            return (answer.verdict, answer.modifications)
        } catch {
            return (fail("\(error)"), [])
        }
    }

    /// ABORT: the message ends early (RSET, a refused DATA, a lost client); the milter is asked again at MAIL.
    func abortMessage() {
        hasAcceptedMessage = false
        guard failure == nil, descriptor != nil, agreed != nil else { return }
        do { try send(.abort) } catch { _ = fail("\(error)") }
    }

    // MARK: - Replies

    private struct Answer {
        var verdict: MilterVerdict
        var modifications: [MilterResponse] = []
        var isSkip = false
    }

    /// Reads until a verdict: PROGRESS restarts the timer; modifications are collected at end of message only.
    private func verdict(
        stage: MilterMacroStage, timeout: Double, isBody: Bool = false, collectsModifications: Bool = false
    ) throws -> Answer {
        var modifications: [MilterResponse] = []
        var count = 0
        while true {
            let response = try MilterResponse(try receive(timeout: timeout))
            switch response {
            case .progress:
                count += 1
                // A milter that only ever says "still working" is stalled too.
                guard count < 10_000 else { throw MilterFailure(description: "milter \(endpoint) sends only PROGRESS") }
                continue
            case .continue:
                return Answer(verdict: .proceed, modifications: modifications)
            case .accept:
                if stage == .connect || stage == .helo { hasAcceptedConnection = true } else { hasAcceptedMessage = true }
                return Answer(verdict: .accept, modifications: modifications)
            case .discard:
                hasAcceptedMessage = true
                return Answer(verdict: .discard, modifications: modifications)
            case .reject:
                return Answer(verdict: .refuse(MilterVerdict.rejected))
            case .tempfail, .shutdown, .connectionFailure:
                return Answer(verdict: .refuse(MilterVerdict.tempfailed))
            case .replyCode(let code, let text):
                return Answer(verdict: .refuse(Self.reply(code: code, text: text)))
            case .skip:
                guard isBody, agreed?.protocolSteps.contains(.skip) == true else {
                    throw MilterFailure(description: "milter \(endpoint) sent SKIP outside the body")
                }
                return Answer(verdict: .proceed, modifications: modifications, isSkip: true)
            case .quarantine(let reason) where collectsModifications:
                modifications.append(.quarantine(reason))
            case .addHeader, .insertHeader, .changeHeader, .changeSender, .addRecipient, .addRecipientWithParameters,
                .deleteRecipient, .replaceBody:
                guard collectsModifications else {
                    throw MilterFailure(description: "milter \(endpoint) sent a modification before end of message")
                }
                guard modifications.count < 10_000 else {
                    throw MilterFailure(description: "milter \(endpoint) sent more than 10000 modifications")
                }
                modifications.append(response)
            case .negotiate, .setMacroList, .quarantine:
                throw MilterFailure(description: "milter \(endpoint) sent an unexpected reply")
            }
        }
    }

    /// A REPLYCODE's reply: its enhanced code when it has one of the right class, else x.7.1 as Postfix adds.
    static func reply(code: Int, text: String) -> SMTPReply {
        var words = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        var enhanced = EnhancedStatusCode(code / 100, 7, 1)
        if let first = words.first, let parsed = EnhancedStatusCode(parsing: first), parsed.statusClass == code / 100 {
            enhanced = parsed
            words.removeFirst()
        }
        // Multi-line replies (smfi_setmlreply) come with their own CRLFs: keep each line's text.
        let lines = words.joined(separator: " ").split(separator: "\r\n").map { line -> String in
            let text = String(line)
            guard text.count > 4, Int(text.prefix(3)) == code else { return text }
            let rest = String(text.dropFirst(4))
            if let firstWord = rest.split(separator: " ").first, EnhancedStatusCode(parsing: String(firstWord)) != nil {
                return String(rest.dropFirst(firstWord.count + 1))
            }
            return rest
        }
        return SMTPReply(code: code, enhancedCode: enhanced, lines: lines.isEmpty ? [""] : lines)
    }

    // MARK: - Failure

    /// What every question is answered with once the milter failed: `milter_default_action`.
    private var currentFailureVerdict: MilterVerdict? {
        guard failure != nil else { return nil }
        return Self.verdict(for: settings.defaultAction)
    }

    static func verdict(for action: MilterDefaultAction) -> MilterVerdict {
        switch action {
        case .accept: .accept
        case .reject: .refuse(SMTPReply(550, EnhancedStatusCode(5, 5, 0), "Service unavailable"))
        case .tempfail: .refuse(MilterVerdict.tempfailed)
        case .quarantine: .quarantine("milter failure")
        }
    }

    private func fail(_ reason: String) -> MilterVerdict {
        if failure == nil { failure = MilterFailure(description: reason) }
        descriptor?.close()
        descriptor = nil
        return Self.verdict(for: settings.defaultAction)
    }

    // MARK: - Packets

    private func send(_ command: MilterCommand) throws(MilterFailure) {
        guard let descriptor else { throw MilterFailure(description: "milter \(endpoint): not connected") }
        guard BlockingSocket.send(command.encoded, on: descriptor, until: MonotonicClock.seconds() + settings.commandTimeout)
        else { throw MilterFailure(description: "cannot send to milter \(endpoint)") }
    }

    private func receive(timeout: Double) throws -> MilterPacket {
        guard let descriptor else { throw MilterFailure(description: "milter \(endpoint): not connected") }
        let deadline = MonotonicClock.seconds() + timeout
        while true {
            if let packet = try MilterPacket.next(from: &input) { return packet }
            switch BlockingSocket.receive(on: descriptor, until: deadline) {
            case .bytes(let more): input += more
            case .closed: throw MilterFailure(description: "milter \(endpoint) closed the connection")
            case .timedOut: throw MilterFailure(description: "timeout waiting for a reply from milter \(endpoint)")
            case .failed(let error): throw MilterFailure(description: "cannot read from milter \(endpoint): errno \(error)")
            }
        }
    }
}
