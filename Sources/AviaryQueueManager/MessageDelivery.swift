#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import AviaryIPC
import AviaryMessage
import AviaryQueue
import AviaryUsers
import Logging
import NIOCore
import NIOPosix

/// One attempt to deliver one message: from the active queue to its agents and back to deferred,
/// bounced or removed.
struct MessageDelivery {
    let manager: QueueManager
    let id: QueueID
    var settings: QueueManagerSettings { manager.settings }
    var queue: QueueDirectory { manager.settings.queue }
    var logger: Logger {
        var logger = manager.logger
        logger[metadataKey: "queue_id"] = "\(id)"
        return logger
    }

    /// An outcome with the recipient it is about.
    struct Outcome: Sendable {
        var index: Int
        var address: String
        var status: DeliveryResult.Status
        var dsn: String
        var text: String
        /// The remote server that answered (`mx.example[192.0.2.1]:25`), for Remote-MTA in a DSN.
        var relay: String? = nil
        /// The remote server's reply when it refused, for Diagnostic-Code in a DSN.
        var remoteReply: String? = nil
        /// The transport it went to; `none` when qmgr decided itself (no route).
        var transport = "none"
    }

    func run(from source: QueueName) async {
        let queue = self.queue
        let id = self.id
        let logger = self.logger
        let path = queue.path(of: id, in: .active)
        // Move into active/ and read the envelope (file work: off the event loop).
        let opened: Result<(QueueEnvelope, Int64), QueueFileError>?
        do {
            opened = try await manager.pool.runIfActive {
                if source != .active { try queue.move(id, from: source, to: .active) }
                do throws(QueueFileError) {
                    let file = try QueueFile(path: path)
                    return .success((file.envelope, file.messageLength))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            // The file vanished (deleted by the admin, or taken by another scan): nothing to do.
            return
        }
        guard let opened else { return }
        let envelope: QueueEnvelope
        let size: Int64
        switch opened {
        case .success(let value): (envelope, size) = value
        case .failure(let error):
            switch error.disposition {
            case .gone:
                return
            case .corrupt:
                logger.warning("corrupt queue file: \(error.reason); moved to corrupt/")
                _ = try? await manager.pool.runIfActive { try queue.quarantine(name: id.rawValue, from: .active) }
            case .retry:
                // Back to deferred/ without reading it (a rename needs no descriptor), due after the minimal
                // backoff: the file may be fine, and a message must not wait for the next restart of qmgr.
                let next = manager.policy.retryAfterReadFailure(now: manager.now())
                logger.warning("cannot read queue file: \(error.reason); will try again later")
                _ = try? await manager.pool.runIfActive {
                    try queue.move(id, from: .active, to: .deferred)
                    try queue.setNextAttempt(id, in: .deferred, at: next)
                }
            }
            return
        }
        let pendingIndices = envelope.recipients.indices.filter { envelope.recipients[$0].status == .pending }
        if source != .active {
            logger.info("from=<\(envelope.sender)>, size=\(size), nrcpt=\(pendingIndices.count) (queue active)")
        }

        // Group by route (transport and next hop) and deliver; each has its own concurrency limit.
        let router = settings.router
        let plan = try? await manager.pool.runIfActive {
            Self.plan(envelope: envelope, recipients: pendingIndices, router: router)
        }
        let groups = plan?.groups ?? [:]
        var outcomes = plan?.unrouted ?? []
        logOutcomes(outcomes, relay: "none", envelope: envelope)
        await withTaskGroup(of: [Outcome].self) { tasks in
            for (route, recipients) in groups {
                tasks.addTask {
                    await deliver(to: route, recipients: recipients, envelope: envelope, path: path).map {
                        var outcome = $0
                        outcome.transport = route.transport
                        return outcome
                    }
                }
            }
            for await result in tasks { outcomes += result }
        }
        await finish(envelope: envelope, outcomes: outcomes, path: path, firstAttempt: source == .incoming)
    }

    /// The delivery requests of one attempt: the `recipients` (indices into the envelope) grouped by route, and
    /// those whose route could not be found (a table failed), deferred. A message with a content filter goes to
    /// the filter for every recipient, bypassing transport_maps and relayhost: one request when the filter
    /// names its next hop. Blocking (table files): call off event loops.
    static func plan(envelope: QueueEnvelope, recipients: [Int], router: DeliveryRouter)
        -> (groups: [DeliveryRoute: [DeliveryRequest.Recipient]], unrouted: [Outcome])
    {
        var groups: [DeliveryRoute: [DeliveryRequest.Recipient]] = [:]
        var unrouted: [Outcome] = []
        for index in recipients {
            let address = envelope.recipients[index].address
            let route =
                envelope.contentFilter.map { router.filterRoute($0, for: address) } ?? router.route(for: address)
            switch route {
            case .success(let route): groups[route, default: []].append(.init(index: index, address: address))
            case .failure(let error):
                unrouted.append(
                    Outcome(index: index, address: address, status: .deferred, dsn: "4.3.0", text: error.reason))
            }
        }
        return (groups, unrouted)
    }

    private func deliver(
        to route: DeliveryRoute, recipients: [DeliveryRequest.Recipient], envelope: QueueEnvelope, path: String
    ) async -> [Outcome] {
        func all(_ status: DeliveryResult.Status, _ dsn: String, _ text: String) -> [Outcome] {
            recipients.map { Outcome(index: $0.index, address: $0.address, status: status, dsn: dsn, text: text) }
        }
        let transport = route.transport
        let ticket: DeliveryScheduler.Ticket
        switch await manager.admit(route) {
        case .unavailable:
            let text =
                transport == "smtp"
                ? "mail transport unavailable (no smtp service in master.cf: remote delivery is not configured)"
                : "mail transport unavailable (no \(transport) service in master.cf)"
            let outcomes = all(.deferred, "4.3.0", text)
            logOutcomes(outcomes, relay: "none", envelope: envelope)
            return outcomes
        case .suspended(let reason):
            let outcomes = all(.deferred, "4.4.1", "delivery temporarily suspended: \(reason)")
            logOutcomes(outcomes, relay: "none", envelope: envelope)
            return outcomes
        case .start(let admitted), .wait(let admitted):
            // `admit` waits for the place itself: a ticket means deliver now.
            ticket = admitted
        }
        let request = DeliveryRequest(
            queueID: id.rawValue, queueFile: path, sender: envelope.sender, recipients: recipients, nextHop: route.nextHop)
        let socket = queue.transportSocket(transport)
        let timeout = TimeAmount.seconds(Int64(settings.deliveryTimeout))
        let result: DeliveryResult
        do {
            result = try await manager.client.deliver(request, socketPath: socket, timeout: timeout)
        } catch {
            await manager.deliveryFinished(ticket, outcomes: nil)
            let outcomes = all(.deferred, "4.3.0", "delivery temporarily suspended: \(error)")
            logOutcomes(outcomes, relay: transport, envelope: envelope)
            return outcomes
        }
        var byIndex: [Int: DeliveryResult.Outcome] = [:]
        for outcome in result.recipients { byIndex[outcome.index] = outcome }
        let outcomes = recipients.map { recipient in
            guard let outcome = byIndex[recipient.index] else {
                return Outcome(index: recipient.index, address: recipient.address, status: .deferred, dsn: "4.3.0",
                    text: "\(transport) returned no result for this recipient")
            }
            return Outcome(index: recipient.index, address: recipient.address, status: outcome.status,
                dsn: outcome.dsn, text: outcome.text, relay: outcome.relay, remoteReply: outcome.remoteReply)
        }
        await manager.deliveryFinished(ticket, outcomes: outcomes)
        return outcomes
    }

    /// Logs outcomes that qmgr decided itself (agents log their own).
    private func logOutcomes(_ outcomes: [Outcome], relay: String, envelope: QueueEnvelope) {
        guard !outcomes.isEmpty else { return }
        let delay = LogFormat.delay(Double(manager.now()) - envelope.arrivalTime)
        for outcome in outcomes {
            logger.info("to=<\(outcome.address)>, relay=\(relay), delay=\(delay), dsn=\(outcome.dsn), status=\(outcome.status.rawValue) (\(outcome.text))")
        }
    }

    /// - Parameter firstAttempt: the message came from incoming/ for this attempt (its file may be kept for reuse).
    private func finish(envelope: QueueEnvelope, outcomes: [Outcome], path: String, firstAttempt: Bool) async {
        let now = manager.now()
        let policy = manager.policy
        let disposition = policy.disposition(
            of: outcomes, arrival: envelope.arrivalTime, isBounce: envelope.isBounce, now: now)
        settings.metrics.count(Self.counts(of: outcomes, disposition))
        for outcome in disposition.expired {
            logger.info("to=<\(outcome.address)>, relay=none, dsn=\(outcome.expiredDSN), status=expired, returned to sender (\(outcome.text))")
        }
        let queue = self.queue
        let id = self.id
        let logger = self.logger
        let settings = self.settings
        let deferredNow = disposition.deferred
        let bouncedNow = disposition.bounced
        let spares = manager.spares
        do {
            let isRecorded = try await manager.pool.runIfActive { () throws -> Bool in
                guard let file = try Self.openIfPresent(path) else { return false }
                try file.lock()
                // The administrator may have deleted, held or requeued the message while it was out
                // (AviaryQueue/QueueAdministration.swift): it is no longer ours to record, bounce or move.
                guard file.isStillAt(path) else { return false }
                if !bouncedNow.isEmpty {
                    try Bouncer(settings: settings, logger: logger).returnToSender(
                        id: id, file: file, failures: bouncedNow)
                    for outcome in bouncedNow { try file.setStatus(.bounced, ofRecipient: outcome.index) }
                }
                try file.refreshStatuses()
                if file.envelope.recipients.allSatisfy({ $0.status.isFinal }) {
                    try spares.retire(id, firstAttempt: firstAttempt)
                    logger.info("removed")
                    return true
                }
                let reasons = deferredNow.map {
                    DelayReason(recipientIndex: $0.index, address: $0.address, status: $0.dsn, text: $0.text)
                }
                var warned = queue.isDelayWarningSent(for: id)
                if policy.isDelayWarningDue(arrival: file.envelope.arrivalTime, now: now, alreadyWarned: warned) {
                    try Bouncer(settings: settings, logger: logger).warnSender(id: id, file: file, delayed: deferredNow)
                    warned = true
                }
                try queue.writeDelayReasons(reasons, for: id, delayWarningSent: warned)
                var generator = SystemRandomNumberGenerator()
                let jitter = Double(generator.next(upperBound: UInt32(1000))) / 1000
                let next = policy.nextAttempt(arrival: file.envelope.arrivalTime, now: now, jitter: jitter)
                try queue.move(id, from: .active, to: .deferred)
                try queue.setNextAttempt(id, in: .deferred, at: next)
                return true
            }
            if !isRecorded {
                logger.debug("left the active queue during delivery (administrator): outcomes not recorded")
            }
        } catch {
            // The file stays in active/ and is recovered at the next start; say why loudly.
            logger.error("cannot record delivery outcomes: \(error)")
        }
    }
}

extension MessageDelivery {
    /// An attempt's recipients for the metrics service, per transport: delivered, deferred, and bounced (expired
    /// ones included: they are returned to the sender now). One datagram for the whole attempt.
    static func counts(of outcomes: [Outcome], _ disposition: DeliveryScheduler.Policy.Disposition) -> [MetricsSample] {
        var counts: [MetricsSample: Int] = [:]
        for outcome in outcomes where outcome.status == .sent {
            counts[MetricsSample(.delivered, outcome.transport, increment: 0), default: 0] += 1
        }
        for outcome in disposition.deferred { counts[MetricsSample(.deferred, outcome.transport, increment: 0), default: 0] += 1 }
        for outcome in disposition.bounced { counts[MetricsSample(.bounced, outcome.transport, increment: 0), default: 0] += 1 }
        return counts.map { MetricsSample($0.key.counter, $0.key.label, increment: $0.value) }
            .sorted { ($0.counter.rawValue, $0.label) < ($1.counter.rawValue, $1.label) }
    }

    /// Opens a queue file for recording outcomes; nil when it no longer exists (deleted or moved away).
    static func openIfPresent(_ path: String) throws(QueueFileError) -> QueueFile? {
        do {
            return try QueueFile(path: path, forUpdate: true)
        } catch {
            if error.systemError?.code == ENOENT { return nil }
            throw error
        }
    }
}
