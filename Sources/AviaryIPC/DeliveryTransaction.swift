#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import AviaryQueue
import Logging

/// The part of a delivery request every agent (local, smtp) handles the same way (Postfix
/// `deliver_request.c`): check the request, open and lock the queue file, skip recipients that are already
/// final, record each delivery in the queue file, and answer one outcome per requested recipient.
///
/// Exactly once: the queue file's lock is held from `begin` until the transaction is dropped, each
/// recipient's status is re-read under it, and `record` writes `delivered` into the file before the agent
/// answers, so a request repeated by a restarted qmgr skips what was already delivered.
public struct DeliveryTransaction {
    public let request: DeliveryRequest
    public let file: QueueFile
    /// The requested recipients that still need delivery, in request order.
    public let pending: [DeliveryRequest.Recipient]
    private var outcomes: [Int: DeliveryResult.Outcome]
    private let logger: Logger

    private init(request: DeliveryRequest, file: QueueFile, logger: Logger) {
        self.request = request
        self.file = file
        self.logger = logger
        var pending: [DeliveryRequest.Recipient] = []
        var outcomes: [Int: DeliveryResult.Outcome] = [:]
        for recipient in request.recipients {
            guard recipient.index >= 0, recipient.index < file.envelope.recipients.count,
                file.envelope.recipients[recipient.index].address == recipient.address
            else {
                outcomes[recipient.index] = .init(
                    index: recipient.index, status: .deferred, dsn: "4.3.0", text: "recipient does not match the queue file")
                continue
            }
            if file.envelope.recipients[recipient.index].status.isFinal {
                // Delivered by an earlier request (qmgr restarted meanwhile): say so, do nothing.
                outcomes[recipient.index] = .init(
                    index: recipient.index, status: .sent, dsn: "2.0.0", text: "already delivered")
                continue
            }
            pending.append(recipient)
        }
        self.pending = pending
        self.outcomes = outcomes
    }

    /// What `begin` made of a request.
    public enum Opening {
        /// Go on and deliver `pending`.
        case opened(DeliveryTransaction)
        /// Nothing to deliver: answer this at once.
        case answered(DeliveryResult)
    }

    /// Checks the request and opens its queue file, locked, with fresh recipient statuses.
    /// - Parameters:
    ///   - queueRoot: `queue_directory`; a queue file outside it is refused.
    /// - Returns: the transaction, or the result to answer at once (every recipient deferred) when the
    ///   request is malformed or the file cannot be opened.
    public static func begin(
        _ request: DeliveryRequest, queueRoot: String, logger: Logger
    ) -> Opening {
        func everyone(_ text: String) -> Opening {
            .answered(
                DeliveryResult(
                    recipients: request.recipients.map { .init(index: $0.index, status: .deferred, dsn: "4.3.0", text: text) }))
        }
        guard QueueID(request.queueID) != nil, request.queueFile.hasPrefix(queueRoot + "/"),
            !request.queueFile.contains("/../")
        else {
            logger.warning("refusing a request for a file outside the queue: \(request.queueFile)")
            return everyone("bad delivery request")
        }
        let file: QueueFile
        do {
            file = try QueueFile(path: request.queueFile, forUpdate: true)
            try file.lock()
            try file.refreshStatuses()
        } catch let error as QueueFileError where error.systemError?.code == ENOENT {
            // Taken by the administrator (deleted, held, requeued) after qmgr sent the request: not ours now.
            logger.info("queue file \(request.queueFile) is gone (moved or removed by the administrator)")
            return everyone("queue file was moved or removed meanwhile")
        } catch {
            logger.error("cannot open queue file: \(error)")
            return everyone("cannot open queue file")
        }
        return .opened(DeliveryTransaction(request: request, file: file, logger: logger))
    }

    /// Records a pending recipient's outcome; a `sent` one is written into the queue file as delivered first.
    public mutating func record(_ outcome: DeliveryResult.Outcome) {
        if outcome.status == .sent {
            do {
                try file.setStatus(.delivered, ofRecipient: outcome.index)
            } catch {
                logger.error("cannot record delivery to <\(file.envelope.recipients[outcome.index].address)>: \(error)")
            }
        }
        outcomes[outcome.index] = outcome
    }

    /// The answer: one outcome per requested recipient, in request order; a recipient nobody recorded is
    /// deferred (a broken agent must not lose mail).
    public var result: DeliveryResult {
        DeliveryResult(
            recipients: request.recipients.map {
                outcomes[$0.index]
                    ?? .init(index: $0.index, status: .deferred, dsn: "4.3.0", text: "delivery agent gave no outcome")
            })
    }
}

/// The agent's end of qmgr's connection: a request frame in, the result frame out. qmgr keeps the connection
/// and sends its next request on it (`SingleServer.runLines` reads the frames).
public enum DeliveryAgentConnection {
    /// Answers one request frame on `connection`; false when the connection should end: the request was
    /// malformed (logged, left unanswered: qmgr defers, never loses, the message) or the answer could not
    /// be written.
    public static func answer(
        _ frame: [UInt8], on connection: FileDescriptor, logger: Logger, handle: (DeliveryRequest) -> DeliveryResult
    ) -> Bool {
        let result: DeliveryResult
        do {
            result = handle(try DeliveryProtocol.decode(DeliveryRequest.self, from: frame))
        } catch {
            logger.warning("malformed delivery request: \(error)")
            return false
        }
        do {
            try connection.writeAll(DeliveryProtocol.frame(result))
            return true
        } catch {
            return false
        }
    }
}
