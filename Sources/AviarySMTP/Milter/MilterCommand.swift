/// What the MTA sends a milter (SMFIC_*).
public enum MilterCommand: Sendable, Hashable {
    /// 'O': the MTA's offer.
    case negotiate(MilterOptions)
    /// 'D': macros for the command that follows (`stage` is that command's letter).
    case macros(stage: UInt8, [(name: String, value: String)])
    /// 'C': the client's name, then its address family ('4', '6', 'U' for a Unix socket, 'L' unknown), port and
    /// address.
    case connect(hostname: String, family: UInt8, port: UInt16, address: String)
    /// 'H': the HELO/EHLO argument.
    case helo(String)
    /// 'M': the sender in angle brackets, then each ESMTP parameter.
    case mail([String])
    /// 'R': the recipient in angle brackets, then each ESMTP parameter.
    case rcpt([String])
    /// 'T': DATA.
    case data
    /// 'L': one header field, its name and its value (unfolded lines kept, as received after the colon).
    case header(name: String, value: String)
    /// 'N': end of the header.
    case endOfHeader
    /// 'B': a piece of the body (at most `MilterCommand.bodyChunkLimit` bytes).
    case body([UInt8])
    /// 'E': end of the message.
    case endOfMessage
    /// 'A': the message is given up; the connection goes on.
    case abort
    /// 'Q': the end of the conversation.
    case quit
    /// 'K': the end of this SMTP session's conversation; the connection serves another.
    case quitNewConnection
    /// 'U': a command the MTA did not know.
    case unknown(String)

    /// libmilter's MILTER_CHUNK_SIZE: the most body bytes in one BODY packet.
    public static let bodyChunkLimit = 65535

    public static func == (left: Self, right: Self) -> Bool { left.packet == right.packet }
    public func hash(into hasher: inout Hasher) { hasher.combine(packet) }

    /// The command letter.
    public var letter: UInt8 {
        switch self {
        case .negotiate: UInt8(ascii: "O")
        case .macros: UInt8(ascii: "D")
        case .connect: UInt8(ascii: "C")
        case .helo: UInt8(ascii: "H")
        case .mail: UInt8(ascii: "M")
        case .rcpt: UInt8(ascii: "R")
        case .data: UInt8(ascii: "T")
        case .header: UInt8(ascii: "L")
        case .endOfHeader: UInt8(ascii: "N")
        case .body: UInt8(ascii: "B")
        case .endOfMessage: UInt8(ascii: "E")
        case .abort: UInt8(ascii: "A")
        case .quit: UInt8(ascii: "Q")
        case .quitNewConnection: UInt8(ascii: "K")
        case .unknown: UInt8(ascii: "U")
        }
    }

    /// The packet for this command.
    public var packet: MilterPacket {
        var payload: [UInt8] = []
        switch self {
        case .negotiate(let options):
            payload.appendMilterInteger(options.version)
            payload.appendMilterInteger(options.actions.rawValue)
            payload.appendMilterInteger(options.protocolSteps.rawValue)
        case .macros(let stage, let pairs):
            payload.append(stage)
            for (name, value) in pairs {
                payload.appendMilterString(name)
                payload.appendMilterString(value)
            }
        case .connect(let hostname, let family, let port, let address):
            payload.appendMilterString(hostname)
            payload.append(family)
            if family != UInt8(ascii: "L") {
                payload.append(UInt8(port >> 8))
                payload.append(UInt8(port & 0xFF))
                payload.appendMilterString(address)
            }
        case .helo(let name), .unknown(let name):
            payload.appendMilterString(name)
        case .mail(let arguments), .rcpt(let arguments):
            for argument in arguments { payload.appendMilterString(argument) }
        case .header(let name, let value):
            payload.appendMilterString(name)
            payload.appendMilterString(value)
        case .body(let bytes):
            payload = bytes
        case .data, .endOfHeader, .endOfMessage, .abort, .quit, .quitNewConnection:
            break
        }
        return MilterPacket(command: letter, payload: payload)
    }

    /// The bytes on the wire.
    public var encoded: [UInt8] { packet.encoded }
}

/// The actions a milter may take (SMFIF_*), as a set.
public struct MilterActions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let addHeaders = Self(rawValue: 0x01)
    public static let changeBody = Self(rawValue: 0x02)
    public static let addRecipients = Self(rawValue: 0x04)
    public static let deleteRecipients = Self(rawValue: 0x08)
    public static let changeHeaders = Self(rawValue: 0x10)
    public static let quarantine = Self(rawValue: 0x20)
    public static let changeSender = Self(rawValue: 0x40)
    public static let addRecipientsWithParameters = Self(rawValue: 0x80)
    public static let setMacroList = Self(rawValue: 0x100)

    /// Everything version 6 defines.
    public static let all: Self = [
        .addHeaders, .changeBody, .addRecipients, .deleteRecipients, .changeHeaders, .quarantine, .changeSender,
        .addRecipientsWithParameters, .setMacroList,
    ]
}

/// The protocol steps a milter leaves out or answers no reply to (SMFIP_*), as a set.
public struct MilterProtocolSteps: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let noConnect = Self(rawValue: 0x1)
    public static let noHelo = Self(rawValue: 0x2)
    public static let noMail = Self(rawValue: 0x4)
    public static let noRecipient = Self(rawValue: 0x8)
    public static let noBody = Self(rawValue: 0x10)
    public static let noHeaders = Self(rawValue: 0x20)
    public static let noEndOfHeader = Self(rawValue: 0x40)
    public static let noHeaderReply = Self(rawValue: 0x80)
    public static let noUnknown = Self(rawValue: 0x100)
    public static let noData = Self(rawValue: 0x200)
    /// The milter may answer SKIP to a BODY chunk: the MTA sends no more body.
    public static let skip = Self(rawValue: 0x400)
    /// The milter wants to see rejected recipients too.
    public static let rejectedRecipients = Self(rawValue: 0x800)
    public static let noConnectReply = Self(rawValue: 0x1000)
    public static let noHeloReply = Self(rawValue: 0x2000)
    public static let noMailReply = Self(rawValue: 0x4000)
    public static let noRecipientReply = Self(rawValue: 0x8000)
    public static let noDataReply = Self(rawValue: 0x10000)
    public static let noUnknownReply = Self(rawValue: 0x20000)
    public static let noEndOfHeaderReply = Self(rawValue: 0x40000)
    public static let noBodyReply = Self(rawValue: 0x80000)
    /// Header values are sent with their leading space.
    public static let headerLeadingSpace = Self(rawValue: 0x100000)
    /// Body chunks up to 256 KiB / 1 MiB.
    public static let maximumDataSize256K = Self(rawValue: 0x1000_0000)
    public static let maximumDataSize1M = Self(rawValue: 0x2000_0000)

    /// What Postfix offers (it does not implement RCPT_REJ's rejected-recipient delivery nor the big chunk sizes).
    public static let offeredByAviary: Self = [
        .noConnect, .noHelo, .noMail, .noRecipient, .noBody, .noHeaders, .noEndOfHeader, .noHeaderReply,
        .noUnknown, .noData, .skip, .noConnectReply, .noHeloReply, .noMailReply, .noRecipientReply, .noDataReply,
        .noUnknownReply, .noEndOfHeaderReply, .noBodyReply, .headerLeadingSpace,
    ]
}

/// One side's OPTNEG: the protocol version, the actions, the protocol steps; from the milter also the macros it
/// wants per stage (SMFIF_SETSYMLIST).
public struct MilterOptions: Sendable, Hashable {
    public var version: UInt32
    public var actions: MilterActions
    public var protocolSteps: MilterProtocolSteps
    /// Stage (`MilterMacroStage`) to the space-separated macro names the milter asks for there.
    public var macroLists: [MilterMacroStage: String]

    public init(
        version: UInt32 = 6, actions: MilterActions, protocolSteps: MilterProtocolSteps,
        macroLists: [MilterMacroStage: String] = [:]
    ) {
        self.version = version
        self.actions = actions
        self.protocolSteps = protocolSteps
        self.macroLists = macroLists
    }
}

/// Where in the conversation a macro list applies (SMFIM_*).
public enum MilterMacroStage: UInt32, Sendable, Hashable, CaseIterable {
    case connect = 0
    case helo = 1
    case mail = 2
    case rcpt = 3
    case data = 4
    case endOfMessage = 5
    case endOfHeader = 6

    /// The letter of the command whose MACRO packet carries this stage's macros.
    public var commandLetter: UInt8 {
        switch self {
        case .connect: UInt8(ascii: "C")
        case .helo: UInt8(ascii: "H")
        case .mail: UInt8(ascii: "M")
        case .rcpt: UInt8(ascii: "R")
        case .data: UInt8(ascii: "T")
        case .endOfMessage: UInt8(ascii: "E")
        case .endOfHeader: UInt8(ascii: "N")
        }
    }
}
