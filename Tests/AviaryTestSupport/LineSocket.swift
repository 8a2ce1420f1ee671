#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP connection to a server on 127.0.0.1 for transcript tests (SMTP, POP3): send bytes, read
/// CRLF lines. Every read and write times out (20 s), so a server that stops answering fails the test
/// instead of hanging it. Use it from a thread pool thread, never from the concurrency pool that an
/// in-process server's sessions run on.
public final class LineSocket {
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// - Parameter source: the local address to connect from (e.g. 127.0.0.2, so that the server sees a client
    ///   that is not at its own address); the kernel's choice when nil.
    public init(port: Int, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket failed: errno \(errno)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let error = errno
                close(fd)
                throw TestSupportError("bind to \(source) failed: errno \(error)")
            }
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw TestSupportError("connect to port \(port) failed: errno \(error)")
        }
    }

    deinit { close(fd) }

    public func send(raw bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw TestSupportError("send failed: errno \(errno)") }
            offset += written
        }
    }

    /// One line as bytes, without its CRLF (or bare LF).
    public func readLineBytes() throws -> [UInt8] {
        for _ in 0..<100_000 {
            if let end = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<end])
                buffer.removeFirst(end + 1)
                if line.last == 13 { line.removeLast() }
                return line
            }
            switch receive() {
            case .data(let chunk): buffer += chunk
            case .endOfFile: throw TestSupportError("connection closed while reading a line")
            case .failed(let error): throw TestSupportError("reading a line failed: errno \(error)")
            }
        }
        throw TestSupportError("line never ended")
    }

    public func readLine() throws -> String { String(decoding: try readLineBytes(), as: UTF8.self) }

    /// What the peer did after everything read so far: closed the connection (end of file, or a reset,
    /// which is also a close), sent more, or nothing within the read timeout. `isClosed` on the result.
    public func peerState() -> PeerState {
        if !buffer.isEmpty { return .sentMore(buffer) }
        switch receive(limit: 1) {
        case .data(let bytes): return .sentMore(bytes)
        case .endOfFile: return .closed
        case .failed(ECONNRESET): return .closed
        case .failed(let error): return .open(errno: error)
        }
    }

    public enum PeerState: Equatable, Sendable, CustomStringConvertible {
        case closed
        case sentMore([UInt8])
        case open(errno: Int32)

        public var isClosed: Bool { self == .closed }

        public var description: String {
            switch self {
            case .closed: "closed"
            case .sentMore(let bytes): "sent more: \(String(decoding: bytes, as: UTF8.self).debugDescription)"
            case .open(let error): "still open (recv: errno \(error))"
            }
        }
    }

    private enum Received {
        case data([UInt8])
        case endOfFile
        case failed(Int32)
    }

    /// One recv, retried when a signal interrupts it (a socket with a receive timeout gets EINTR even
    /// for handlers installed with SA_RESTART).
    private func receive(limit: Int = 65536) -> Received {
        var chunk = [UInt8](repeating: 0, count: limit)
        for _ in 0..<100 {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { return .data(Array(chunk[..<count])) }
            if count == 0 { return .endOfFile }
            if errno != EINTR { return .failed(errno) }
        }
        return .failed(EINTR)
    }
}
