import AviaryConfig
import AviaryCore
import AviaryIPC
import AviarySMTP
import Logging
import NIOPosix

/// Per-client connection limits (`smtpd_client_connection_count_limit`, `..._rate_limit`), counted by the
/// anvil service across every smtpd process. Clients in `smtpd_client_event_limit_exceptions` (by default
/// mynetworks) are not counted.
struct ClientLimits: Sendable {
    let service: String
    let countLimit: Int
    let rateLimit: Int
    let rateTimeUnit: Int
    let exceptions: ClientNetworks
    let anvil: AnvilClient

    init(config: MainConfig, service: String) {
        self.service = service
        countLimit = max(0, config.integer(.smtpdClientConnectionCountLimit))
        rateLimit = max(0, config.integer(.smtpdClientConnectionRateLimit))
        rateTimeUnit = max(1, config.seconds(.anvilRateTimeUnit))
        exceptions = ClientNetworks(config.list(.smtpdClientEventLimitExceptions))
        anvil = AnvilClient(socketPath: config.string(.queueDirectory) + "/private/anvil")
    }

    enum Refusal: Sendable {
        case count
        case rate

        func reply(hostname: String, client: String) -> SMTPReply {
            .tooManyConnections(hostname: hostname, client: client)
        }
    }

    struct Admission: Sendable {
        /// anvil counted the connection: it must hear of its end.
        var isCounted = false
        var refusal: Refusal?
    }

    /// Counts the connection with anvil and says whether it is over a limit.
    func admit(_ client: ClientIdentity, pool: NIOThreadPool, logger: Logger) async -> Admission {
        guard countLimit > 0 || rateLimit > 0, !exceptions.contains(client.address) else { return Admission() }
        let anvil = anvil
        let service = service
        let answer = try? await pool.runIfActive { anvil.connect(service: service, address: client.address) }
        guard let (count, rate) = answer ?? nil else {
            logger.warning("cannot reach the anvil service at \(anvil.socketPath); connection limits are not enforced")
            return Admission()
        }
        if countLimit > 0, count > countLimit {
            logger.warning("Connection concurrency limit exceeded: \(count) from \(client.description) for service \(service)")
            return Admission(isCounted: true, refusal: .count)
        }
        if rateLimit > 0, rate > rateLimit {
            logger.warning(
                "Connection rate limit exceeded: \(rate) from \(client.description) for service \(service) (\(rateLimit) per \(rateTimeUnit)s)")
            return Admission(isCounted: true, refusal: .rate)
        }
        return Admission(isCounted: true)
    }

    func release(_ client: ClientIdentity, pool: NIOThreadPool) {
        let anvil = anvil
        let service = service
        pool.submit { _ in anvil.disconnect(service: service, address: client.address) }
    }
}
