import AviaryDNS
import AviaryIPC

/// Turns a next hop into the servers to try, in order (Postfix `smtp_addr.c`): MX records sorted by
/// preference with equal preferences shuffled, each host's IPv4 then IPv6 addresses, at most
/// `smtp_mx_address_limit` of them; a domain without MX is its own host (RFC 5321 5.1).
struct DestinationResolver {
    let resolver: DNSResolver
    let addressLimit: Int

    /// A lookup that ends the delivery attempt for every recipient.
    struct Failure: Error {
        var status: DeliveryResult.Status
        var dsn: String
        var text: String
    }

    func targets(for nextHop: NextHop) -> Result<[SMTPTarget], Failure> {
        if nextHop.isAddressLiteral {
            return .success([SMTPTarget(hostName: nextHop.host, address: nextHop.host, port: nextHop.port)])
        }
        guard nextHop.usesMX else { return hostTargets(nextHop.host, port: nextHop.port, failureIsFinal: true) }
        switch resolver.mxRecords(nextHop.host) {
        case .found(let records):
            if records.contains(where: \.isNull) {
                return .failure(Failure(
                    status: .bounced, dsn: "5.1.10",
                    text: "Domain \(nextHop.host) does not accept mail (nullMX)"))
            }
            return mxTargets(Self.ordered(records), port: nextHop.port)
        case .noData:
            return hostTargets(nextHop.host, port: nextHop.port, failureIsFinal: true)
        case .notFound:
            return .failure(Failure(
                status: .bounced, dsn: "5.4.4",
                text: "Host or domain name not found. Name service error for name=\(nextHop.host) type=MX: Host not found"))
        case .temporaryFailure:
            return .failure(Failure(
                status: .deferred, dsn: "4.4.3",
                text: "Host or domain name not found. Name service error for name=\(nextHop.host) type=MX: Host not found, try again"))
        }
    }

    /// Preference order, equal preferences in random order (RFC 5321 5.1).
    static func ordered(_ records: [MXRecord]) -> [MXRecord] {
        records.shuffled().sorted { $0.preference < $1.preference }
    }

    private func mxTargets(_ records: [MXRecord], port: Int) -> Result<[SMTPTarget], Failure> {
        var targets: [SMTPTarget] = []
        var lastFailure: Failure?
        let best = records.first?.preference
        for record in records where !isFull(targets) {
            switch hostTargets(record.host, port: port, failureIsFinal: false) {
            case .success(var found):
                for index in found.indices { found[index].isBestMX = record.preference == best }
                targets += found
            case .failure(let failure): lastFailure = failure
            }
        }
        if targets.isEmpty, let lastFailure { return .failure(lastFailure) }
        return .success(Array(targets.prefix(limit)))
    }

    /// A host's addresses. `failureIsFinal`: a host that does not exist bounces (it is the destination
    /// itself); an MX host that does not exist only defers (the domain's DNS may be fixed).
    private func hostTargets(_ host: String, port: Int, failureIsFinal: Bool) -> Result<[SMTPTarget], Failure> {
        switch resolver.addresses(host) {
        case .found(let addresses):
            return .success(addresses.prefix(limit).map { SMTPTarget(hostName: host, address: $0, port: port) })
        case .notFound, .noData:
            let type = failureIsFinal ? .bounced : DeliveryResult.Status.deferred
            return .failure(Failure(
                status: type, dsn: failureIsFinal ? "5.4.4" : "4.4.4",
                text: "Host or domain name not found. Name service error for name=\(host) type=A: Host not found"))
        case .temporaryFailure:
            return .failure(Failure(
                status: .deferred, dsn: "4.4.3",
                text: "Host or domain name not found. Name service error for name=\(host) type=A: Host not found, try again"))
        }
    }

    private var limit: Int { addressLimit > 0 ? addressLimit : Int.max }
    private func isFull(_ targets: [SMTPTarget]) -> Bool { targets.count >= limit }
}
