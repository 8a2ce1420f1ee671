import AviaryCore
import AviaryInstance

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The listening sockets master opens for its services and hands to their processes as descriptor 3.
///
/// Every descriptor is created close-on-exec, so a child inherits only what `posix_spawn` maps onto
/// descriptor 3 for it.
public enum ListeningSocket {
    /// How many connections the kernel queues before a process accepts them.
    static let backlog: Int32 = 1024

    /// Binds `count` TCP sockets to one address, one for each process slot of the service.
    ///
    /// Each has `SO_REUSEADDR` and `SO_REUSEPORT`, so they share the address and the kernel spreads new
    /// connections over the processes (several NIO processes accepting on one shared descriptor crash debug
    /// builds). Port 0 binds the first socket to a port the kernel chooses and the others to that port.
    /// Without a host the socket listens on every interface: IPv6 `::` accepting IPv4 too (a child gets
    /// only one descriptor), or `0.0.0.0` where the host has no IPv6.
    /// - Returns: the sockets and the address they are bound to.
    public static func inet(
        _ address: InetServiceAddress,
        count: Int
    ) throws(MasterError)
        -> (sockets: [FileDescriptor], bound: SocketAddress)
    {
        var target: SocketAddress
        var first: FileDescriptor
        if let host = address.host {
            target = try SocketAddress.resolve(host: host, port: address.port)
            first = try bindInet(target, dualStack: false, service: address)
        } else {
            target = SocketAddress.wildcard(family: AF_INET6, port: address.port)
            do {
                first = try bindInet(target, dualStack: true, service: address)
            } catch let error where isMissingIPv6(error) {
                target = SocketAddress.wildcard(family: AF_INET, port: address.port)
                first = try bindInet(target, dualStack: false, service: address)
            }
        }
        let bound = try boundAddress(of: first, service: address)
        target.port = bound.port
        var sockets = [first]
        while sockets.count < max(count, 1) {
            sockets.append(try bindInet(target, dualStack: address.host == nil, service: address))
        }
        return (sockets, bound)
    }

    /// Binds a Unix-domain stream socket at `path`, replacing a stale socket left by an earlier run.
    /// - Parameters:
    ///   - mode: the permissions of the socket file (0600 private, 0666 public).
    ///   - owner: the account that owns the socket file; nil leaves it to the current user.
    public static func unix(path: String, mode: mode_t, owner: SystemAccount?) throws(MasterError) -> FileDescriptor {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else {
            throw MasterError(
                .system,
                "socket path \(path) is longer than \(capacity - 1) bytes; use a shorter queue_directory"
            )
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            // Only a socket is ours to replace; anything else at that name is a mistake a human should see.
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw MasterError(.system, "\(path) exists and is not a socket; remove it")
            }
            unlink(path)
        }
        let socket = try makeSocket(family: AF_UNIX, path: path)
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let status = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.rawValue, $0, length) }
        }
        if status != 0 { throw MasterError.system(.current("bind", path: path)) }
        // bind applied the umask; set the intended mode before anyone can connect.
        if chmod(path, mode) != 0 { throw MasterError.system(.current("chmod", path: path)) }
        if let owner, Privileges.isRoot, chown(path, owner.uid, owner.gid) != 0 {
            throw MasterError.system(.current("chown", path: path))
        }
        if listen(socket.rawValue, backlog) != 0 { throw MasterError.system(.current("listen", path: path)) }
        return socket
    }

    // MARK: - Helpers

    private static func makeSocket(family: Int32, path: String) throws(MasterError) -> FileDescriptor {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = socket(family, type, 0)
        if fd < 0 { throw MasterError.system(.current("socket", path: path)) }
        return FileDescriptor(adopting: fd, path: path)
    }

    private static func bindInet(
        _ target: SocketAddress,
        dualStack: Bool,
        service: InetServiceAddress
    )
        throws(MasterError) -> FileDescriptor
    {
        let name = service.description
        let socket = try makeSocket(family: target.family, path: name)
        try setOption(socket, SOL_SOCKET, SO_REUSEADDR, 1, name)
        try setOption(socket, SOL_SOCKET, SO_REUSEPORT, 1, name)
        if target.family == AF_INET6 {
            try setOption(socket, Int32(IPPROTO_IPV6), IPV6_V6ONLY, dualStack ? 0 : 1, name)
        }
        let status = target.withSockaddr { bind(socket.rawValue, $0, $1) }
        if status != 0 { throw MasterError.system(.current("bind", path: target.description)) }
        if listen(socket.rawValue, backlog) != 0 { throw MasterError.system(.current("listen", path: name)) }
        return socket
    }

    private static func setOption(
        _ socket: FileDescriptor,
        _ level: Int32,
        _ option: Int32,
        _ value: Int32,
        _ name: String
    ) throws(MasterError) {
        var value = value
        if setsockopt(socket.rawValue, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw MasterError.system(.current("setsockopt", path: name))
        }
    }

    private static func boundAddress(
        of socket: FileDescriptor,
        service: InetServiceAddress
    ) throws(MasterError)
        -> SocketAddress
    {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket.rawValue, $0, &length) }
        }
        if status != 0 { throw MasterError.system(.current("getsockname", path: service.description)) }
        return SocketAddress(storage: storage, length: length)
    }

    private static func isMissingIPv6(_ error: MasterError) -> Bool {
        guard let cause = error.cause as? SystemError else { return false }
        return [EAFNOSUPPORT, EADDRNOTAVAIL, EPROTONOSUPPORT].contains(cause.code)
    }
}
