import AviarySMTP
import NIOCore
import NIOEmbedded
import Testing

/// Stands in for the session at the end of the pipeline: collects frames and, like a real session, answers DATA
/// at once (so the decoder sees the reply go out before it reads on), collects the message's pieces and
/// answers its end.
final class ScriptedSession: ChannelInboundHandler {
    typealias InboundIn = SMTPInboundFrame
    typealias OutboundOut = SMTPReply

    /// The reply to DATA, or nil to send none.
    let dataReply: SMTPReply?
    private(set) var frames: [SMTPInboundFrame] = []
    private(set) var messages: [String] = []
    /// How each message ended.
    private(set) var ends: [SMTPMessageEnd] = []
    private var message = ByteBuffer()

    init(dataReply: SMTPReply?) {
        self.dataReply = dataReply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        frames.append(frame)
        switch frame {
        case .message(var piece, let end):
            message.writeBuffer(&piece)
            guard let end else { return }
            messages.append(String(buffer: message))
            ends.append(end)
            message.clear()
            context.writeAndFlush(wrapOutboundOut(.queued(as: "ID")), promise: nil)
        case .line(let line):
            if String(buffer: line.bytes).uppercased() == "DATA", let dataReply {
                context.writeAndFlush(wrapOutboundOut(dataReply), promise: nil)
            }
        default:
            break
        }
    }
}

/// What came out of one run of bytes through the decoder.
struct DecodedTranscript {
    var frames: [SMTPInboundFrame]
    var messages: [String]
    var ends: [SMTPMessageEnd]
    var replies: String
}

/// Runs `pieces` through `SMTPReplyEncoder` + `SMTPFrameDecoder` + `ScriptedSession` in an `EmbeddedChannel`, one
/// `channelRead` per piece, and checks that the channel finishes clean.
func runDecoder(
    _ pieces: [ByteBuffer],
    maximumLineLength: Int = SMTPFrameDecoder.defaultMaximumLineLength,
    dataReply: SMTPReply? = .startData,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> DecodedTranscript {
    let channel = EmbeddedChannel()
    let session = ScriptedSession(dataReply: dataReply)
    try channel.pipeline.syncOperations.addHandlers([
        MessageToByteHandler(SMTPReplyEncoder()),
        ByteToMessageHandler(SMTPFrameDecoder(maximumLineLength: maximumLineLength)),
        session,
    ])
    for piece in pieces {
        try channel.writeInbound(piece)
    }
    var replies = ""
    while let reply = try channel.readOutbound(as: ByteBuffer.self) {
        replies += String(buffer: reply)
    }
    #expect(try channel.finish().isClean, sourceLocation: sourceLocation)
    return DecodedTranscript(frames: session.frames, messages: session.messages, ends: session.ends, replies: replies)
}

/// The input whole, then one byte at a time, then in pieces of pseudo-random sizes.
func feedings(of input: [UInt8], seed: UInt64 = 42) -> [(name: String, pieces: [ByteBuffer])] {
    var random = SplitMix64(seed: seed)
    var randomPieces: [ByteBuffer] = []
    var index = 0
    while index < input.count {
        let length = min(input.count - index, Int(random.next() % 17) + 1)
        randomPieces.append(ByteBuffer(bytes: input[index..<(index + length)]))
        index += length
    }
    return [
        ("whole", [ByteBuffer(bytes: input)]),
        ("byte by byte", input.map { ByteBuffer(bytes: [$0]) }),
        ("random pieces", randomPieces),
    ]
}

/// Chunk and message pieces depend on how the bytes arrived; merged, they must not.
func mergingChunkPieces(_ frames: [SMTPInboundFrame]) -> [SMTPInboundFrame] {
    var merged: [SMTPInboundFrame] = []
    for frame in frames {
        if case .chunk(var piece, let isEnd) = frame, case .chunk(var previous, false)? = merged.last {
            previous.writeBuffer(&piece)
            merged[merged.count - 1] = .chunk(previous, isEndOfChunk: isEnd)
        } else if case .message(var piece, let end) = frame, case .message(var previous, nil)? = merged.last {
            previous.writeBuffer(&piece)
            merged[merged.count - 1] = .message(previous, end: end)
        } else {
            merged.append(frame)
        }
    }
    return merged
}

/// A small deterministic generator, so that "random" tests fail the same way every time.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Shorthand for expected frames.
func line(_ text: String, _ ending: SMTPLine.Ending = .crlf) -> SMTPInboundFrame {
    .line(SMTPLine(text, ending: ending))
}

/// A whole DATA message as the decoder hands it on (merged), ending clean unless told otherwise.
func message(_ text: String, end: SMTPMessageEnd? = SMTPMessageEnd(sawBareLineFeed: false, sawBareLineEnding: false))
    -> SMTPInboundFrame
{
    .message(ByteBuffer(string: text), end: end)
}

func chunk(_ text: String, end: Bool = true) -> SMTPInboundFrame {
    .chunk(ByteBuffer(string: text), isEndOfChunk: end)
}
