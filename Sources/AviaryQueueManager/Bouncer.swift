#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import AviaryMessage
import AviaryQueue
import Logging

/// Returns failed recipients to the sender as one RFC 3464 report per message, queued like any mail
/// from the null sender. Never bounces a bounce, and honours DSN NOTIFY.
struct Bouncer {
    let settings: QueueManagerSettings
    let logger: Logger

    func returnToSender(id: QueueID, file: QueueFile, failures: [MessageDelivery.Outcome]) throws {
        let envelope = file.envelope
        let reportable = failures.filter { outcome in
            guard let notify = envelope.recipients[outcome.index].dsnNotify else { return true }
            return notify.contains(.failure)
        }
        if envelope.isBounce || reportable.isEmpty {
            if envelope.isBounce { logger.info("undeliverable bounce discarded (a bounce is never bounced)") }
            return
        }
        let notification = try notify(id: id, file: file, outcomes: reportable, action: .failed)
        logger.info("sender non-delivery notification: \(notification)")
    }

    /// delay_warning_time: tells the sender, once, which recipients are still waiting and why (RFC 3464
    /// `Action: delayed`). Recipients whose NOTIFY excludes DELAY, and bounces, get none.
    func warnSender(id: QueueID, file: QueueFile, delayed: [MessageDelivery.Outcome]) throws {
        let envelope = file.envelope
        let reportable = delayed.filter { outcome in
            guard let notify = envelope.recipients[outcome.index].dsnNotify else { return true }
            return notify.contains(.delay)
        }
        guard !envelope.isBounce, !envelope.sender.isEmpty, !reportable.isEmpty else { return }
        let notification = try notify(id: id, file: file, outcomes: reportable, action: .delayed)
        logger.info("sender delay notification: \(notification)")
    }

    private func notify(
        id: QueueID, file: QueueFile, outcomes reportable: [MessageDelivery.Outcome],
        action: DeliveryStatusNotification.Action
    ) throws -> QueueID {
        let envelope = file.envelope
        var original: [UInt8] = []
        if file.messageLength <= Int64(settings.bounceSizeLimit) {
            original = try file.messageBytes()
        } else {
            var first: [UInt8] = []
            try file.readMessage(chunkSize: 65536) { chunk in if first.isEmpty { first = chunk } }
            original = Array(MIMEHeaderSection.bytes(of: first))
        }
        let report = DeliveryStatusNotification(
            hostname: settings.hostname, queueID: id.rawValue, recipient: envelope.sender,
            arrivalDate: MessageDate.rfc5322(Int(envelope.arrivalTime)),
            reports: reportable.map {
                DeliveryStatusNotification.RecipientReport(
                    finalRecipient: $0.address,
                    originalRecipient: envelope.recipients[$0.index].dsnOriginalRecipient?.stored,
                    action: action, status: $0.dsn, diagnostic: $0.text, remoteMTA: Self.remoteHost(of: $0),
                    remoteReply: $0.remoteReply)
            },
            envelopeID: envelope.dsnEnvelopeID?.text,
            returnHeadersOnly: action == .delayed || envelope.dsnReturn == .headers
                || file.messageLength > Int64(settings.bounceSizeLimit))
        let message = report.compose(original: original)
        let writer = try QueueWriter(
            directory: settings.queue,
            envelope: QueueEnvelope(
                arrivalTime: Double(time(nil)), sender: "", attributes: [.init("origin", "bounce")],
                recipients: [QueueRecipient(address: envelope.sender)]))
        try writer.append(message)
        let bounceID = try writer.commit()
        settings.queue.wakeQueueManager()
        return bounceID
    }

    /// The remote host's name from `mx.example[192.0.2.1]:25`, for `Remote-MTA: dns; mx.example`.
    static func remoteHost(of outcome: MessageDelivery.Outcome) -> String? {
        guard let relay = outcome.relay, let bracket = relay.firstIndex(of: "[") else { return nil }
        return String(relay[..<bracket])
    }
}
