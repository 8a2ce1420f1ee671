import AviaryDNS
import AviaryTestSupport
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import AviarySMTPServer

@Suite("smtpd's client name lookups")
struct ClientNameLookupTests {
    @Test("clients with a silent reverse zone become unknown at the time limit, on threads the queue's pool does not share")
    func silentReverseZone() async throws {
        // A bound UDP socket that never answers: a reverse zone made silent by whoever controls it. (A port
        // nobody has bound answers at once, with ICMP port unreachable.)
        let socket = SilentUDPSocket()
        defer { socket.close() }
        let silent = DNSResolver(serverAddress: ("127.0.0.1", socket.port))
        let lookup = ClientNameLookup(resolver: silent, timeLimit: .seconds(2))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let queuePool = NIOThreadPool(numberOfThreads: 2)
        queuePool.start()
        let clients = ClientNameLookup.threads * 2
        try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<clients {
                tasks.addTask { await lookup.name(of: "192.0.2.\(index + 1)", on: group.next()) }
            }
            // While every lookup thread waits for the silent zone, the queue's pool still does its work.
            let fsync = try await queuePool.runIfActive { "synced" }
            #expect(fsync == "synced")
            var names: [String] = []
            for try await name in tasks { names.append(name) }
            #expect(names == Array(repeating: "unknown", count: clients))
        }
        try await queuePool.shutdownGracefully()
        try await group.shutdownGracefully()
    }

    @Test("a forward-confirmed name is given; an unconfirmed PTR name is not; loopback is localhost without a lookup")
    func confirmedOnly() async throws {
        let dns = try await Dnsmasq([
            "--host-record=good.test,192.0.2.1", "--ptr-record=2.2.0.192.in-addr.arpa,bank.test",
        ])
        let lookup = ClientNameLookup(resolver: dns.resolver)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        #expect(await lookup.name(of: "192.0.2.1", on: group.next()) == "good.test")
        #expect(await lookup.name(of: "192.0.2.2", on: group.next()) == "unknown")
        #expect(ClientNameLookup.isLoopback("127.0.0.2"))
        #expect(ClientNameLookup.isLoopback("::1"))
        #expect(!ClientNameLookup.isLoopback("192.0.2.1"))
        try await group.shutdownGracefully()
        await dns.stop()
    }
}

/// A UDP socket on 127.0.0.1 that receives and never replies.
struct SilentUDPSocket {
    let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    let port: Int

    init() {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { [fd] in
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) { [fd] in
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(fd) }
}
