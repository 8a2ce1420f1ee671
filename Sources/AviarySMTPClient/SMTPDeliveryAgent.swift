#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import AviaryIPC
import AviaryMessage
import AviaryQueue
import AviaryTLS
import AviaryUsers
import Logging
import NIOCore

/// The smtp delivery agent (Postfix smtp(8)): takes one delivery request from qmgr, finds the servers of the
/// next hop, delivers over SMTP trying them in turn, records what the remote accepted in the queue file and
/// answers one outcome per recipient. Blocking: call it from the SingleServer thread, never an event loop.
public struct SMTPDeliveryAgent: Sendable {
    public var settings: SMTPClientSettings
    let group: any EventLoopGroup
    let tlsContext: TLSContext?
    let directory: UserDirectory
    let logger: Logger

    /// - Parameter group: the event loops the SMTP connections run on (one thread is plenty).
    public init(config: MainConfig, group: any EventLoopGroup, logger: Logger) {
        self.init(settings: SMTPClientSettings(config: config), config: config, group: group, logger: logger)
    }

    /// With settings changed after reading (tests shorten the resolver's timeouts).
    public init(settings: SMTPClientSettings, config: MainConfig, group: any EventLoopGroup, logger: Logger) {
        self.settings = settings
        self.group = group
        self.logger = logger
        directory = UserDirectory(config: config)
        for warning in settings.warnings { logger.warning("\(warning)") }
        var context: TLSContext?
        if settings.tlsLevel != .none {
            do {
                context = try TLSContext.client(
                    caFile: settings.tlsCAFile.isEmpty ? nil : TLSFile(settings.tlsCAFile, parameter: "smtp_tls_CAfile"),
                    useSystemStore: settings.tlsUsesSystemStore)
            } catch {
                logger.warning("TLS client is unavailable: \(error)")
            }
        }
        tlsContext = context
    }

    public func handle(_ request: DeliveryRequest) -> DeliveryResult {
        var logger = self.logger
        logger[metadataKey: "queue_id"] = "\(request.queueID)"
        var transaction: DeliveryTransaction
        switch DeliveryTransaction.begin(request, queueRoot: settings.queue.root, logger: logger) {
        case .opened(let opened): transaction = opened
        case .answered(let answer): return answer
        }
        guard !transaction.pending.isEmpty else { return transaction.result }
        let outcomes = deliver(transaction, logger: logger)
        let arrival = transaction.file.envelope.arrivalTime
        for outcome in outcomes {
            log(outcome, address: transaction.file.envelope.recipients[outcome.index].address, arrival: arrival, logger)
            transaction.record(outcome)
        }
        return transaction.result
    }

    /// Outcomes for every pending recipient.
    private func deliver(_ transaction: DeliveryTransaction, logger: Logger) -> [DeliveryResult.Outcome] {
        let pending = transaction.pending
        func everyone(_ status: DeliveryResult.Status, _ dsn: String, _ text: String) -> [DeliveryResult.Outcome] {
            pending.map { .init(index: $0.index, status: status, dsn: dsn, text: text) }
        }
        let hopText = transaction.request.nextHop ?? AddressParts(pending[0].address).domain
        guard let nextHop = NextHop(parsing: hopText) else {
            logger.warning("bad next hop \"\(hopText)\" in the delivery request")
            return everyone(.deferred, "4.3.5", "bad next hop \"\(hopText)\"")
        }
        let resolver = DestinationResolver(resolver: settings.resolver, addressLimit: settings.mxAddressLimit)
        switch resolver.targets(for: nextHop) {
        case .failure(let failure):
            return everyone(failure.status, failure.dsn, failure.text)
        case .success(let targets):
            let envelope = transaction.file.envelope
            let message = OutboundMessage(
                file: transaction.file, sender: envelope.sender,
                recipients: pending.map { ($0, envelope.recipients[$0.index]) },
                requiresSMTPUTF8: envelope[attribute: "smtputf8"] == "yes", bodyType: envelope[attribute: "body"],
                dsnReturn: envelope.dsnReturn, envelopeID: envelope.dsnEnvelopeID)
            return walk(targets, nextHop: nextHop, message: message, logger: logger)
        }
    }

    private func log(_ outcome: DeliveryResult.Outcome, address: String, arrival: Double, _ logger: Logger) {
        let delay = LogFormat.delay(Double(time(nil)) - arrival)
        logger.info(
            "to=<\(address)>, relay=\(outcome.relay ?? "none"), delay=\(delay), dsn=\(outcome.dsn), status=\(outcome.status.rawValue) (\(outcome.text))"
        )
    }
}
