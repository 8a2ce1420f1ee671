import AviaryTestSupport
import AviaryConfig
import AviaryCore
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// A temporary instance for the admin commands: `main.cf` naming a queue directory and a log file, the queue
/// tree prepared, all under one /tmp directory removed when the value goes away.
final class AdminTestInstance {
    private let temporary = TemporaryDirectory("admin")
    var root: String { temporary.path }
    let directory: QueueDirectory

    var configDirectory: String { root + "/etc" }
    var logFile: String { root + "/maillog" }

    init() throws {
        let root = temporary.path
        directory = QueueDirectory(root: root + "/spool")
        try directory.prepare(owner: nil)
        try SafeFile.makeDirectories(configDirectory)
        let main = "queue_directory = \(root)/spool\nmaillog_file = \(logFile)\n"
        try SafeFile.writeDurably(Array(main.utf8), to: configDirectory + "/main.cf", mode: 0o644)
    }


    static let message =
        "Received: from client (localhost [127.0.0.1])\r\n\tby mail.example.test (Aviary)\r\n"
        + "Subject: hello\r\n\r\nbody line one\r\n\r\nline three, no final newline"

    /// Writes a message into `queue` with QueueWriter, as smtpd and qmgr do.
    @discardableResult
    func enqueue(
        in queue: QueueName,
        sender: String = "alice@example.test",
        recipients: [QueueRecipient] = [QueueRecipient(address: "bob@remote.test")],
        message: String = AdminTestInstance.message,
        contentFilter: String? = nil
    ) throws -> QueueID {
        let envelope = QueueEnvelope(
            arrivalTime: 1_700_000_000.5,
            sender: sender,
            attributes: [.init("client_address", "127.0.0.1"), .init("helo_name", "client.test")],
            recipients: recipients,
            contentFilter: contentFilter
        )
        let writer = try QueueWriter(directory: directory, queue: queue, envelope: envelope)
        try writer.append(Array(message.utf8))
        return try writer.commit()
    }

    /// The log file's lines so far.
    func logLines() -> [String] {
        ((try? SafeFile.readText(logFile)) ?? "").split(separator: "\n").map(String.init)
    }

    func mainConfig() throws -> MainConfig { try MainConfig.load(directory: configDirectory) }
}

/// A stand-in for qmgr's wake-up socket (`public/qmgr`): records the letters written to it.
final class WakeUpListener {
    let fd: Int32

    init(path: String) throws {
        fd = socket(
            AF_UNIX,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
            0
        )
        guard fd >= 0 else { throw SystemError.current("socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw SystemError.current("bind", path: path) }
    }

    deinit { close(fd) }

    /// Every letter received by connections already made (the writers have finished: they write, then close).
    func letters() -> [UInt8] {
        var received: [UInt8] = []
        while true {
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { return received }
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = read(connection, &buffer, buffer.count)
            if count > 0 { received += buffer[0..<count] }
            close(connection)
        }
    }
}
