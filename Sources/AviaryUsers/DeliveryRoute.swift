import AviaryConfig

/// Where a recipient goes: the transport (a master.cf service) and, for transports that talk to other
/// hosts, the next hop in Postfix syntax (`example.com` for an MX lookup, `[mail.example.com]:587` for
/// that host without one). Postfix's trivial-rewrite decides this; here qmgr asks `DeliveryRouter`.
public struct DeliveryRoute: Sendable, Hashable, CustomStringConvertible {
    public var transport: String
    /// nil for transports without one (local).
    public var nextHop: String?

    public init(transport: String, nextHop: String?) {
        self.transport = transport
        self.nextHop = nextHop
    }

    /// `smtp:[relay.example]:587` or `local`.
    public var description: String { nextHop.map { "\(transport):\($0)" } ?? transport }
}

/// Resolves recipients to routes: `transport_maps` first (transport(5): `user@domain`, `domain`,
/// `.domain` for its subdomains, `*`; values `transport:nexthop`, `transport:`, `:nexthop`), then the
/// address class (mydestination → local_transport, virtual domains → virtual_transport, relay_domains →
/// relay_transport, the rest → default_transport) with `relayhost` as the next hop for relay and remote
/// mail, or else the recipient's domain.
public struct DeliveryRouter: Sendable {
    public let routes: DomainRoutes
    public let relayhost: String
    public let transportMaps: [String]
    let directory: UserDirectory

    public init(config: MainConfig, directory: UserDirectory) {
        routes = directory.routes
        relayhost = config.string(.relayhost).trimmingWhitespace()
        transportMaps = config.list(.transportMaps)
        self.directory = directory
    }

    /// The route of `address`, or the reason the tables could not be read (the recipient then waits).
    /// Blocking (table files): call off event loops.
    public func route(for address: String) -> Result<DeliveryRoute, RouteError> {
        let parts = AddressParts(address)
        let kind = routes.classify(address)
        let defaultTransport = routes.transports[kind] ?? "smtp"
        let defaultHop: String? =
            switch kind {
            case .local, .virtual: nil
            case .relay, .remote: relayhost.isEmpty ? parts.domain : relayhost
            }
        guard !transportMaps.isEmpty else { return .success(DeliveryRoute(transport: defaultTransport, nextHop: defaultHop)) }
        var keys = [address.lowercased()]
        if !parts.domain.isEmpty {
            keys.append(parts.domain)
            var rest = Substring(parts.domain)
            while let dot = rest.firstIndex(of: ".") {
                keys.append(String(rest[dot...]))
                rest = rest[rest.index(after: dot)...]
            }
        }
        keys.append("*")
        switch directory.find(keys, in: transportMaps) {
        case .notFound:
            return .success(DeliveryRoute(transport: defaultTransport, nextHop: defaultHop))
        case .failed(let reason):
            return .failure(RouteError(reason: "transport_maps lookup failed: \(reason)"))
        case .found(let value):
            return .success(Self.parse(value, defaultTransport: defaultTransport, domain: parts.domain, defaultHop: defaultHop))
        }
    }

    /// The route of `address` in a message with a content filter (`content_filter`, `transport:nexthop`): the
    /// filter's, whatever the recipient's own route, so that transport_maps and relayhost play no part. A filter
    /// without a next hop (`transport` or `transport:`) goes to the recipient's domain, as Postfix does when
    /// `default_filter_nexthop` is empty. A filter without a transport is a configuration error: the
    /// recipient waits rather than pass the filter by.
    public func filterRoute(_ filter: String, for address: String) -> Result<DeliveryRoute, RouteError> {
        let text = filter.trimmingWhitespace()
        let colon = text.firstIndex(of: ":") ?? text.endIndex
        let transport = String(text[..<colon])
        guard !transport.isEmpty, !transport.contains(where: \.isWhitespace) else {
            return .failure(RouteError(reason: "bad content_filter \"\(filter)\": expected transport:nexthop"))
        }
        let hop = colon == text.endIndex ? "" : String(text[text.index(after: colon)...])
        let domain = AddressParts(address).domain
        let nextHop = hop.isEmpty ? (domain.isEmpty ? nil : domain) : hop
        return .success(DeliveryRoute(transport: transport, nextHop: nextHop))
    }

    /// A transport(5) value: `smtp:[mx.example]:25`, `relay:`, `:[backup.example]`, `local`.
    static func parse(_ value: String, defaultTransport: String, domain: String, defaultHop: String?) -> DeliveryRoute {
        let text = value.trimmingWhitespace()
        guard let colon = text.firstIndex(of: ":") else {
            let transport = text.isEmpty ? defaultTransport : text
            return DeliveryRoute(transport: transport, nextHop: transport == "local" ? nil : defaultHop)
        }
        let transport = String(text[..<colon])
        let hop = String(text[text.index(after: colon)...])
        let chosenTransport = transport.isEmpty ? defaultTransport : transport
        // A transport named without a next hop delivers to the recipient's domain (or nowhere for local).
        let chosenHop = hop.isEmpty ? (chosenTransport == "local" ? nil : (domain.isEmpty ? defaultHop : domain)) : hop
        return DeliveryRoute(transport: chosenTransport, nextHop: chosenHop)
    }
}

public struct RouteError: Error, Sendable, Equatable {
    public var reason: String
}
