import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

/// A client of the services master runs on sockets in `public/`: pickup and qmgr take one wake-up byte,
/// showq answers one request byte with the queue listing and closes.
///
///     pickup   any byte: scan maildrop/ now
///     qmgr     I: new mail, F: flush the deferred queue, W: scan
///     showq    T: the mailq text, J: postqueue -j JSON lines; then EOF
public enum PublicService {
    /// The name of the showq service and its request bytes.
    public static let showq = "showq"
    public static let pickup = "pickup"
    public static let queueManager = "qmgr"
    public static let textRequest = UInt8(ascii: "T")
    public static let jsonRequest = UInt8(ascii: "J")

    /// Connects to the Unix socket at `path`; nil when nothing listens there (or it is not reachable).
    /// Reads and writes on the descriptor time out after `timeout` seconds, so no wait is unbounded.
    public static func connect(_ path: String, timeout: Int = 30) -> FileDescriptor? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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

    /// Sends one byte on a connected socket; false when it could not be sent.
    @discardableResult
    public static func send(_ byte: UInt8, on descriptor: FileDescriptor) -> Bool {
        var value = byte
        return Glibc.send(descriptor.rawValue, &value, 1, Int32(MSG_NOSIGNAL)) == 1
    }

    /// Connects, sends one byte and closes: a trigger (Postfix's `trigger`). False when nobody listens.
    @discardableResult
    public static func trigger(_ path: String, _ byte: UInt8) -> Bool {
        guard let descriptor = connect(path, timeout: 5) else { return false }
        return send(byte, on: descriptor)
    }
}
