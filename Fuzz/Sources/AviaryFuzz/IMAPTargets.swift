import AviaryIMAP
import NIOCore
import NIOEmbedded

/// imapd's frame decoder (lines and literals) and command parser, and the small text grammars beside them.
enum IMAPTargets {
    /// A client's byte stream through `IMAPFrameDecoder` as imapd's pipeline has it, each command through the
    /// parser with the limits before and after login. The first byte picks the literal limit and the reads.
    static func commands(_ bytes: [UInt8]) {
        guard let control = bytes.first else { return }
        let literalLimit = control & 0x80 != 0 ? 8_192 : Int(control & 0x7F)
        let channel = EmbeddedChannel()
        do {
            try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(IMAPOutputEncoder()))
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(IMAPFrameDecoder(maximumLineLength: 1024, literalLimit: literalLimit)))
        } catch {
            require(false, "pipeline set-up failed: \(error)")
        }
        for piece in pieces(of: bytes.dropFirst(), seed: control) {
            do {
                try channel.writeInbound(ByteBuffer(bytes: piece))
            } catch {
                break
            }
            while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
            while let frame = try? channel.readInbound(as: IMAPFrame.self) {
                guard case .command(let command, _) = frame else { continue }
                require(command.count <= literalLimit + 4 * 1024, "a command over the command limit")
                _ = IMAPCommandParser.parse(command, nestingLimit: 4)
                _ = IMAPCommandParser.parse(command, nestingLimit: 32, utf8MailboxNames: control & 1 == 1)
            }
        }
        _ = try? channel.finish()
    }

    /// Mailbox names in modified UTF-7 and IMAP dates, one per line, with their round trips.
    static func text(_ bytes: [UInt8]) {
        for line in lines(of: bytes) {
            let text = String(decoding: line, as: UTF8.self)
            if let name = ModifiedUTF7.decode(text) {
                _ = ModifiedUTF7.encode(name)
            }
            require(ModifiedUTF7.decode(ModifiedUTF7.encode(text)) == text, "modified UTF-7 round trip of \"\(text)\"")
            if let dateTime = IMAPDateTime(parsing: text) {
                let again = IMAPDateTime.text(
                    secondsSince1970: dateTime.secondsSince1970, zoneMinutes: dateTime.zoneMinutes)
                require(IMAPDateTime(parsing: again) == dateTime, "date-time \"\(text)\" -> \"\(again)\" round trip")
            }
            _ = IMAPDate(parsing: text)
        }
    }
}
