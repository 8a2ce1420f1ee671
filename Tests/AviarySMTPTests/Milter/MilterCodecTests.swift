import AviarySMTP
import Testing

/// Hex of bytes, for readable fixtures.
private func bytes(_ hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var digits = hex.filter { !$0.isWhitespace }[...]
    while digits.count >= 2 {
        result.append(UInt8(digits.prefix(2), radix: 16)!)
        digits = digits.dropFirst(2)
    }
    return result
}

@Suite("Milter codec")
struct MilterCodecTests {
    @Test("commands put the exact bytes libmilter expects on the wire")
    func commandBytes() {
        let options = MilterOptions(actions: .all, protocolSteps: .offeredByAviary)
        #expect(MilterCommand.negotiate(options).encoded == bytes("0000000D 4F 00000006 000001FF 001FF7FF"))
        #expect(
            MilterCommand.connect(hostname: "mx", family: UInt8(ascii: "4"), port: 25, address: "1.2.3.4").encoded
                == [0, 0, 0, 15, 0x43] + Array("mx\u{0}4".utf8) + [0, 25] + Array("1.2.3.4\u{0}".utf8))
        #expect(MilterCommand.connect(hostname: "h", family: UInt8(ascii: "L"), port: 0, address: "").encoded
            == [0, 0, 0, 4, 0x43, 0x68, 0, 0x4C])
        #expect(MilterCommand.helo("client").encoded == [0, 0, 0, 8, 0x48] + Array("client\u{0}".utf8))
        #expect(MilterCommand.mail(["<a@b>", "SIZE=10"]).encoded == [0, 0, 0, 15, 0x4D] + Array("<a@b>\u{0}SIZE=10\u{0}".utf8))
        #expect(MilterCommand.rcpt(["<c@d>"]).encoded == [0, 0, 0, 7, 0x52] + Array("<c@d>\u{0}".utf8))
        #expect(MilterCommand.macros(stage: UInt8(ascii: "C"), [("j", "mx"), ("{daemon_name}", "smtpd")]).encoded
            == [0, 0, 0, 27, 0x44, 0x43] + Array("j\u{0}mx\u{0}{daemon_name}\u{0}smtpd\u{0}".utf8))
        #expect(MilterCommand.header(name: "Subject", value: " hi").encoded
            == [0, 0, 0, 13, 0x4C] + Array("Subject\u{0} hi\u{0}".utf8))
        #expect(MilterCommand.body(Array("x\r\n".utf8)).encoded == [0, 0, 0, 4, 0x42, 0x78, 0x0D, 0x0A])
        for (command, letter) in [
            (MilterCommand.data, "T"), (.endOfHeader, "N"), (.endOfMessage, "E"), (.abort, "A"), (.quit, "Q"),
            (.quitNewConnection, "K"),
        ] {
            #expect(command.encoded == [0, 0, 0, 1, Character(letter).asciiValue!])
        }
        #expect(MilterCommand.unknown("XYZZY").encoded == [0, 0, 0, 7, 0x55] + Array("XYZZY\u{0}".utf8))
    }

    static let responses: [MilterResponse] = [
        .accept, .continue, .discard, .reject, .tempfail, .skip, .progress, .shutdown, .connectionFailure,
        .replyCode(code: 550, text: "5.7.1 Go away"), .replyCode(code: 451, text: ""),
        .addHeader(name: "DKIM-Signature", value: "v=1; a=rsa-sha256;\r\n\tb=abc"),
        .insertHeader(index: 0, name: "X-First", value: "1"),
        .changeHeader(index: 2, name: "Subject", value: ""),
        .changeSender("<new@example.com>", parameters: nil), .changeSender("<n@e>", parameters: "SIZE=1"),
        .addRecipient("<r@e>"), .addRecipientWithParameters("<r@e>", parameters: "NOTIFY=NEVER"),
        .deleteRecipient("<old@e>"), .replaceBody(Array("new body\r\n".utf8)), .replaceBody([]),
        .quarantine("suspicious"), .setMacroList(stage: 2, names: "{mail_addr} i"),
        .negotiate(MilterOptions(actions: [.addHeaders, .setMacroList], protocolSteps: [.noConnect, .noHeaderReply])),
        .negotiate(MilterOptions(
            actions: .all, protocolSteps: [], macroLists: [.connect: "j {daemon_name}", .endOfMessage: "i"])),
    ]

    @Test("every reply survives encode then parse", arguments: responses)
    func roundTrip(_ response: MilterResponse) throws {
        var wire = response.packet.encoded + [0, 0]
        let packet = try #require(try MilterPacket.next(from: &wire))
        #expect(try MilterResponse(packet) == response)
        #expect(wire == [0, 0])
    }

    @Test("a packet fed one byte at a time is incomplete until its last byte")
    func byteAtATime() throws {
        let wire = MilterResponse.addHeader(name: "X-A", value: "b").packet.encoded
        var buffer: [UInt8] = []
        for (position, byte) in wire.enumerated() {
            buffer.append(byte)
            let packet = try MilterPacket.next(from: &buffer)
            #expect((packet != nil) == (position == wire.count - 1))
        }
        #expect(buffer.isEmpty)
    }

    @Test("OPTNEG from OpenDKIM's libmilter parses with its macro lists")
    func negotiateWithMacros() throws {
        // version 6, actions 0x1FF, steps 0x1FFFFF, then stage 0 "j" and stage 5 "{daemon_name} i".
        var wire = bytes("00000029 4F 00000006 000001FF 001FFFFF 00000000") + Array("j\u{0}".utf8)
            + bytes("00000005") + Array("{daemon_name} i\u{0}".utf8)
        wire[3] = UInt8(wire.count - 4)
        let packet = try #require(try MilterPacket.next(from: &wire))
        guard case .negotiate(let options) = try MilterResponse(packet) else {
            Issue.record("not OPTNEG")
            return
        }
        #expect(options.version == 6)
        #expect(options.actions == .all)
        #expect(options.protocolSteps.contains(.noHeaderReply))
        #expect(options.macroLists == [.connect: "j", .endOfMessage: "{daemon_name} i"])
    }

    enum Hostile: String, CaseIterable, Sendable {
        case zeroLength, hugeLength, unknownLetter, headerWithoutNul, truncatedInteger, trailingBytes
        case replyCodeNotAnError, replyCodeGarbage

        var wire: [UInt8] {
            switch self {
            case .zeroLength: [0, 0, 0, 0, 0x61]
            case .hugeLength: [0xFF, 0xFF, 0xFF, 0xFF, 0x61]
            case .unknownLetter: [0, 0, 0, 1, 0x5A]
            case .headerWithoutNul: [0, 0, 0, 4, 0x68] + Array("X\u{0}y".utf8)
            case .truncatedInteger: [0, 0, 0, 3, 0x69, 0, 0]
            case .trailingBytes: [0, 0, 0, 2, 0x61, 0x00]
            case .replyCodeNotAnError: [0, 0, 0, 9, 0x79] + Array("250 2.0\u{0}".utf8)
            case .replyCodeGarbage: [0, 0, 0, 5, 0x79] + Array("abc\u{0}".utf8)
            }
        }

        var code: MilterProtocolError.Code {
            switch self {
            case .zeroLength, .hugeLength: .badLength
            case .unknownLetter: .unknownCommand
            case .headerWithoutNul, .truncatedInteger: .truncated
            case .trailingBytes, .replyCodeNotAnError, .replyCodeGarbage: .malformed
            }
        }
    }

    @Test("hostile packets give a defined error, never a crash", arguments: Hostile.allCases)
    func hostile(_ input: Hostile) {
        var wire = input.wire
        do {
            guard let packet = try MilterPacket.next(from: &wire) else {
                Issue.record("incomplete")
                return
            }
            _ = try MilterResponse(packet)
            Issue.record("accepted")
        } catch {
            #expect(error.code == input.code)
        }
    }

    @Test("an announced length beyond the buffer waits for more, within the bound")
    func truncatedPacketWaits() throws {
        var wire: [UInt8] = [0, 0x10, 0, 0, 0x62, 1, 2, 3]
        #expect(try MilterPacket.next(from: &wire) == nil)
        #expect(wire.count == 8)
    }
}
