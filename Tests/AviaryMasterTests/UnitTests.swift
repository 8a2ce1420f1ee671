import AviaryConfig
import AviaryCore
import Testing

@testable import AviaryMaster

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("inet service names")
struct InetServiceAddressTests {
    @Test(
        "host, bracketed IPv6, bare port and /etc/services names parse",
        arguments: [
            ("127.0.0.1:2525", "127.0.0.1", UInt16(2525)),
            ("[::1]:587", "::1", 587),
            ("25", nil, 25),
            ("smtp", nil, 25),
            ("localhost:submission", "localhost", 587),
            ("127.0.0.1:0", "127.0.0.1", 0),
            ("*:110", nil, 110),
        ] as [(String, String?, UInt16)]
    )
    func parses(name: String, host: String?, port: UInt16) throws {
        let address = try InetServiceAddress(parsing: name)
        #expect(address.host == host)
        #expect(address.port == port)
    }

    @Test(
        "a bad port or a malformed IPv6 address is refused",
        arguments: ["127.0.0.1:nosuchservice", "[::1", "[::1]25", "70000", ""]
    )
    func refuses(name: String) {
        #expect(throws: MasterError.self) { try InetServiceAddress(parsing: name) }
    }
}

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

    @Test("the pid file holds %10d and its lock refuses a second holder")
    func pidFile() throws {
        #expect(MasterPidFile.format(4242) == "      4242\n")
        var template = Array("/tmp/avm.XXXXXX".utf8CString)
        let root = String(cString: try #require(mkdtemp(&template)))
        defer { _ = system("rm -rf '\(root)'") }
        let paths = MasterPaths(queueDirectory: root)
        try QueueDirectories.prepare(paths, owner: nil)
        #expect(MasterPidFile.runningMaster(paths) == nil)
        let held = try MasterPidFile.acquire(paths)
        #expect(MasterPidFile.runningMaster(paths) == getpid())
        let error = #expect(throws: MasterError.self) { try MasterPidFile.acquire(paths) }
        #expect(error?.code == .alreadyRunning)
        #expect(error?.message == "the Aviary mail system is already running (pid \(getpid()))")
        held.remove()
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
