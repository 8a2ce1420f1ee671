import AviaryTestSupport
import AviaryConfig
import AviaryCore
import AviaryMailbox
import AviaryIPC
import AviaryLocal
import AviaryQueue
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A temporary instance for the local delivery agent: queue tree, alias and users tables, virtual
/// mailbox base and an `out/` directory for file and command deliveries, all under one /tmp directory.
///
/// As root, `mail_owner` and `default_privs` are `nobody`, and what the agent writes as them (virtual
/// Maildirs, the queue for forwarding, alias files and commands) belongs to nobody: the agent refuses to
/// write anything as root for lack of an account. Its user switches change only the delivering thread
/// (`Privileges.asUser`), so tests running in parallel are not disturbed. Without root no account is
/// looked up and everything runs as the invoking user.
final class LocalTestInstance {
    static let noAccount = "aviary-test-no-such-account"
    /// The account the agent writes as when the tests run as root.
    static let unprivileged = Privileges.isRoot ? SystemAccount.named("nobody") : nil

    private let directory = TemporaryDirectory("local")
    var root: String { directory.path }
    let queue: QueueDirectory
    let agent: LocalDeliveryAgent
    /// What the agent logged.
    let log = CapturedLog()
    /// The agent's clock: the system's, moved on by the test.
    let clock = TestClock()

    var out: String { root + "/out" }
    var vmail: String { root + "/vmail" }

    init(aliases: String = "", users: String = "alice@virtual.test:{PLAIN}x\n", extra: String = "") throws {
        let root = directory.path
        // Traversable by everyone, and out/ writable by everyone, for commands run as another user.
        chmod(root, 0o755)
        if Privileges.isRoot { precondition(Self.unprivileged != nil, "as root the local tests need an account nobody") }
        let owner = Self.unprivileged
        queue = QueueDirectory(root: root + "/spool")
        try queue.prepare(owner: owner)
        try SafeFile.makeDirectories(root + "/out", mode: 0o777)
        chmod(root + "/out", 0o777)
        try SafeFile.makeDirectories(root + "/vmail", mode: 0o700)
        if let owner { chown(root + "/vmail", owner.uid, owner.gid) }
        let aliasText = aliases.replacing("$OUT", with: root + "/out")
        try SafeFile.writeDurably(Array(aliasText.utf8), to: root + "/aliases", mode: 0o644)
        try SafeFile.writeDurably(Array(users.utf8), to: root + "/users", mode: 0o644)
        let config = try MainConfig.parse(
            """
            queue_directory = \(root)/spool
            myhostname = mail.example.test
            mydestination = localhost.test
            virtual_mailbox_domains = virtual.test
            virtual_mailbox_maps = passwd-file:\(root)/users
            virtual_mailbox_base = \(root)/vmail
            alias_maps = hash:\(root)/aliases
            mail_owner = \(owner?.name ?? Self.noAccount)
            default_privs = \(owner?.name ?? Self.noAccount)
            command_time_limit = 120s
            \(extra)
            """, directory: root)
        agent = LocalDeliveryAgent(
            config: config, logger: log.logger(label: "local-test", level: .info), now: { [clock] in clock.now })
    }


    static let message = "Received: from client (localhost [127.0.0.1])\r\n\tby mail.example.test (Aviary)\r\n"
        + "Subject: hello\r\n\r\nbody line one\r\nline two\r\n"

    /// Queues a message in active/ as qmgr would leave it before asking the agent.
    func enqueue(
        sender: String = "sender@example.test", recipients: [String], message: String = LocalTestInstance.message
    ) throws -> QueueID {
        let writer = try QueueWriter(
            directory: queue, queue: .active,
            envelope: QueueEnvelope(
                arrivalTime: 1_700_000_000, sender: sender, recipients: recipients.map { QueueRecipient(address: $0) }))
        try writer.append(Array(message.utf8))
        return try writer.commit()
    }

    /// A request for the given recipient indexes of a queued message.
    func request(_ id: QueueID, _ recipients: [(Int, String)], sender: String = "sender@example.test") -> DeliveryRequest {
        DeliveryRequest(
            queueID: id.rawValue, queueFile: queue.path(of: id, in: .active), sender: sender,
            recipients: recipients.map { .init(index: $0.0, address: $0.1) })
    }

    /// Queues a message to one recipient and delivers it; returns the outcome and the ID.
    func deliver(to recipient: String, message: String = LocalTestInstance.message) throws -> (DeliveryResult.Outcome, QueueID) {
        let id = try enqueue(recipients: [recipient], message: message)
        let result = agent.handle(request(id, [(0, recipient)]))
        precondition(result.recipients.count == 1)
        return (result.recipients[0], id)
    }

    /// The recipient statuses recorded in a queue file.
    func statuses(_ id: QueueID) throws -> [RecipientStatus] {
        try QueueFile(path: queue.path(of: id, in: .active)).envelope.recipients.map(\.status)
    }

    /// The files in a Maildir's new/ directory, with their contents.
    func maildirMessages(_ path: String) -> [String] {
        let names = ((try? SafeFile.listDirectory(path + "/new")) ?? []).sorted(by: Maildir.deliveryOrder)
        return names.compactMap { try? SafeFile.readText(path + "/new/" + $0) }
    }

    func text(_ path: String) -> String? { try? SafeFile.readText(path) }
}

/// The system clock plus an offset the test moves forward.
final class TestClock: Sendable {
    private let offset = Atomic<Int>(0)

    var now: Int { Int(time(nil)) + offset.load(ordering: .relaxed) }

    func advance(by seconds: Int) { offset.add(seconds, ordering: .relaxed) }
}
