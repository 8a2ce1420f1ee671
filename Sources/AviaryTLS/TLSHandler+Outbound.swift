import NIOCore

// MARK: - Outbound

extension TLSHandler {
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            waitingWrites.append((plaintext, promise))
        case .active where !hasSentCloseNotify:
            encrypt(context: context, plaintext, promise: promise)
        case .active:
            promise?.fail(ChannelError.outputClosed)
        case .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking: hasWaitingFlush = true
        case .active, .closed: context.flush()
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: mode, promise: promise)
        case .output:
            sendCloseNotify(context: context)
            context.close(mode: mode, promise: promise)
        case .all:
            sendCloseNotify(context: context)
            let error = TLSError(.connectionClosed, "connection closed before the TLS handshake finished")
            state = .closed
            resolveHandshake(.failure(error))
            failWaitingWrites(error)
            context.close(mode: mode, promise: promise)
        }
    }

    func encrypt(context: ChannelHandlerContext, _ plaintext: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let connection else { return }
        guard plaintext.readableBytes > 0 else {
            // Nothing to encrypt, but the promise must still complete in order with the other writes.
            context.write(wrapOutboundOut(plaintext), promise: promise)
            return
        }
        let outcome = connection.write(plaintext)
        var ciphertext = context.channel.allocator.buffer(capacity: plaintext.readableBytes + 64)
        connection.takeOutput(into: &ciphertext)
        let failure: String
        switch outcome {
        case .done:
            context.write(wrapOutboundOut(ciphertext), promise: promise)
            return
        case .failed(let text):
            failure = text
        // Only part of the plaintext went out (with renegotiation off OpenSSL should never ask for input
        // here): the rest must not vanish while the write reports success, so the connection ends.
        case .wantsInput:
            failure = "TLS write could not finish (OpenSSL wants input)"
        case .closedByPeer:
            failure = "TLS write could not finish (peer closed)"
        }
        let error = TLSError(.protocolError, failure)
        promise?.fail(error)
        fail(context: context, error, pendingOutput: ciphertext)
    }

    /// Sends close_notify once, after a completed handshake only (OpenSSL sends nothing during one).
    func sendCloseNotify(context: ChannelHandlerContext) {
        guard let connection, state == .active, !hasSentCloseNotify else { return }
        hasSentCloseNotify = true
        connection.shutdown()
        sendOutput(context: context, flush: true)
    }

    /// Writes whatever ciphertext OpenSSL has produced (handshake messages, alerts, tickets, close_notify).
    func sendOutput(context: ChannelHandlerContext, flush: Bool) {
        guard let connection, connection.hasOutput else { return }
        var ciphertext = context.channel.allocator.buffer(capacity: 0)
        connection.takeOutput(into: &ciphertext)
        context.write(wrapOutboundOut(ciphertext), promise: nil)
        if flush { context.flush() }
    }

    /// Ends the connection after a TLS failure: sends OpenSSL's alert, fails everything pending, reports the
    /// error to later handlers and closes the channel. Never falls back to plaintext.
    func fail(context: ChannelHandlerContext, _ error: TLSError, pendingOutput: ByteBuffer? = nil) {
        guard state != .closed else { return }
        state = .closed
        if let pendingOutput, pendingOutput.readableBytes > 0 {
            context.write(wrapOutboundOut(pendingOutput), promise: nil)
        }
        sendOutput(context: context, flush: true)
        resolveHandshake(.failure(error))
        failWaitingWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    func failWaitingWrites(_ error: TLSError) {
        let writes = waitingWrites
        waitingWrites = []
        hasWaitingFlush = false
        for write in writes { write.promise?.fail(error) }
    }

    func resolveHandshake(_ result: Result<TLSHandshakeCompleted, TLSError>) {
        guard !isHandshakeResolved else { return }
        isHandshakeResolved = true
        switch result {
        case .success(let summary): handshakePromise.succeed(summary)
        case .failure(let error): handshakePromise.fail(error)
        }
    }
}
