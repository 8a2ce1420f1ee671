import NIOCore

/// COMPRESS=DEFLATE (RFC 4978) as a channel handler between TLS (when on) and the IMAP framing: bytes from the
/// client are inflated before the frame decoder sees them, the session's responses deflated on the way out.
///
/// Out: every write is deflated as it comes and every flush ends with Z_SYNC_FLUSH. The session flushes at the end
/// of each batch of responses (NIOAsyncChannel's writer flushes every write), so the client can always decode all
/// it has been sent; without the sync flush zlib would hold the tail back and the client would wait for ever.
///
/// In: a few kilobytes of DEFLATE can hold gigabytes, so inflating is bounded: at most `stepLimit` bytes per
/// `channelRead` passed on, and the rest of the compressed input is kept (not read further from the socket) until
/// the next `read()` asks for more. The frame decoder behind it limits lines and literals as without compression,
/// and NIOAsyncChannel's back-pressure withholds `read()` while the session is behind, so memory stays bounded.
final class DeflateHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Plaintext passed on per inflating step.
    static let stepLimit = 16_384

    private let deflater: DeflateStream
    private let inflater: DeflateStream
    /// Compressed bytes received and not yet inflated.
    private var input = ByteBuffer()
    /// The last step stopped at `stepLimit`: zlib may hold more output even with no input left.
    private var isInflaterFull = false
    /// Promises of writes that produced no output yet (zlib kept it); they complete with the next flush.
    private var unflushedPromises: [EventLoopPromise<Void>] = []

    init() throws(IMAPCompressionError) {
        deflater = try DeflateStream(.compress)
        inflater = try DeflateStream(.decompress)
    }

    /// The last step made no progress (a block cut short by the socket read): wait for more bytes from the
    /// socket instead of stepping again and again on the same input.
    private var isWaitingForInput = false

    private var hasPendingInput: Bool { !isWaitingForInput && (input.readableBytes > 0 || isInflaterFull) }

    // MARK: in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        input.writeBuffer(&bytes)
        isWaitingForInput = false
        inflateStep(context: context)
    }

    func read(context: ChannelHandlerContext) {
        guard hasPendingInput else {
            context.read()
            return
        }
        inflateStep(context: context)
        context.fireChannelReadComplete()
        // With autoRead the channel asks for the next read only after a socket read; for input that is already
        // here, ask on the next turn of the loop (never recursively: a bomb would mean a deep stack). The request
        // goes through the whole pipeline, so the session's back-pressure still holds it back.
        if (try? context.channel.syncOptions?.getOption(.autoRead)) ?? true {
            let pipeline = context.pipeline
            context.eventLoop.execute { pipeline.read() }
        }
    }

    private func inflateStep(context: ChannelHandlerContext) {
        var plaintext = context.channel.allocator.buffer(capacity: Self.stepLimit)
        let compressedBefore = input.readableBytes
        do {
            isInflaterFull = try inflater.decompress(&input, limit: Self.stepLimit, into: &plaintext)
        } catch {
            input.clear()
            isInflaterFull = false
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        isWaitingForInput = plaintext.readableBytes == 0 && input.readableBytes == compressedBefore
        // Keep the buffer from growing at its front without copying the rest on every step.
        if input.readableBytes == 0 {
            input.clear()
        } else if input.readerIndex >= 1 << 16 {
            input.discardReadBytes()
        }
        if plaintext.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(plaintext)) }
    }

    // MARK: out

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var plaintext = unwrapOutboundIn(data)
        var compressed = context.channel.allocator.buffer(capacity: 0)
        do {
            try deflater.compress(&plaintext, sync: false, into: &compressed)
        } catch {
            // zlib fails here only when its state is broken: the stream cannot go on.
            promise?.fail(error)
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if compressed.readableBytes > 0 {
            context.write(wrapOutboundOut(compressed), promise: promise)
        } else if let promise {
            unflushedPromises.append(promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        var empty = ByteBuffer()
        var compressed = context.channel.allocator.buffer(capacity: 64)
        let promises = unflushedPromises
        unflushedPromises = []
        do {
            try deflater.compress(&empty, sync: true, into: &compressed)
        } catch {
            for promise in promises { promise.fail(error) }
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if compressed.readableBytes > 0 {
            let promise: EventLoopPromise<Void>? = promises.isEmpty ? nil : context.eventLoop.makePromise()
            if let promise { for waiting in promises { promise.futureResult.cascade(to: waiting) } }
            context.write(wrapOutboundOut(compressed), promise: promise)
        } else {
            for promise in promises { promise.succeed() }
        }
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        for promise in unflushedPromises { promise.fail(ChannelError.ioOnClosedChannel) }
        unflushedPromises = []
    }
}

@available(*, unavailable)
extension DeflateHandler: Sendable {}
