import CAviarySystem

#if canImport(Glibc)
import Glibc
#endif

/// The client side of the Unix sockets master's services listen on, in one place: connecting with a
/// bound wait, and Postfix's `trigger` (connect, write one letter, close) used to wake qmgr and pickup.
public enum UnixSocket {
    /// Connects to the socket at `path`; nil when nothing listens there (or it is not reachable).
    /// - Parameters:
    ///   - timeout: seconds after which a read or write on the connection gives up, so no wait is unbounded.
    ///   - nonBlocking: connect without waiting: a service whose backlog is full is busy anyway.
    public static func connect(_ path: String, timeout: Int = 30, nonBlocking: Bool = false) -> FileDescriptor? {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { return nil }
        let descriptor = FileDescriptor(adopting: fd, path: path)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        return connected == 0 ? descriptor : nil
    }

    /// Sends one byte on a connected socket (never SIGPIPE); false when it could not be sent.
    @discardableResult
    public static func send(_ byte: UInt8, on descriptor: FileDescriptor) -> Bool {
        var value = byte
        return Glibc.send(descriptor.rawValue, &value, 1, Int32(MSG_NOSIGNAL)) == 1
    }

    /// Postfix's trigger: connect without waiting, write one letter, close. False when nobody listens.
    /// Callers treat failure as harmless: the services also scan on their own timers.
    @discardableResult
    public static func trigger(_ path: String, _ byte: UInt8) -> Bool {
        guard let descriptor = connect(path, timeout: 5, nonBlocking: true) else { return false }
        return send(byte, on: descriptor)
    }

    /// Writes all of `bytes` on a connected socket, never raising SIGPIPE (a peer that went away is an error).
    public static func send(_ bytes: [UInt8], on socket: FileDescriptor) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(socket.rawValue, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                throw SystemError.current("send", path: socket.path)
            }
            offset += sent
        }
    }

    /// Writes `bytes` on a connected socket with `descriptor` attached (SCM_RIGHTS, with the first byte): the peer
    /// gets its own reference to the same open file, which stays open when this process closes its copy.
    public static func send(_ bytes: [UInt8], passing descriptor: Int32, on socket: FileDescriptor) throws(SystemError) {
        precondition(!bytes.isEmpty, "a descriptor travels with at least one byte")
        var sent: Int
        repeat {
            sent = bytes.withUnsafeBytes { aviary_send_descriptor(socket.rawValue, $0.baseAddress, $0.count, descriptor) }
        } while sent < 0 && errno == EINTR
        guard sent >= 0 else { throw SystemError.current("sendmsg", path: socket.path) }
        if sent < bytes.count { try send(Array(bytes[sent...]), on: socket) }
    }

    /// Reads up to `count` bytes from a connected socket, and the descriptor sent with them if there was one
    /// (close-on-exec; only the first of several is kept). No bytes means the peer closed.
    public static func receive(upTo count: Int, on socket: FileDescriptor) throws(SystemError) -> (bytes: [UInt8], passed: FileDescriptor?) {
        var bytes = [UInt8](repeating: 0, count: count)
        var passed: Int32 = -1
        var got: Int
        repeat {
            got = bytes.withUnsafeMutableBytes { aviary_receive_descriptor(socket.rawValue, $0.baseAddress, count, &passed) }
        } while got < 0 && errno == EINTR
        guard got >= 0 else { throw SystemError.current("recvmsg", path: socket.path) }
        bytes.removeLast(count - got)
        return (bytes, passed >= 0 ? FileDescriptor(adopting: passed) : nil)
    }
}
