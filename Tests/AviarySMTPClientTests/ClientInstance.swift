import AviaryConfig
import AviaryCore
import AviaryDNS
import AviaryIPC
import AviaryQueue
import AviarySMTPClient
import AviarySMTPServer
import AviaryTestSupport
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A temporary queue and configuration for the smtp agent, and the servers it talks to in a test.
final class ClientInstance: @unchecked Sendable {
    // @unchecked Sendable: every property is a constant set in init; the agent call runs on `pool`.
    let directory = TemporaryDirectory("smtp-client")
    let queue: QueueDirectory
    let config: MainConfig
    let log = CapturedLog()
    let pool = NIOThreadPool(numberOfThreads: 1)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var root: String { directory.path }

    /// - Parameter extra: main.cf lines; ROOT stands for the instance directory.
    init(extra: String = "") throws {
        chmod(directory.path, 0o755)
        queue = QueueDirectory(root: directory.path + "/spool")
        try queue.prepare(owner: nil)
        config = try MainConfig.parse(
            """
            queue_directory = \(directory.path)/spool
            myhostname = client.example.test
            smtp_connect_timeout = 5s
            smtp_helo_timeout = 20s
            \(extra.replacing("ROOT", with: directory.path))
            """, directory: directory.path)
        pool.start()
    }

    func shutdown() async {
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    /// Everything the agent logs, its trace transcript included.
    var logger: Logger { log.logger(label: "smtp-test") }

    /// Queues a message in active/ and makes the request qmgr would send.
    func enqueue(
        _ recipients: [String], message: String = "Subject: test\r\n\r\nbody\r\n", nextHop: String?,
        attributes: [QueueEnvelope.Attribute] = [], sender: String = "sender@client.example.test",
        notify: String? = nil, originalRecipient: String? = nil
    ) throws -> DeliveryRequest {
        let writer = try QueueWriter(
            directory: queue, queue: .active,
            envelope: QueueEnvelope(
                arrivalTime: Double(time(nil)), sender: sender, attributes: attributes,
                recipients: recipients.map {
                    QueueRecipient(address: $0, notify: notify, originalRecipient: originalRecipient)
                }))
        try writer.append(Array(message.utf8))
        let id = try writer.commit()
        return DeliveryRequest(
            queueID: id.rawValue, queueFile: queue.path(of: id, in: .active), sender: sender,
            recipients: recipients.enumerated().map { .init(index: $0.offset, address: $0.element) }, nextHop: nextHop)
    }

    /// Runs the agent on a thread of its own (it blocks), with an optional DNS server.
    func deliver(_ request: DeliveryRequest, resolver: DNSResolver? = nil) async throws -> [DeliveryResult.Outcome] {
        var settings = SMTPClientSettings(config: config)
        if let resolver { settings.resolver = resolver }
        let agent = SMTPDeliveryAgent(settings: settings, config: config, group: group, logger: logger)
        return try await pool.runIfActive { agent.handle(request).recipients }
    }

    func statuses(_ request: DeliveryRequest) throws -> [RecipientStatus] {
        try QueueFile(path: request.queueFile).envelope.recipients.map(\.status)
    }
}

