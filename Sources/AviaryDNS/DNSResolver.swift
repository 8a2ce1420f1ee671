internal import CAviaryResolv

/// DNS lookups through the system's libresolv. Every call blocks: run it on a thread pool, never on an
/// event loop. Each call has its own resolver state, so calls may run on several threads at once.
public struct DNSResolver: Sendable {
    /// `host:port` (IPv4) of the one server to ask, or nil for /etc/resolv.conf's (smtp_dns_resolver_address).
    public var serverAddress: (host: String, port: Int)?
    public var timeoutSeconds: Int
    public var attempts: Int

    public init(serverAddress: (host: String, port: Int)? = nil, timeoutSeconds: Int = 5, attempts: Int = 2) {
        self.serverAddress = serverAddress
        self.timeoutSeconds = timeoutSeconds
        self.attempts = attempts
    }

    /// Reads `host:port`, `[host]:port` or `host` (port 53).
    public init?(resolverAddress text: String) {
        guard !text.isEmpty else {
            self.init()
            return
        }
        var host = Substring(text)
        var port = 53
        if let colon = host.lastIndex(of: ":") {
            guard let parsed = Int(host[host.index(after: colon)...]), (1...65535).contains(parsed) else { return nil }
            port = parsed
            host = host[..<colon]
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        self.init(serverAddress: (String(host), port))
    }

    /// The record types Aviary asks for.
    public enum RecordType: Int32, Sendable {
        case a = 1
        case ptr = 12
        case mx = 15
        case txt = 16
        case aaaa = 28
    }

    /// The outcome of one query.
    public enum Answer: Sendable, Equatable {
        /// The raw DNS message with at least one answer record.
        case records([UInt8])
        /// The name exists but has no records of this type.
        case noData
        /// The name does not exist (NXDOMAIN).
        case notFound
        /// SERVFAIL, a timeout, or no resolver: try again later.
        case temporaryFailure
    }

    public func query(_ name: String, _ type: RecordType) -> Answer {
        guard let state = aviary_res_open() else { return .temporaryFailure }
        defer { aviary_res_free(state) }
        aviary_res_set_timeout(state, Int32(timeoutSeconds), Int32(attempts))
        if let serverAddress, aviary_res_set_server(state, serverAddress.host, Int32(serverAddress.port)) != 0 {
            return .temporaryFailure
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var herrno: Int32 = 0
        let length = aviary_res_query(state, name, type.rawValue, &buffer, Int32(buffer.count), &herrno)
        guard length >= 0 else {
            switch herrno {
            case HOST_NOT_FOUND: return .notFound
            case NO_DATA: return .noData
            default: return .temporaryFailure
            }
        }
        let message = Array(buffer.prefix(Int(length)))
        return aviary_ns_answer_count(message, length) > 0 ? .records(message) : .noData
    }

    /// Whether mail can be addressed to `domain`: an MX record, or failing that an A or AAAA record
    /// (reject_unknown_recipient_domain and reject_unknown_sender_domain).
    public func mailDomainExists(_ domain: String) -> Bool? {
        for type in [RecordType.mx, .a, .aaaa] {
            switch query(domain, type) {
            case .records: return true
            case .noData: continue
            case .notFound: return false
            case .temporaryFailure: return nil
            }
        }
        return false
    }
}
