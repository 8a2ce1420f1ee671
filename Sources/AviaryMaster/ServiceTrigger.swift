#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Master's periodic wake-up of a service: connect to its Unix socket, write `W`, close. This is how qmgr
/// gets its regular kick (Postfix's `wakeup` column and `trigger` requests).
public enum ServiceTrigger {
    /// The byte a wake-up writes.
    public static let wakeupByte: UInt8 = UInt8(ascii: "W")

    /// Sends one wake-up; returns whether it was delivered. Never blocks: a service whose queue of
    /// pending connections is full is busy anyway.
    @discardableResult
    public static func wake(socketPath: String) -> Bool {
        let fd = socket(
            AF_UNIX,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
            0
        )
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard connected == 0 else { return false }
        var byte = wakeupByte
        return send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1
    }
}
