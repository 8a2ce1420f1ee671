import NIOCore

/// The server side of STARTTLS (SMTP, RFC 3207) and STLS (POP3, RFC 2595), for every protocol alike.
///
/// The go-ahead reply is written from the event loop, and `swap` runs in the callback of that write, in the
/// same event loop step: TLS is first in the pipeline before the loop can read another byte from the client,
/// so its ClientHello, which may follow the reply within microseconds, never reaches the plaintext decoder.
/// `swap` puts the TLS handler first and replaces the line decoder; how the protocol discards what the client
/// pipelined in plaintext behind the command (CVE-2011-0411) is the caller's: smtpd marks the new decoder's
/// first frame, pop3d removes a decoder that stopped decoding after STLS.
public enum StartTLS {
    /// Writes `reply` and then runs `swap` on the pipeline; returns what `swap` returns (a handshake future).
    public static func afterWriting<Reply: Sendable, Swapped: Sendable>(
        _ reply: Reply,
        on channel: any Channel,
        swap: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Swapped
    ) async throws -> Swapped {
        let promise = channel.eventLoop.makePromise(of: Swapped.self)
        channel.eventLoop.execute {
            channel.writeAndFlush(reply).whenComplete { written in
                do {
                    try written.get()
                    promise.succeed(try swap(channel.pipeline.syncOperations))
                } catch {
                    promise.fail(error)
                }
            }
        }
        return try await promise.futureResult.get()
    }
}
