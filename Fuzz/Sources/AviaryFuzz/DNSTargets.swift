import AviaryDNS

/// DNS answers as the resolver hands them over: the smtp agent reads MX and A/AAAA, smtpd reads PTR and, for SPF, TXT.
enum DNSTargets {
    static func answers(_ bytes: [UInt8]) {
        _ = DNSResolver.mxRecords(in: bytes)
        _ = DNSResolver.addresses(in: bytes)
        _ = DNSResolver.hostNames(in: bytes)
        _ = DNSResolver.txtRecords(in: bytes)
    }
}
