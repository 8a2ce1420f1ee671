import AviaryDNS

/// TXT look-ups: all DKIM needs (keys at `selector._domainkey.domain`), and the first of SPF's. Calls block.
public protocol TXTLookup: Sendable {
    /// TXT records, each record's strings joined.
    func txtRecords(_ name: String) -> DNSLookup<[[UInt8]]>
}

/// The DNS look-ups SPF evaluation makes. `DNSResolver` is the real one; tests pass a table.
///
/// Calls block: an evaluation runs on a thread pool, never on an event loop. `.notFound` (NXDOMAIN) and
/// `.noData` both count as "void" look-ups (RFC 7208 4.6.4); `.temporaryFailure` becomes `temperror`.
public protocol SPFDNS: TXTLookup {
    /// A records when `ipv6` is false, AAAA records when it is true, as text.
    func addresses(_ host: String, ipv6: Bool) -> DNSLookup<[String]>
    func mxRecords(_ domain: String) -> DNSLookup<[MXRecord]>
    /// The PTR names of an address.
    func pointerNames(of address: String) -> DNSLookup<[String]>
}

extension DNSResolver: SPFDNS {}
