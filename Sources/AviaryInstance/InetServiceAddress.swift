#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where an `inet` service listens, read from its master.cf service name as Postfix reads it:
///
///     127.0.0.1:25     a numeric or named host and a port
///     [::1]:587        an IPv6 address in brackets and a port
///     25  or  smtp     a bare port number or a name from /etc/services: every interface
///
/// The port may be a number (0 lets the kernel choose) or a service name.
public struct InetServiceAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host part; nil for every interface.
    public var host: String?
    /// The port number.
    public var port: UInt16

    /// - Parameters:
    ///   - host: the address or host name; nil for every interface.
    ///   - port: the port number.
    public init(host: String?, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses a master.cf service name.
    /// - Throws: `MasterError` with code `.badServiceAddress` for an unknown port name or a malformed address.
    public init(parsing name: String) throws(MasterError) {
        func bad(_ why: String) -> MasterError {
            MasterError(.badServiceAddress, "inet service \"\(name)\": \(why)")
        }
        var hostPart: String?
        var portPart = name
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { throw bad("missing ']' after the IPv6 address") }
            let afterClose = name.index(after: close)
            guard afterClose < name.endIndex, name[afterClose] == ":" else { throw bad("missing ':port' after ']'") }
            hostPart = String(name[name.index(after: name.startIndex)..<close])
            portPart = String(name[name.index(after: afterClose)...])
        } else if let colon = name.lastIndex(of: ":") {
            hostPart = String(name[..<colon])
            portPart = String(name[name.index(after: colon)...])
        }
        if hostPart == "" || hostPart == "*" { hostPart = nil }
        guard let port = Self.port(named: portPart) else {
            throw bad("unknown port \"\(portPart)\" (not a number from 0 to 65535, nor a name in /etc/services)")
        }
        self.init(host: hostPart, port: port)
    }

    /// A port number, or the TCP port of a name in /etc/services.
    static func port(named text: String) -> UInt16? {
        if !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber) { return UInt16(text) }
        guard !text.isEmpty, let entry = getservbyname(text, "tcp") else { return nil }
        // s_port holds the port in network byte order in the low 16 bits.
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port))
    }

    public var description: String {
        guard let host else { return String(port) }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
