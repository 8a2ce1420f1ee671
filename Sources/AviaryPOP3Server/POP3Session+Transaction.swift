import AviaryCore
import AviaryMailbox
import AviaryPOP3
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

extension POP3Session {
    /// TRANSACTION state. Returns the response to write, or nil when the command wrote its own (RETR, TOP).
    mutating func executeInTransaction(_ command: POP3Command, outbound: Output) async throws -> POP3Response? {
        guard var current = transaction else { return .serverBug }
        defer { transaction = current }
        let messages = current.maildrop.messages
        switch command {
        case .stat:
            let kept = messages.indices.filter { !current.deleted.contains($0) }
            return .status(count: kept.count, octets: kept.reduce(0) { $0 + messages[$1].size })
        case .list(nil):
            let kept = messages.indices.filter { !current.deleted.contains($0) }
            return .scanListing(
                count: kept.count,
                octets: kept.reduce(0) { $0 + messages[$1].size },
                lines: kept.map { "\($0 + 1) \(messages[$0].size)" }
            )
        case .list(let number?):
            guard let index = current.index(of: number) else { return .noSuchMessage(number) }
            return .scan(number, octets: messages[index].size)
        case .uidl(nil):
            return .uniqueIDListing(
                messages.indices.filter { !current.deleted.contains($0) }.map { "\($0 + 1) \(messages[$0].uid)" }
            )
        case .uidl(let number?):
            guard let index = current.index(of: number) else { return .noSuchMessage(number) }
            return .uniqueID(number, messages[index].uid)
        case .dele(let number):
            guard let index = current.index(of: number) else { return .noSuchMessage(number) }
            current.deleted.insert(index)
            return .markedDeleted
        case .rset:
            current.deleted = []
            current.retrieved = []
            return .reset
        case .noop:
            return .noop
        case .retr(let number):
            guard let index = current.index(of: number) else { return .noSuchMessage(number) }
            let octets = try await send(messages[index], bodyLines: nil, outbound: outbound)
            guard let octets else { return .messageVanished }
            current.retrieved.insert(index)
            current.statistics.retrieved += 1
            current.statistics.retrievedOctets += octets
            return nil
        case .top(let number, let lineCount):
            guard let index = current.index(of: number) else { return .noSuchMessage(number) }
            let octets = try await send(messages[index], bodyLines: lineCount, outbound: outbound)
            guard let octets else { return .messageVanished }
            current.statistics.top += 1
            current.statistics.topOctets += octets
            return nil
        case .user, .pass, .auth, .stls, .apop:
            return .notAfterLogin
        case .unknown:
            badCommands += 1
            return .unknownCommand
        case .quit, .capa:
            return .serverBug  // handled before the state split
        }
    }

    /// Sends a message (RETR) or its start (TOP): the `+OK`, the text, the final ".". A message of up to a chunk
    /// goes out in one write (status line, text and "." together); a longer one in a write per chunk. Returns the
    /// octets of message text sent, or nil when the message cannot be read any more (nothing was sent then).
    private func send(_ message: MaildropMessage, bodyLines: Int?, outbound: Output) async throws -> Int? {
        var encoder = POP3MessageEncoder(bodyLines: bodyLines)
        var buffer = ByteBuffer()
        let status: POP3Response = bodyLines == nil ? .messageFollows(octets: message.size) : .topFollows
        switch message.location {
        case .mbox(let entry):
            guard case .mbox(_, let snapshot) = transaction?.maildrop.store else { return nil }
            status.write(to: &buffer)
            let content = Mbox.unquote(snapshot[entry.content])
            var offset = 0
            repeat {
                if buffer.readableBytes >= Self.chunkSize {
                    try await outbound.write(.messageData(buffer))
                    buffer = ByteBuffer()
                }
                let end = min(content.count, offset + Self.chunkSize)
                encode(content[offset..<end], &encoder, into: &buffer)
                offset = end
            } while offset < content.count && !encoder.isComplete
        case .maildir(let file):
            guard case .maildir(let maildir) = transaction?.maildrop.store else { return nil }
            guard var reader = try await MessageFileReader.open(file, in: maildir, server: server) else {
                return nil
            }
            defer { reader.close() }
            status.write(to: &buffer)
            encode(reader.firstChunk[...], &encoder, into: &buffer)
            while !encoder.isComplete, let chunk = try await reader.next(server: server) {
                try await outbound.write(.messageData(buffer))
                buffer = ByteBuffer()
                encode(chunk[...], &encoder, into: &buffer)
            }
        }
        encoder.finish(into: &buffer)
        try await outbound.write(.messageData(buffer))
        return encoder.messageOctets
    }

    static let chunkSize = 65536

    private func encode(_ chunk: ArraySlice<UInt8>, _ encoder: inout POP3MessageEncoder, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(buffer.readableBytes + chunk.count + chunk.count / 16 + 16)
        encoder.encode(chunk, into: &buffer)
    }
}

/// A Maildir message file open for RETR, read in chunks by the server's blocking work (`POP3Server.blocking`):
/// the opening reads the first chunk too, and a message no longer than that is closed at once, so a small
/// message costs one step. Holds only the descriptor number so that it can cross into pool jobs; `close` must
/// be called (the session does it in a `defer`).
struct MessageFileReader: Sendable {
    private(set) var descriptor: Int32
    /// The file's size when it was opened (Maildir files never change), so the end needs no read of its own.
    let size: Int64
    /// What the opening read.
    let firstChunk: [UInt8]
    private var offset: Int64

    /// Opens the message, finding it again by unique name when another reader renamed it; nil when it is gone.
    static func open(_ message: MaildirMessage, in maildir: Maildir, server: POP3Server) async throws
        -> MessageFileReader?
    {
        try await server.blocking { () throws -> MessageFileReader? in
            var path = maildir.path(of: message)
            if !SafeFile.exists(path) {
                guard let moved = try? maildir.messages().first(where: { $0.uniqueName == message.uniqueName }) else {
                    return nil
                }
                path = maildir.path(of: moved)
            }
            let descriptor = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            var info = stat()
            guard fstat(descriptor, &info) == 0 else {
                _ = Glibc.close(descriptor)
                return nil
            }
            let size = Int64(info.st_size)
            let firstChunk: [UInt8]
            do {
                firstChunk = try Self.read(descriptor, at: 0, expecting: size)
            } catch {
                _ = Glibc.close(descriptor)
                throw error
            }
            var reader = MessageFileReader(descriptor: descriptor, size: size, firstChunk: firstChunk)
            if reader.offset >= size { reader.close() }
            return reader
        }
    }

    private init(descriptor: Int32, size: Int64, firstChunk: [UInt8]) {
        self.descriptor = descriptor
        self.size = size
        self.firstChunk = firstChunk
        offset = Int64(firstChunk.count)
    }

    /// The next chunk, nil at the end.
    mutating func next(server: POP3Server) async throws -> [UInt8]? {
        guard descriptor >= 0, offset < size else { return nil }
        let descriptor = self.descriptor
        let offset = self.offset
        let size = self.size
        let chunk = try await server.blocking { try Self.read(descriptor, at: offset, expecting: size - offset) }
        if chunk.isEmpty { return nil }
        self.offset += Int64(chunk.count)
        return chunk
    }

    /// Up to a chunk from `offset`; `remaining` (what the size says is left) keeps a small message's buffer small.
    private static func read(_ descriptor: Int32, at offset: Int64, expecting remaining: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(min(Int64(POP3Session.chunkSize), max(remaining, 1))))
        while true {
            let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
            if count >= 0 {
                bytes.removeLast(bytes.count - count)
                return bytes
            }
            if errno != EINTR { throw SystemError.current("read") }
        }
    }

    mutating func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }
}
