import AviaryPOP3
import NIOCore

/// pop3d's line decoder and command parser on a client's byte stream; the first byte picks the line limit
/// and how the stream is cut into reads.
enum POP3Targets {
    static func commands(_ bytes: [UInt8]) {
        guard let control = bytes.first else { return }
        let limit = control & 0x80 != 0 ? POP3LineDecoder.commandLineLimit - 2 : Int(control & 0x7F) + 1
        var decoder = POP3LineDecoder(maximumLineLength: limit)
        var buffer = ByteBuffer()
        for piece in pieces(of: bytes.dropFirst(), seed: control) {
            buffer.writeBytes(piece)
            while let line = decoder.nextLine(from: &buffer) {
                require(line.bytes.readableBytes <= limit, "a POP3 line over the limit")
                if line.isComplete {
                    if case .success(let command) = POP3CommandParser.parse(line.bytes.readableBytesView) {
                        _ = String(describing: command)
                    }
                }
            }
            require(buffer.readableBytes <= limit + 2, "POP3 decoder holds \(buffer.readableBytes) bytes")
        }
    }
}
