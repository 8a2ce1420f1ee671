import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

/// Postfix's smtp-sink on 127.0.0.1 and a free port, dumping each message into a directory.
public final class SMTPSink {
    public let port: Int
    public let process: ChildProcess
    public let dumps = TemporaryDirectory("smtp-sink")

    public init(_ options: [String] = []) async throws {
        chmod(dumps.path, 0o777)
        var started: (Int, ChildProcess)?
        for _ in 0..<5 {
            let port = freePort()
            let user = Privileges.isRoot ? ["-u", "nobody"] : []
            let process = try ChildProcess(
                path: "/usr/sbin/smtp-sink",
                arguments: user + ["-d", dumps.path + "/%H%M%S."] + options + ["127.0.0.1:\(port)", "10"],
                standardError: dumps.path + "/stderr")
            if await waitUntil(timeout: .seconds(10), step: .milliseconds(50), { !process.isRunning || canConnect(port) }),
                process.isRunning
            {
                started = (port, process)
                break
            }
            await process.terminate(grace: .seconds(2))
        }
        guard let started else { throw TestSupportError("smtp-sink did not start") }
        (port, process) = started
    }

    /// The messages received, as dumped (smtp-sink's headers first, then the message).
    public func messages() -> [String] {
        let names = ((try? SafeFile.listDirectory(dumps.path)) ?? []).filter { $0 != "stderr" }.sorted()
        return names.compactMap { try? SafeFile.readText(dumps.path + "/" + $0) }
    }

    public func stop() async { await process.terminate(grace: .seconds(5)) }
}

/// Whether something accepts TCP connections on host:port now.
public func canConnect(_ port: Int, host: String = "127.0.0.1") -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr(host)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
