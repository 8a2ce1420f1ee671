/// What a milter sends the MTA (SMFIR_*, and its OPTNEG).
public enum MilterResponse: Sendable, Hashable {
    /// 'O': the milter's choice of version, actions, steps and macros.
    case negotiate(MilterOptions)
    /// 'a': accept the message (or connection) without further questions.
    case accept
    /// 'c': go on.
    case `continue`
    /// 'd': accept the message and throw it away.
    case discard
    /// 'r': reject (5xx).
    case reject
    /// 't': fail temporarily (4xx).
    case tempfail
    /// 'y': reject or fail with this reply: code, optional enhanced code and text, as "550 5.7.1 text".
    case replyCode(code: Int, text: String)
    /// 's': send no more BODY chunks.
    case skip
    /// 'p': still working, restart the timer.
    case progress
    /// 'h': append a header field.
    case addHeader(name: String, value: String)
    /// 'i': insert a header field at `index` (0: first).
    case insertHeader(index: UInt32, name: String, value: String)
    /// 'm': change the `index`-th (from 1) field called `name`; an empty value deletes it.
    case changeHeader(index: UInt32, name: String, value: String)
    /// 'e': replace the envelope sender (with optional ESMTP parameters).
    case changeSender(String, parameters: String?)
    /// '+': add a recipient.
    case addRecipient(String)
    /// '2': add a recipient with ESMTP parameters.
    case addRecipientWithParameters(String, parameters: String?)
    /// '-': remove a recipient.
    case deleteRecipient(String)
    /// 'b': a piece of the replacement body.
    case replaceBody([UInt8])
    /// 'q': put the message on hold, for this reason.
    case quarantine(String)
    /// 'l': the macros wanted at a stage (only inside OPTNEG in practice; accepted alone for completeness).
    case setMacroList(stage: UInt32, names: String)
    /// '4': the milter shuts down (treated as tempfail).
    case shutdown
    /// 'f': the milter's connection failed (treated as tempfail).
    case connectionFailure

    /// A final answer to a command (not a modification, progress note or option).
    public var isVerdict: Bool {
        switch self {
        case .accept, .continue, .discard, .reject, .tempfail, .replyCode, .skip, .shutdown, .connectionFailure:
            true
        default:
            false
        }
    }

    /// Reads a packet from a milter.
    /// - Throws: `MilterProtocolError` for an unknown letter, a truncated payload or bytes beyond the fields.
    public init(_ packet: MilterPacket) throws(MilterProtocolError) {
        let letter = Character(Unicode.Scalar(packet.command))
        var reader = MilterPayloadReader(packet.payload, what: "milter reply '\(letter.isASCII && !letter.isWhitespace ? String(letter) : "?")'")
        switch packet.command {
        case UInt8(ascii: "O"):
            let version = try reader.integer()
            let actions = MilterActions(rawValue: try reader.integer())
            let steps = MilterProtocolSteps(rawValue: try reader.integer())
            var lists: [MilterMacroStage: String] = [:]
            while !reader.isAtEnd {
                let stage = try reader.integer()
                let names = try reader.string()
                // An unknown stage is skipped, as Postfix does.
                if let known = MilterMacroStage(rawValue: stage) { lists[known] = names }
            }
            self = .negotiate(MilterOptions(version: version, actions: actions, protocolSteps: steps, macroLists: lists))
            return
        case UInt8(ascii: "a"): self = .accept
        case UInt8(ascii: "c"): self = .continue
        case UInt8(ascii: "d"): self = .discard
        case UInt8(ascii: "r"): self = .reject
        case UInt8(ascii: "t"): self = .tempfail
        case UInt8(ascii: "s"): self = .skip
        case UInt8(ascii: "p"): self = .progress
        case UInt8(ascii: "4"): self = .shutdown
        case UInt8(ascii: "f"): self = .connectionFailure
        case UInt8(ascii: "y"):
            let text = try reader.string()
            self = try Self.replyCode(text)
        case UInt8(ascii: "h"):
            self = .addHeader(name: try reader.string(), value: try reader.string())
        case UInt8(ascii: "i"):
            self = .insertHeader(index: try reader.integer(), name: try reader.string(), value: try reader.string())
        case UInt8(ascii: "m"):
            self = .changeHeader(index: try reader.integer(), name: try reader.string(), value: try reader.string())
        case UInt8(ascii: "e"):
            let sender = try reader.string()
            self = .changeSender(sender, parameters: reader.isAtEnd ? nil : try reader.string())
        case UInt8(ascii: "+"):
            self = .addRecipient(try reader.string())
        case UInt8(ascii: "2"):
            let recipient = try reader.string()
            self = .addRecipientWithParameters(recipient, parameters: reader.isAtEnd ? nil : try reader.string())
        case UInt8(ascii: "-"):
            self = .deleteRecipient(try reader.string())
        case UInt8(ascii: "b"):
            self = .replaceBody(reader.rest())
        case UInt8(ascii: "q"):
            self = .quarantine(try reader.string())
        case UInt8(ascii: "l"):
            self = .setMacroList(stage: try reader.integer(), names: try reader.string())
        default:
            throw MilterProtocolError(.unknownCommand, "unknown milter reply code 0x\(String(packet.command, radix: 16))")
        }
        try reader.expectEnd()
    }

    /// "550 5.7.1 text" (multi-line replies as libmilter's smfi_setmlreply makes them, "550-5.7.1 a\r\n550 ...",
    /// are kept as one text): the code must be 4xx or 5xx.
    private static func replyCode(_ text: String) throws(MilterProtocolError) -> Self {
        let digits = text.prefix(3)
        guard digits.count == 3, let code = Int(digits), (400...599).contains(code),
            text.count == 3 || text.dropFirst(3).first == " " || text.dropFirst(3).first == "-"
        else {
            throw MilterProtocolError(.malformed, "bad REPLYCODE \"\(String(text.prefix(40)).unicodeScalars.map { $0.isASCII && $0.value >= 32 ? String($0) : "?" }.joined())\"")
        }
        return .replyCode(code: code, text: String(text.dropFirst(4)))
    }

    /// The packet a milter would send: for tests and the fuzz target's round trip.
    public var packet: MilterPacket {
        var payload: [UInt8] = []
        let letter: Character
        switch self {
        case .negotiate(let options):
            letter = "O"
            payload.appendMilterInteger(options.version)
            payload.appendMilterInteger(options.actions.rawValue)
            payload.appendMilterInteger(options.protocolSteps.rawValue)
            for stage in MilterMacroStage.allCases {
                guard let names = options.macroLists[stage] else { continue }
                payload.appendMilterInteger(stage.rawValue)
                payload.appendMilterString(names)
            }
        case .accept: letter = "a"
        case .continue: letter = "c"
        case .discard: letter = "d"
        case .reject: letter = "r"
        case .tempfail: letter = "t"
        case .skip: letter = "s"
        case .progress: letter = "p"
        case .shutdown: letter = "4"
        case .connectionFailure: letter = "f"
        case .replyCode(let code, let text):
            letter = "y"
            payload.appendMilterString(text.isEmpty ? String(code) : "\(code) \(text)")
        case .addHeader(let name, let value):
            letter = "h"
            payload.appendMilterString(name)
            payload.appendMilterString(value)
        case .insertHeader(let index, let name, let value), .changeHeader(let index, let name, let value):
            if case .insertHeader = self { letter = "i" } else { letter = "m" }
            payload.appendMilterInteger(index)
            payload.appendMilterString(name)
            payload.appendMilterString(value)
        case .changeSender(let sender, let parameters):
            letter = "e"
            payload.appendMilterString(sender)
            if let parameters { payload.appendMilterString(parameters) }
        case .addRecipient(let recipient):
            letter = "+"
            payload.appendMilterString(recipient)
        case .addRecipientWithParameters(let recipient, let parameters):
            letter = "2"
            payload.appendMilterString(recipient)
            if let parameters { payload.appendMilterString(parameters) }
        case .deleteRecipient(let recipient):
            letter = "-"
            payload.appendMilterString(recipient)
        case .replaceBody(let bytes):
            letter = "b"
            payload = bytes
        case .quarantine(let reason):
            letter = "q"
            payload.appendMilterString(reason)
        case .setMacroList(let stage, let names):
            letter = "l"
            payload.appendMilterInteger(stage)
            payload.appendMilterString(names)
        }
        return MilterPacket(command: letter.asciiValue!, payload: payload)
    }
}
