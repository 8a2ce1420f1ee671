import AviaryTestSupport
import Foundation
import Synchronization
import Testing

@testable import AviarySMTPServer

/// smtpd's policy client against a real policy server (IntegrationTests/clients/policy_server.py) on a Unix
/// socket, with a manual clock for the connections' ages: reuse, max_idle, max_ttl, request_limit, a reused
/// connection the server closed, and the time limit.
@Suite("smtpd policy service client")
struct PolicyServiceClientTests {
    static let script =
        (#filePath as NSString).deletingLastPathComponent + "/../IntegrationTests/clients/policy_server.py"

    /// Seconds that pass only when the test says so.
    final class ManualSeconds: Sendable {
        private let value = Mutex(1000.0)
        func now() -> Double { value.withLock { $0 } }
        func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
    }

    /// A policy_server.py in `mode` on a socket in a temporary directory (or on `socket`).
    final class Server {
        let directory = TemporaryDirectory("policy")
        let process: ChildProcess
        let socket: String
        var logPath: String { directory.path + "/server.log" }

        init(_ mode: String, socket: String? = nil) async throws {
            let directory = directory
            let socket = socket ?? directory.path + "/policy.sock"
            self.socket = socket
            process = try ChildProcess(
                path: "/usr/bin/python3",
                arguments: [PolicyServiceClientTests.script, mode, socket, directory.path + "/server.log"],
                standardOutput: directory.path + "/out"
            )
            let ready = await waitUntil(timeout: .seconds(20)) {
                (try? String(contentsOfFile: directory.path + "/out", encoding: .utf8))?.contains("ready") == true
            }
            guard ready else {
                await process.terminate(grace: .seconds(2))
                throw TestSupportError("policy_server.py did not start")
            }
        }

        func log() -> [String] {
            ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        var connections: Int { log().filter { $0.hasPrefix("connect ") }.count }

        func stop() async { await process.terminate(grace: .seconds(5)) }
    }

    static let request = PolicyServiceRequest(attributes: [
        ("request", "smtpd_access_policy"), ("recipient", "r@example.test"),
    ])

    /// The server's action for `request`, nil on failure.
    static func action(_ client: PolicyServiceClient) -> String? {
        if case .success(let action) = client.ask(request) { action } else { nil }
    }

    /// Runs `body` with a server in `mode` and a client of it; stops the server whatever happens.
    static func with(
        _ mode: String,
        settings: PolicyServiceSettings = PolicyServiceSettings(),
        _ body: (Server, PolicyServiceClient, ManualSeconds) async throws -> Void
    ) async throws {
        let server = try await Server(mode)
        let clock = ManualSeconds()
        let client = PolicyServiceClient(endpoint: .unix(server.socket), settings: settings, now: { clock.now() })
        do {
            try await body(server, client, clock)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("one connection carries request after request; a connection idle for max_idle is not used again")
    func reuseAndMaxIdle() async throws {
        var settings = PolicyServiceSettings()
        settings.maxIdle = 300
        try await Self.with("dunno", settings: settings) { server, client, clock in
            for _ in 0..<3 {
                #expect(Self.action(client) == "DUNNO")
                clock.advance(299)
            }
            #expect(server.connections == 1)
            clock.advance(1)
            #expect(Self.action(client) == "DUNNO")
            #expect(server.connections == 2, "\(server.log())")
        }
    }

    @Test("an idle connection is closed once max_idle has passed even when no further request comes")
    func idleSweep() async throws {
        var settings = PolicyServiceSettings()
        // The sweep runs every max_idle of real time; the connection's idleness is measured on the manual clock.
        settings.maxIdle = 0.2
        try await Self.with("dunno", settings: settings) { server, client, clock in
            #expect(Self.action(client) == "DUNNO")
            clock.advance(1)
            let closed = await waitUntil(timeout: .seconds(20)) { server.log().contains("disconnect 1") }
            #expect(closed, "\(server.log())")
        }
    }

    @Test("a connection older than max_ttl, or that carried request_limit requests, is replaced")
    func maxTTLAndRequestLimit() async throws {
        var settings = PolicyServiceSettings()
        settings.maxTTL = 1000
        settings.requestLimit = 3
        try await Self.with("dunno", settings: settings) { server, client, clock in
            for _ in 0..<6 { #expect(Self.action(client) == "DUNNO") }
            #expect(server.connections == 2, "\(server.log())")
            _ = Self.action(client)
            clock.advance(1000)
            _ = Self.action(client)
            #expect(server.connections == 4, "\(server.log())")
        }
    }

    @Test("a reused connection that the server has closed costs no attempt: the request goes out on a new one")
    func staleConnection() async throws {
        var settings = PolicyServiceSettings()
        settings.tryLimit = 1
        try await Self.with("dunno", settings: settings) { first, client, _ in
            #expect(Self.action(client) == "DUNNO")
            await first.stop()
            // A new server on the same socket path; the client's idle connection led to the old one.
            let second = try await Server("dunno", socket: first.socket)
            #expect(Self.action(client) == "DUNNO")
            #expect(second.connections == 1)
            await second.stop()
        }
    }

    @Test("a server that never answers fails after smtpd_policy_service_timeout, on each of try_limit attempts")
    func timeout() async throws {
        var settings = PolicyServiceSettings()
        settings.timeout = 0.5
        settings.retryDelay = 0
        try await Self.with("stall", settings: settings) { server, client, _ in
            guard case .failure(let failure) = client.ask(Self.request) else {
                Issue.record("a silent server gave an answer")
                return
            }
            #expect(failure.description.hasPrefix("timeout waiting for an answer from unix:"))
            #expect(server.log().filter { $0.hasPrefix("request") }.count == 2, "\(server.log())")
        }
    }

    @Test("garbage is a failure; nobody listening is a failure")
    func garbageAndAbsent() async throws {
        var settings = PolicyServiceSettings()
        settings.retryDelay = 0
        try await Self.with("garbage", settings: settings) { _, client, _ in
            guard case .failure(let failure) = client.ask(Self.request) else {
                Issue.record("garbage was taken for an answer")
                return
            }
            #expect(failure.description.contains("malformed answer"), "\(failure)")
        }
        let nobody = PolicyServiceClient(endpoint: .unix("/nonexistent/policy.sock"), settings: settings)
        guard case .failure(let failure) = nobody.ask(Self.request) else {
            Issue.record("an absent server answered")
            return
        }
        #expect(failure.description == "cannot connect to unix:/nonexistent/policy.sock")
    }
}
