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

    /// Sends a message (RETR) or its start (TOP): the `+OK`, the text, the final ".". Returns the octets of
    /// message text sent, or nil when the message cannot be read any more (nothing was sent then).
    private func send(_ message: MaildropMessage, bodyLines: Int?, outbound: Output) async throws -> Int? {
        var encoder = POP3MessageEncoder(bodyLines: bodyLines)
        switch message.location {
        case .mbox(let entry):
            guard case .mbox(_, let snapshot) = transaction?.maildrop.store else { return nil }
            try await outbound.write(.response(bodyLines == nil ? .messageFollows(octets: message.size) : .topFollows))
            let content = Mbox.unquote(snapshot[entry.content])
            var offset = 0
            repeat {
                let end = min(content.count, offset + Self.chunkSize)
                try await writeEncoded(content[offset..<end], &encoder, outbound)
                offset = end
            } while offset < content.count && !encoder.isComplete
        case .maildir(let file):
            guard case .maildir(let maildir) = transaction?.maildrop.store else { return nil }
            guard let reader = try await MessageFileReader.open(file, in: maildir, pool: server.pool) else {
                return nil
            }
            defer { reader.close() }
            try await outbound.write(.response(bodyLines == nil ? .messageFollows(octets: message.size) : .topFollows))
            while !encoder.isComplete, let chunk = try await reader.next(pool: server.pool) {
                try await writeEncoded(chunk[...], &encoder, outbound)
            }
        }
        var end = ByteBuffer()
        encoder.finish(into: &end)
        try await outbound.write(.messageData(end))
        return encoder.messageOctets
    }

    static let chunkSize = 65536

    private func writeEncoded(
        _ chunk: ArraySlice<UInt8>,
        _ encoder: inout POP3MessageEncoder,
        _ outbound: Output
    ) async throws {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(chunk.count + chunk.count / 16 + 16)
        encoder.encode(chunk, into: &buffer)
        if buffer.readableBytes > 0 { try await outbound.write(.messageData(buffer)) }
    }
}

/// A Maildir message file open for RETR, read in chunks on the thread pool. Holds only the descriptor number
/// so that it can cross into pool jobs; `close` must be called (the session does it in a `defer`).
struct MessageFileReader: Sendable {
    let descriptor: Int32
    private let position: Position

    /// The read offset, advanced by `next`; a class so that the reader itself stays a `let` in the session.
    private final class Position: @unchecked Sendable {
        // @unchecked Sendable: used by one session task at a time, and each pool job is awaited before the next.
        var offset: Int64 = 0
    }

    private init(descriptor: Int32) {
        self.descriptor = descriptor
        position = Position()
    }

    /// Opens the message, finding it again by unique name when another reader renamed it; nil when it is gone.
    static func open(
        _ message: MaildirMessage,
        in maildir: Maildir,
        pool: NIOThreadPool
    ) async throws -> MessageFileReader? {
        let descriptor = try await pool.runIfActive { () -> Int32 in
            var path = maildir.path(of: message)
            if !SafeFile.exists(path) {
                guard let moved = try? maildir.messages().first(where: { $0.uniqueName == message.uniqueName }) else {
                    return -1
                }
                path = maildir.path(of: moved)
            }
            return Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        }
        return descriptor >= 0 ? MessageFileReader(descriptor: descriptor) : nil
    }

    /// The next chunk, nil at the end.
    func next(pool: NIOThreadPool) async throws -> [UInt8]? {
        let descriptor = self.descriptor
        let offset = position.offset
        let chunk = try await pool.runIfActive { () throws -> [UInt8] in
            var bytes = [UInt8](repeating: 0, count: POP3Session.chunkSize)
            while true {
                let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
                if count >= 0 { return Array(bytes[..<count]) }
                if errno != EINTR { throw SystemError.current("read") }
            }
        }
        if chunk.isEmpty { return nil }
        position.offset += Int64(chunk.count)
        return chunk
    }

    func close() { _ = Glibc.close(descriptor) }
}
