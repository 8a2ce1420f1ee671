import AviaryConfig
import AviaryDNS
import AviaryQueue
import NIOCore

/// How the smtp client's TLS is required and checked (`smtp_tls_security_level`).
public enum SMTPTLSLevel: String, Sendable, CaseIterable {
    /// Never STARTTLS.
    case none
    /// STARTTLS when the server offers it; a failed handshake retries the same host in plaintext.
    case may
    /// TLS required, certificate not checked.
    case encrypt
    /// TLS required, certificate must verify and match the MX host name.
    case verify
    /// TLS required, certificate must verify and match the next-hop domain.
    case secure

    /// Whether a session without TLS must not deliver.
    public var isMandatory: Bool { self == .encrypt || self == .verify || self == .secure }
}

/// Everything the smtp agent reads from main.cf, read once per process.
public struct SMTPClientSettings: Sendable {
    public var queue: QueueDirectory
    public var heloName: String
    /// `myhostname`: a server that calls itself this is us (loop detection).
    public var myHostname: String
    public var resolver: DNSResolver
    public var connectTimeout: TimeAmount
    public var heloTimeout: TimeAmount
    public var starttlsTimeout: TimeAmount
    public var mailTimeout: TimeAmount
    public var rcptTimeout: TimeAmount
    public var dataInitTimeout: TimeAmount
    public var dataTransferTimeout: TimeAmount
    public var dataDoneTimeout: TimeAmount
    public var quitTimeout: TimeAmount
    /// 0: no limit.
    public var mxAddressLimit: Int
    /// 0: no limit.
    public var mxSessionLimit: Int
    public var tlsLevel: SMTPTLSLevel
    public var tlsCAFile: String
    public var tlsUsesSystemStore: Bool
    public var isSASLEnabled: Bool
    public var saslPasswordMaps: [String]
    /// Upper-cased; empty: any mechanism the client speaks.
    public var saslMechanismFilter: [String]
    public var saslSecurityOptions: Set<String>
    public var saslTLSSecurityOptions: Set<String>
    /// Problems found in the settings (an unknown TLS level): logged, and the safe reading is used.
    public var warnings: [String] = []

    public init(config: MainConfig) {
        queue = QueueDirectory(root: config.string(.queueDirectory))
        heloName = config.string(.smtpHeloName)
        myHostname = config.string(.myhostname)
        let resolverText = config.string(.dnsResolverAddress)
        resolver = DNSResolver(resolverAddress: resolverText) ?? DNSResolver()
        func time(_ parameter: Parameter) -> TimeAmount { .seconds(Int64(max(1, config.seconds(parameter)))) }
        connectTimeout = time(.smtpConnectTimeout)
        heloTimeout = time(.smtpHeloTimeout)
        starttlsTimeout = time(.smtpStarttlsTimeout)
        mailTimeout = time(.smtpMailTimeout)
        rcptTimeout = time(.smtpRcptTimeout)
        dataInitTimeout = time(.smtpDataInitTimeout)
        dataTransferTimeout = time(.smtpDataXferTimeout)
        dataDoneTimeout = time(.smtpDataDoneTimeout)
        quitTimeout = time(.smtpQuitTimeout)
        mxAddressLimit = max(0, config.integer(.smtpMXAddressLimit))
        mxSessionLimit = max(0, config.integer(.smtpMXSessionLimit))
        let levelText = config.string(.smtpTLSSecurityLevel).lowercased()
        if let level = SMTPTLSLevel(rawValue: levelText.isEmpty ? "none" : levelText) {
            tlsLevel = level
        } else {
            // An unknown level must not weaken anything: treat it as the strictest.
            tlsLevel = .secure
            warnings.append("unknown smtp_tls_security_level \"\(levelText)\"; using secure")
        }
        if DNSResolver(resolverAddress: resolverText) == nil {
            warnings.append("cannot read smtp_dns_resolver_address \"\(resolverText)\"; using the system's resolver")
        }
        tlsCAFile = config.string(.smtpTLSCAFile)
        tlsUsesSystemStore = config.bool(.smtpTLSSystemStore)
        isSASLEnabled = config.bool(.smtpSASLAuthEnable)
        saslPasswordMaps = config.list(.smtpSASLPasswordMaps)
        saslMechanismFilter = config.list(.smtpSASLMechanismFilter).map { $0.uppercased() }
        saslSecurityOptions = Set(config.list(.smtpSASLSecurityOptions).map { $0.lowercased() })
        saslTLSSecurityOptions = Set(config.list(.smtpSASLTLSSecurityOptions).map { $0.lowercased() })
    }
}
