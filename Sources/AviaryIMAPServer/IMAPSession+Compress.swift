// COMPRESS=DEFLATE (RFC 4978). After login; `tag OK DEFLATE active` is the last uncompressed byte each way, and
// the DeflateHandler goes into the pipeline in the same event-loop step as that answer is written (as STARTTLS
// does), between TLS and the IMAP encoder and decoder, so no byte of either direction is on the wrong side.
//
// Whichever process runs the session after login does it: imapd for virtual users, imapmail when imapd passed it
// a plaintext connection, and imapd again when it relays a TLS session to imapmail. The relay moves commands as
// its decoder framed them, so compression has to sit in front of that decoder: imapd answers COMPRESS itself
// there and imapmail never sees it.

import AviaryIMAP
import AviaryTLS
import NIOCore

extension IMAPSession {
    /// `tag COMPRESS mechanism`.
    mutating func compress(_ tag: String, mechanism: String, _ outbound: Output) async throws {
        switch Self.compressionAnswer(tag, mechanism: mechanism, isActive: isCompressed) {
        case .refuse(let line, let isBad):
            if isBad { badCommands += 1 }
            try await send(line, outbound)
        case .start(let line):
            // Untagged lines still waiting go out before, uncompressed.
            try await send(bytes: [], outbound)
            try await Self.startCompression(answering: line, on: channel)
            isCompressed = true
        }
    }

    enum CompressionAnswer {
        case start(String)
        case refuse(String, isBad: Bool)
    }

    static func compressionAnswer(_ tag: String, mechanism: String, isActive: Bool) -> CompressionAnswer {
        guard mechanism == "DEFLATE" else { return .refuse("\(tag) BAD Unknown compression mechanism.", isBad: true) }
        guard !isActive else {
            return .refuse("\(tag) NO [COMPRESSIONACTIVE] DEFLATE is already active.", isBad: false)
        }
        return .start("\(tag) OK DEFLATE active")
    }

    /// Writes `line` uncompressed and puts a DeflateHandler in front of the IMAP encoder (behind TLS, if on).
    static func startCompression(answering line: String, on channel: any Channel) async throws {
        try await StartTLS.afterWriting(IMAPOutput.line(line), on: channel) { sync in
            let encoder = try sync.handler(type: MessageToByteHandler<IMAPOutputEncoder>.self)
            try sync.addHandler(try DeflateHandler(), position: .before(encoder))
        }
    }

    /// The tag and mechanism of a command line the relay is about to forward, when it is COMPRESS.
    static func compressCommand(in bytes: [UInt8]) -> (tag: String, mechanism: String)? {
        guard isCompressCommand(bytes), case .success(let tagged) = IMAPCommandParser.parse(bytes),
            case .compress(let mechanism) = tagged.command
        else { return nil }
        return (tagged.tag, mechanism)
    }

    /// Whether a command line the relay is about to forward is COMPRESS (the tag, a space, the name): the relay
    /// parses only these.
    static func isCompressCommand(_ bytes: [UInt8]) -> Bool {
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else { return false }
        let name = bytes[(space + 1)...].prefix(9).map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }
        return name.starts(with: Array("COMPRESS".utf8)) && (name.count == 8 || name[8] == UInt8(ascii: " "))
    }
}
