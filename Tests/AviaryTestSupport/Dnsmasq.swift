import AviaryDNS
import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

/// A real dnsmasq on 127.0.0.1 and a free port, authoritative for `test` (unknown names: NXDOMAIN).
public final class Dnsmasq {
    public let port: Int
    public let process: ChildProcess
    public let directory = TemporaryDirectory("dnsmasq")

    /// A resolver asking this dnsmasq, with the library's default patience (5 s, 2 attempts): tests that
    /// expect an answer must not turn a busy moment into a temporary failure.
    public var resolver: DNSResolver { DNSResolver(serverAddress: ("127.0.0.1", port)) }

    /// - Parameter records: `--mx-host=...`, `--host-record=...` options.
    public init(_ records: [String]) async throws {
        var started: (Int, ChildProcess)?
        for _ in 0..<5 {
            let port = freePort(udp: true)
            let process = try ChildProcess(
                path: "/usr/sbin/dnsmasq",
                arguments: [
                    "--no-daemon", "--port=\(port)", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                    "--no-hosts", "--local=/test/", "--pid-file=", "--user=root",
                ] + records,
                standardError: directory.path + "/log")
            let resolver = DNSResolver(serverAddress: ("127.0.0.1", port), timeoutSeconds: 1, attempts: 1)
            let answered = await waitUntil(timeout: .seconds(10), step: .milliseconds(100)) {
                !process.isRunning || resolver.query("probe.test", .a) != .temporaryFailure
            }
            if answered && process.isRunning {
                started = (port, process)
                break
            }
            await process.terminate(grace: .seconds(2))
        }
        guard let started else { throw TestSupportError("dnsmasq did not start") }
        (port, process) = started
    }

    public func stop() async { await process.terminate(grace: .seconds(5)) }

    /// Runs `body` with a dnsmasq serving `records`, and stops it afterwards whether `body` throws or not.
    public static func serving<T>(_ records: [String], _ body: (Dnsmasq) async throws -> T) async throws -> T {
        let dns = try await Dnsmasq(records)
        do {
            let result = try await body(dns)
            await dns.stop()
            return result
        } catch {
            await dns.stop()
            throw error
        }
    }
}

/// A port nobody listens on right now (bound to 127.0.0.1, then released).
public func freePort(udp: Bool = false) -> Int {
    let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
