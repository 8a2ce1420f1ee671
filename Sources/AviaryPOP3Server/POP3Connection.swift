// Where a POP3 session's lines come from and its output goes. pop3d and a relayed pop3mail use a NIO channel
// (framing, idle timeout and TLS are channel handlers). A pop3mail that was passed the client's own connection
// serves exactly one session in its process, so it reads and writes that socket with plain blocking calls: no
// event loop, no thread hops, no async stream per line. The same decoder and encoder frame the bytes either way,
// and a `poll` with the idle timeout before each wait gives the same timeout (a silent client gets the same
// farewell).

import AviaryCore
import AviaryPOP3
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The session's input: lines from the channel's decoder, or from the client's socket directly.
enum POP3LineSource {
    case channel(NIOAsyncChannelInboundStream<POP3Line>.AsyncIterator)
    case socket(BlockingPOP3Socket)

    mutating func next() async throws -> POP3Line? {
        switch self {
        case .channel(var lines):
            defer { self = .channel(lines) }
            return try await lines.next()
        case .socket(let socket):
            return try socket.nextLine()
        }
    }
}

/// The session's output: the channel's writer, or the client's socket directly.
enum POP3Writer {
    case channel(NIOAsyncChannelOutboundWriter<POP3Output>)
    case socket(BlockingPOP3Socket)

    func write(_ output: POP3Output) async throws {
        switch self {
        case .channel(let writer): try await writer.write(output)
        case .socket(let socket): try socket.write(output)
        }
    }
}

/// A client's connection read and written with blocking calls, for a process that serves this one session.
/// `@unchecked Sendable`: used by that session's task alone.
final class BlockingPOP3Socket: @unchecked Sendable {
    let socket: AviaryCore.FileDescriptor
    private var buffer = ByteBuffer()
    private var decoder = POP3LineDecoder()
    private var isAtEnd = false

    /// Milliseconds of silence (or of a client not reading) that end the session.
    private let timeout: Int32

    /// Takes ownership of `descriptor`; `timeout` seconds of silence (or of a client not reading) end the session.
    /// The descriptor stays non-blocking, as pop3d left it: its flags belong to the open file, which pop3d still
    /// shares until pop3mail's status line says whether the session is taken; waits are `poll`s.
    init(adopting descriptor: Int32, timeout: Int) {
        socket = AviaryCore.FileDescriptor(adopting: descriptor)
        self.timeout = Int32(clamping: timeout * 1000)
    }

    /// Waits until the socket is ready for `events`; false after the timeout.
    private func wait(for events: Int16) throws -> Bool {
        var ready = pollfd(fd: socket.rawValue, events: events, revents: 0)
        while true {
            let status = poll(&ready, 1, timeout)
            if status > 0 { return true }
            if status == 0 { return false }
            if errno != EINTR { throw SystemError.current("poll") }
        }
    }

    /// The next line; nil when the client closed, or was silent for the timeout (it has been told so then).
    func nextLine() throws -> POP3Line? {
        while !isAtEnd {
            if let line = decoder.nextLine(from: &buffer) { return line }
            var got = 0
            var error: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4096) { raw in
                got = Glibc.read(socket.rawValue, raw.baseAddress, raw.count)
                if got < 0 { error = errno }
                return max(got, 0)
            }
            if got > 0 || error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                if try wait(for: Int16(POLLIN)) { continue }
                try? write(.response(.disconnectedForInactivity))
            } else if got < 0 {
                throw SystemError(code: error, operation: "read", path: nil)
            }
            isAtEnd = true
        }
        return nil
    }

    func write(_ output: POP3Output) throws {
        switch output {
        case .messageData(let bytes), .relayed(let bytes):
            try send(bytes)
        case .response:
            var bytes = ByteBuffer()
            try POP3OutputEncoder().encode(data: output, out: &bytes)
            try send(bytes)
        }
    }

    private func send(_ bytes: ByteBuffer) throws {
        try bytes.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = Glibc.send(socket.rawValue, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK {
                        if try wait(for: Int16(POLLOUT)) { continue }
                        throw SystemError(code: ETIMEDOUT, operation: "send", path: nil)
                    }
                    throw SystemError.current("send")
                }
                offset += sent
            }
        }
    }
}
