import AviaryConfig

/// Which kind of domain an address belongs to, decided from main.cf alone (no lookups): the first step
/// of address resolution, shared by smtpd (relay control) and qmgr (choosing a transport).
public enum AddressClass: Sendable, Equatable {
    /// `mydestination`: system accounts and aliases (`local_transport`).
    case local
    /// `virtual_mailbox_domains`: users in `virtual_mailbox_maps` (`virtual_transport`).
    case virtual
    /// `relay_domains`: other hosts this server relays to from anyone (`relay_transport`).
    case relay
    /// Everything else (`default_transport`); only trusted clients may send there.
    case remote
}

/// The domain tables of main.cf, lowercased once.
public struct DomainRoutes: Sendable {
    public let localDomains: Set<String>
    public let virtualDomains: Set<String>
    public let relayDomains: Set<String>
    public let transports: [AddressClass: String]

    public init(config: MainConfig) {
        func domains(_ parameter: Parameter) -> Set<String> {
            Set(config.list(parameter).map { AddressParts.canonicalDomain($0) })
        }
        localDomains = domains(.mydestination)
        virtualDomains = domains(.virtualMailboxDomains)
        relayDomains = domains(.relayDomains)
        transports = [
            .local: config.string(.localTransport), .virtual: config.string(.virtualTransport),
            .relay: config.string(.relayTransport), .remote: config.string(.defaultTransport),
        ]
    }

    /// The class of an address (`user@domain`; an address without a domain is local).
    public func classify(_ address: String) -> AddressClass {
        let domain = AddressParts(address).domain
        if domain.isEmpty || localDomains.contains(domain) { return .local }
        if virtualDomains.contains(domain) { return .virtual }
        if relayDomains.contains(domain) { return .relay }
        return .remote
    }

    /// The transport (master.cf service name) that delivers to `address`.
    public func transport(for address: String) -> String { transports[classify(address)] ?? "smtp" }
}

/// An address split at its last `@` (a quoted local part keeps any `@` inside its quotes).
public struct AddressParts: Sendable, Equatable {
    public var localPart: String
    /// Lowercased, without a trailing dot; "" when the address has no domain.
    public var domain: String

    public init(_ address: String) {
        // An address that ends in a quote is a quoted local part with no domain ("a@b").
        if let at = address.lastIndex(of: "@"), !(address.hasPrefix("\"") && address.hasSuffix("\"")) {
            localPart = String(address[..<at])
            domain = AddressParts.canonicalDomain(String(address[address.index(after: at)...]))
        } else {
            localPart = address
            domain = ""
        }
    }

    public static func canonicalDomain(_ domain: String) -> String {
        var result = domain.lowercased()
        while result.hasSuffix(".") { result.removeLast() }
        return result
    }

    /// The local part without a `recipient_delimiter` extension (`user+tag` → `user`), if it has one.
    public func localPartWithoutExtension(delimiters: String) -> String? {
        guard !delimiters.isEmpty, let index = localPart.firstIndex(where: { delimiters.contains($0) }),
            index != localPart.startIndex
        else { return nil }
        return String(localPart[..<index])
    }
}
