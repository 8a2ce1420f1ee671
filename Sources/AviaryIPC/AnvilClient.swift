#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import Synchronization

/// smtpd's side of anvil: one connection per smtpd process, kept open (anvil releases this process's
/// clients when it closes). Blocking: call from a thread pool. When anvil cannot be reached the answer is
/// nil and the caller lets the client in, as Postfix does: limits are a courtesy, relay control is not.
public final class AnvilClient: Sendable {
    public let socketPath: String
    private let connection = Mutex<FileDescriptor?>(nil)

    public init(socketPath: String) { self.socketPath = socketPath }

    /// Reports a new connection; returns (open connections, connections this time unit) including it.
    public func connect(service: String, address: String) -> (count: Int, rate: Int)? {
        guard let reply = exchange(.connect(.init(service: service, address: address))) else { return nil }
        let numbers = reply.split(separator: " ").compactMap { Int($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
    }

    /// Reports that a connection ended.
    public func disconnect(service: String, address: String) {
        _ = exchange(.disconnect(.init(service: service, address: address)))
    }

    /// Sends one request and reads its one-line reply, reconnecting once if the connection broke.
    private func exchange(_ request: AnvilRequest) -> String? {
        connection.withLock { descriptor -> String? in
            for _ in 0..<2 {
                if descriptor == nil { descriptor = UnixSocket.connect(socketPath, timeout: 5) }
                guard let current = descriptor else { return nil }
                if let reply = Self.exchange(request, on: current) { return reply }
                current.close()
                descriptor = nil
            }
            return nil
        }
    }

    private static func exchange(_ request: AnvilRequest, on descriptor: FileDescriptor) -> String? {
        let bytes = Array(request.line.utf8)
        guard bytes.withUnsafeBytes({ send(descriptor.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count
        else { return nil }
        var reply: [UInt8] = []
        while reply.last != UInt8(ascii: "\n"), reply.count < 256 {
            guard let chunk = try? descriptor.read(upTo: 256 - reply.count), !chunk.isEmpty else { return nil }
            reply += chunk
        }
        return String(decoding: reply.dropLast(), as: UTF8.self)
    }
}
