import AviaryConfig
import AviaryCore
import AviaryInstance
import Testing

@testable import AviaryMaster

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("restart back-off")
struct RestartThrottleTests {
    @Test("consecutive failures double the wait up to service_throttle_time")
    func doubles() {
        var throttle = RestartThrottle(maximumDelay: .seconds(10))
        let waits = (0..<6).map { _ in throttle.failed(after: .milliseconds(10)) }
        #expect(waits == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
    }

    @Test("a process that lived longer than ten times the wait starts a new streak")
    func resets() {
        var throttle = RestartThrottle(maximumDelay: .seconds(60))
        _ = throttle.failed(after: .zero)
        #expect(throttle.failed(after: .seconds(5)) == .seconds(2))
        #expect(throttle.failed(after: .seconds(21)) == .seconds(1))
    }

    @Test("a normal exit of a long-lived process ends the streak; a zero throttle time still waits")
    func success() {
        var throttle = RestartThrottle(maximumDelay: .zero)
        #expect(throttle.failed(after: .zero) == .seconds(1))
        #expect(throttle.failed(after: .zero) == .seconds(1))
        throttle.succeeded(after: .seconds(11))
        #expect(throttle.currentDelay == nil)
    }
}

@Suite("service plans")
struct ServicePlanTests {
    let paths = MasterPaths(queueDirectory: "/var/spool/aviary")

    func plan(_ line: String, cpus: Int = 4) throws -> ServicePlan {
        let config = try MasterConfig.parse(line, path: "/etc/aviary/master.cf")
        return ServicePlan(
            entry: config.services[0],
            configDirectory: "/etc/aviary",
            daemonDirectory: "/usr/libexec/aviary",
            paths: paths,
            defaultProcessLimit: 10,
            cpuCount: cpus
        )
    }

    @Test("argv is command, -c, -n, -t, -u when unprivileged, arguments, then the -o overrides")
    func argv() throws {
        let smtpd = try plan("127.0.0.1:2525 inet n - n - - smtpd -v -o smtpd_banner=test -o a=b")
        #expect(smtpd.programPath == "/usr/libexec/aviary/smtpd")
        #expect(
            smtpd.arguments == [
                "smtpd", "-c", "/etc/aviary", "-n", "127.0.0.1:2525", "-t", "inet", "-u", "-v",
                "-o", "smtpd_banner=test", "-o", "a=b",
            ]
        )
        let local = try plan("local unix - n n - - local")
        #expect(local.arguments == ["local", "-c", "/etc/aviary", "-n", "local", "-t", "unix"])
        #expect(local.socketPath == "/var/spool/aviary/private/local")
        #expect(try plan("pickup unix n - n 60 1 pickup").socketPath == "/var/spool/aviary/public/pickup")
    }

    @Test(
        "maxproc - or 0: cores for event-driven servers (smtpd, pop3d, imapd), 1 for qmgr, default_process_limit for the rest (smtp too)",
        arguments: [
            ("smtp inet n - n - - smtpd", 4), ("smtp inet n - n - 0 smtpd", 4), ("imap inet n - n - - imapd", 4),
            ("relay unix - - n - - smtp", 10), ("qmgr unix n - n 300 - qmgr", 1), ("local unix - n n - - local", 10),
            ("local unix - n n - 3 local", 3), ("smtp inet n - n - 2 smtpd", 2),
        ]
    )
    func processCount(line: String, expected: Int) throws {
        #expect(try plan(line).processCount == expected)
    }
}

@Suite("small pieces")
struct SmallPieceTests {
    @Test("master's options: -c DIR, --config DIR, --config=DIR; anything else is a usage error")
    func options() throws {
        #expect(try MasterOptions(parsing: []).configDirectory == "/etc/aviary")
        #expect(try MasterOptions(parsing: ["-c", "/x"]).configDirectory == "/x")
        #expect(try MasterOptions(parsing: ["--config", "/y"]).configDirectory == "/y")
        #expect(try MasterOptions(parsing: ["--config=/z"]).configDirectory == "/z")
        #expect(throws: MasterError.self) { try MasterOptions(parsing: ["-x"]) }
        #expect(throws: MasterError.self) { try MasterOptions(parsing: ["-c"]) }
    }

    @Test("port 0 binds every slot's socket to the one port the kernel chose")
    func sharedPort() throws {
        let (sockets, bound) = try ListeningSocket.inet(InetServiceAddress(host: "127.0.0.1", port: 0), count: 3)
        #expect(sockets.count == 3)
        #expect(bound.port != 0)
        #expect(bound.description == "127.0.0.1:\(bound.port)")
        for socket in sockets {
            #expect(fcntl(socket.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        }
    }
}
