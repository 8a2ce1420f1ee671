import AviaryCore
import AviaryInstance
import AviaryMaster
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The real `master` binary against a temporary instance whose services are small shell scripts.
@Suite("master process", .timeLimit(.minutes(2)))
struct MasterProcessTests {
    @Test("each process gets argv from master.cf and only its socket at descriptor 3, stdin on /dev/null")
    func argvAndDescriptors() async throws {
        try await withInstance(masterCf: [
            "127.0.0.1:0 inet n - n - 2 svc extra -o smtpd_banner=hello",
            "pipe unix - n n - 1 svc",
        ]) { instance in
            _ = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("127.0.0.1:0").count == 2 && instance.starts("pipe").count == 1 })
            let inet = instance.starts("127.0.0.1:0")
            for start in inet {
                #expect(
                    start.arguments == [
                        "-c", instance.etc, "-n", "127.0.0.1:0", "-t", "inet", "-u", "extra",
                        "-o", "smtpd_banner=hello",
                    ]
                )
            }
            let pipe = try #require(instance.starts("pipe").first)
            #expect(pipe.arguments == ["-c", instance.etc, "-n", "pipe", "-t", "unix"])

            var sockets: [String] = []
            for pid in inet.map(\.pid) + [pipe.pid] {
                // Until the script has exec-ed sleep, /bin/sh keeps the script open too.
                #expect(await waitUntil { ((try? SafeFile.readText("/proc/\(pid)/comm")) ?? "").hasPrefix("sleep") })
                let descriptors = try SafeFile.listDirectory("/proc/\(pid)/fd").compactMap(Int32.init).sorted()
                #expect(descriptors == [0, 1, 2, 3], "pid \(pid) has descriptors \(descriptors)")
                #expect(linkTarget("/proc/\(pid)/fd/0") == "/dev/null")
                let socket = linkTarget("/proc/\(pid)/fd/3")
                #expect(socket.hasPrefix("socket:"))
                sockets.append(socket)
            }
            // One socket per inet slot (SO_REUSEPORT), never shared between them.
            #expect(Set(sockets).count == 3)
        }
    }

    @Test("an inet service on port 0 is recorded in master.listeners and really listens")
    func inetPortZero() async throws {
        try await withInstance(masterCf: ["127.0.0.1:0 inet n - n - 2 svc"]) { instance in
            _ = try await instance.startMasterAndWait()
            let bound = try #require(instance.listeners()["127.0.0.1:0"], "master.listeners: \(instance.listeners())")
            let port = try #require(UInt16(bound.split(separator: ":").last ?? ""))
            #expect(bound == "127.0.0.1:\(port)")
            #expect(port != 0)
            #expect(connects(to: port))
        }
    }

    @Test("unix sockets are created in private/ with mode 0600 and in public/ with 0666")
    func unixSockets() async throws {
        try await withInstance(masterCf: ["inside unix - - n - 1 svc", "outside unix n - n - 1 svc"]) { instance in
            _ = try await instance.startMasterAndWait()
            var info = stat()
            try #require(lstat(instance.queue + "/private/inside", &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == 0o600)
            try #require(lstat(instance.queue + "/public/outside", &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == 0o666)
            try #require(stat(instance.queue + "/private", &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700)
            try #require(stat(instance.queue + "/public", &info) == 0)
            #expect(info.st_mode & 0o777 == 0o710)
        }
    }

    @Test("a process killed with SIGKILL is restarted with a new pid and the kill is logged")
    func restartsKilledProcess() async throws {
        try await withInstance(masterCf: ["qmgr unix n - n - 1 svc"]) { instance in
            _ = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("qmgr").count == 1 })
            let first = try #require(instance.starts("qmgr").first?.pid)
            kill(first, SIGKILL)
            #expect(await waitUntil { instance.starts("qmgr").count == 2 })
            let second = try #require(instance.starts("qmgr").last?.pid)
            #expect(second != first)
            #expect(ProcessTable.isAlive(second))
            #expect(instance.log().contains("warning: process \(instance.bin)/svc pid \(first) killed by signal 9"))
        }
    }

    @Test("a process that exits with status 0 after serving a while is replaced at once, without a warning")
    func retiredProcessIsReplaced() async throws {
        try await withInstance(masterCf: ["retiring unix - n n - 1 retire"]) { instance in
            _ = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("retiring").count >= 3 })
            #expect(!instance.log().contains("warning:"), "\(instance.log())")
        }
    }

    @Test("a process that exits with status 0 at once is throttled like a failure")
    func exitZeroAtOnceDoesNotSpin() async throws {
        try await withInstance(masterCf: ["quick unix - n n - 1 retire at-once"]) { instance in
            _ = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("quick").count >= 2 })
            try await Task.sleep(for: .seconds(3))
            let count = instance.starts("quick").count
            #expect(count >= 2 && count <= 6, "\(count) starts")
            #expect(instance.log().contains("exited with status 0 right after it started"))
        }
    }

    @Test("a one-session process that exits with the session-served status at once is replaced at once, without a warning")
    func sessionServedIsReplaced() async throws {
        try await withInstance(masterCf: ["oneshot unix - n n - 1 retire served"]) { instance in
            _ = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("oneshot").count >= 10 })
            #expect(!instance.log().contains("warning:"), "\(instance.log())")
        }
    }

    @Test("after master was killed with SIGKILL, the next one starts over the stale pid file and sockets")
    func startsOverStaleFiles() async throws {
        try await withInstance(masterCf: ["qmgr unix n - n - 1 svc", "0 inet n - n - 1 svc"]) { instance in
            let first = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("qmgr").count == 1 })
            kill(first, SIGKILL)
            _ = await instance.waitForExit(first)
            #expect(SafeFile.exists(instance.paths.pidFile))
            let second = try await instance.startMasterAndWait()
            #expect(second != first)
            #expect(await waitUntil { instance.starts("qmgr").count == 2 })
            // A bare port listens on every interface: IPv6 [::] accepting IPv4 too, or 0.0.0.0 without IPv6.
            let bound = try #require(instance.listeners()["0"])
            #expect(bound.hasPrefix("[::]:") || bound.hasPrefix("0.0.0.0:"), "\(bound)")
            #expect(connects(to: try #require(UInt16(bound.split(separator: ":").last ?? ""))))
        }
    }

    @Test("a service that keeps failing is restarted with a growing back-off, not in a spin")
    func crashLoopBacksOff() async throws {
        try await withInstance(masterCf: ["crash unix - - n - 1 crash"]) { instance in
            _ = try await instance.startMasterAndWait()
            // Restarts at about 0, 1, 3, 7 s: a window of 4 s sees a handful; a spin would be thousands.
            #expect(await waitUntil { instance.starts("crash").count >= 2 })
            try await Task.sleep(for: .seconds(4))
            let count = instance.starts("crash").count
            #expect(count >= 2 && count <= 6, "\(count) starts")
            #expect(instance.log().contains("exit status 1"))
        }
    }

    @Test("SIGHUP restarts every service, as Postfix's reload does; added and removed lines start and stop services")
    func reloadRestartsChangedService() async throws {
        let unchanged = "stay unix - - n - 1 svc"
        try await withInstance(masterCf: ["change unix - - n - 1 svc", unchanged]) { instance in
            let master = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("change").count == 1 && instance.starts("stay").count == 1 })
            try instance.writeMasterCf(["change unix - - n - 1 svc changed", unchanged, "added unix - - n - 1 svc"])
            kill(master, SIGHUP)
            #expect(await waitUntil {
                instance.starts("change").count == 2 && instance.starts("added").count == 1 && instance.starts("stay").count == 2
            })
            #expect(instance.starts("change").last?.arguments.last == "changed")
            #expect(instance.log().contains("reload -- version 0.1.0, configuration \(instance.etc)"))
            let stay = try #require(instance.starts("stay").last?.pid)

            // A service that disappears is stopped; an invalid master.cf changes nothing.
            try instance.writeMasterCf(["change unix - - n - 1 svc changed", unchanged])
            kill(master, SIGHUP)
            let added = try #require(instance.starts("added").first?.pid)
            #expect(await waitUntil { !ProcessTable.isAlive(added) })
            #expect(await waitUntil { instance.starts("stay").count == 3 })
            let stayAgain = try #require(instance.starts("stay").last?.pid)
            try instance.writeMasterCf(["change unix - - n - 1 svc changed", "stay unix - - n - one svc"])
            kill(master, SIGHUP)
            #expect(await waitUntil { instance.log().contains("reload failed") })
            #expect(instance.log().contains("master.cf, line 2"))
            #expect(!ProcessTable.isAlive(stay) || stay == stayAgain)
            #expect(ProcessTable.isAlive(stayAgain))
            #expect(ProcessTable.isAlive(master))
        }
    }

    @Test("SIGHUP after main.cf changed restarts every service")
    func reloadAfterMainCfChange() async throws {
        try await withInstance(masterCf: ["one unix - - n - 1 svc", "two unix - - n - 1 svc"]) { instance in
            let master = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("one").count == 1 && instance.starts("two").count == 1 })
            var main = [
                "queue_directory = \(instance.queue)", "daemon_directory = \(instance.bin)",
                "myhostname = changed.example",
            ]
            if Privileges.isRoot { main.append("mail_owner = nobody") }
            try instance.writeMainCf(main)
            kill(master, SIGHUP)
            #expect(await waitUntil { instance.starts("one").count == 2 && instance.starts("two").count == 2 })
        }
    }

    @Test("SIGTERM stops every process, removes master.pid and master.listeners and exits 0")
    func stopsOnSigterm() async throws {
        try await withInstance(masterCf: ["127.0.0.1:0 inet n - n - 2 svc", "qmgr unix n - n - 1 svc"]) { instance in
            let master = try await instance.startMasterAndWait()
            #expect(await waitUntil { instance.starts("127.0.0.1:0").count == 2 && instance.starts("qmgr").count == 1 })
            let children = instance.starts("127.0.0.1:0").map(\.pid) + instance.starts("qmgr").map(\.pid)
            kill(master, SIGTERM)
            let status = await instance.waitForExit(master)
            #expect(status == .exited(0))
            for pid in children { #expect(!ProcessTable.isAlive(pid), "pid \(pid) survived") }
            #expect(!SafeFile.exists(instance.paths.pidFile))
            #expect(!SafeFile.exists(instance.paths.listenersFile))
            #expect(instance.log().contains("terminating on signal 15"))
        }
    }

    @Test("a second master on the same queue refuses to start")
    func secondMasterRefuses() async throws {
        try await withInstance(masterCf: ["qmgr unix n - n - 1 svc"]) { instance in
            let first = try await instance.startMasterAndWait()
            let (status, output) = try await instance.run(Binaries.master, ["master", "-c", instance.etc])
            #expect(status == .exited(1))
            #expect(output.contains("fatal: the Aviary mail system is already running (pid \(first))"), "\(output)")
            #expect(MasterPidFile.runningMaster(instance.paths) == first)
        }
    }

    @Test("a bad master.cf line stops master with exit 1, naming file and line")
    func badMasterCf() async throws {
        try await withInstance(masterCf: ["qmgr unix n - n - 1 svc", "broken unix - - n"]) { instance in
            let (status, output) = try await instance.run(Binaries.master, ["master", "-c", instance.etc])
            #expect(status == .exited(1))
            #expect(output.contains("\(instance.etc)/master.cf, line 2"), "\(output)")
            #expect(!SafeFile.exists(instance.paths.pidFile))
        }
    }

    @Test(
        "a wakeup column makes master write W to the service's socket periodically",
        .enabled(if: SafeFile.exists("/usr/bin/python3"))
    )
    func wakeup() async throws {
        try await withInstance(masterCf: ["qmgr unix n - n 1 1 wakeme"]) { instance in
            _ = try await instance.startMasterAndWait()
            let record = instance.out + "/wakeups"
            #expect(await waitUntil { ((try? SafeFile.readText(record)) ?? "").hasPrefix("WW") })
            #expect(((try? SafeFile.readText(record)) ?? "").allSatisfy { $0 == "W" })
        }
    }

    @Test("aviary start, status, reload and stop drive a detached master")
    func aviaryRoundTrip() async throws {
        try await withInstance(masterCf: ["qmgr unix n - n - 1 svc"], mainCf: []) { instance in
            var main = [
                "queue_directory = \(instance.queue)", "daemon_directory = \(instance.bin)",
                "maillog_file = \(instance.masterLog)",
            ]
            if Privileges.isRoot { main.append("mail_owner = nobody") }
            try instance.writeMainCf(main)
            let aviary = Binaries.aviary
            let config = ["-c", instance.etc]

            var (status, output) = try await instance.run(aviary, ["aviary", "status"] + config)
            #expect(status == .exited(1))
            #expect(output.contains("aviary: the Aviary mail system is not running"))

            (status, output) = try await instance.run(aviary, ["aviary", "start"] + config)
            #expect(status == .exited(0), "\(output)")
            #expect(output.contains("aviary: starting the Aviary mail system (logging to \(instance.masterLog))"))
            let pid = try #require(MasterPidFile.runningMaster(instance.paths))

            (status, output) = try await instance.run(aviary, ["aviary", "start"] + config)
            #expect(status == .exited(1))
            #expect(output.contains("aviary: the mail system is already running (pid \(pid))"))

            (status, output) = try await instance.run(aviary, ["aviary", "status"] + config)
            #expect(status == .exited(0))
            #expect(output.contains("aviary: the Aviary mail system is running: PID: \(pid)"))

            (status, output) = try await instance.run(aviary, ["aviary", "reload"] + config)
            #expect(status == .exited(0))
            #expect(await waitUntil { instance.log().contains("reload -- version") })

            (status, output) = try await instance.run(aviary, ["aviary", "stop"] + config)
            #expect(status == .exited(0), "\(output)")
            #expect(output.contains("aviary: stopping the Aviary mail system"))
            #expect(MasterPidFile.runningMaster(instance.paths) == nil)
            // stop returns once master.pid is gone, which master removes just before it exits.
            #expect(await waitUntil { !ProcessTable.isAlive(pid) })

            (status, output) = try await instance.run(aviary, ["aviary", "stop"] + config)
            #expect(status == .exited(1))
            #expect(output.contains("not running"))
        }
    }

    @Test("aviary start --foreground becomes master itself (same pid) in the foreground")
    func aviaryForeground() async throws {
        try await withInstance(masterCf: ["qmgr unix n - n - 1 svc"]) { instance in
            let pid = try ProcessSpawner.spawn(
                path: Binaries.aviary,
                arguments: ["aviary", "start", "--foreground", "-c", instance.etc],
                standardOutput: .appending(instance.masterLog),
                standardError: .appending(instance.masterLog)
            )
            let ready = await waitUntil { MasterPidFile.runningMaster(instance.paths) == pid }
            if !ready { kill(pid, SIGKILL) }
            #expect(ready, "\(instance.log())")
            kill(pid, SIGTERM)
            #expect(await instance.waitForExit(pid) == .exited(0))
            #expect(instance.log().contains("aviary/master[\(pid)]: daemon started"))
        }
    }

    @Test("aviary start reports a master that exits at once, with the end of its log")
    func aviaryStartFailure() async throws {
        try await withInstance(masterCf: ["127.0.0.1:0 inet n - n - 1 svc"]) { instance in
            var main = [
                "queue_directory = \(instance.queue)", "daemon_directory = \(instance.bin)",
                "maillog_file = \(instance.masterLog)",
            ]
            if Privileges.isRoot { main.append("mail_owner = nobody") }
            try instance.writeMainCf(main)
            // Another socket holds the port without SO_REUSEPORT, so master cannot bind it.
            let occupier = try blockingListener()
            defer { close(occupier.fd) }
            try instance.writeMasterCf(["127.0.0.1:\(occupier.port) inet n - n - 1 svc"])
            let (status, output) = try await instance.run(Binaries.aviary, ["aviary", "start", "-c", instance.etc])
            #expect(status == .exited(1))
            #expect(output.contains("master did not start"), "\(output)")
            #expect(output.contains("bind"), "\(output)")
        }
    }
}

/// The target of a symbolic link such as /proc/PID/fd/N.
func linkTarget(_ path: String) -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink(path, &buffer, buffer.count - 1)
    guard length > 0 else { return "" }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Whether a TCP connection to 127.0.0.1:port is accepted (queued by the kernel on a listening socket).
func connects(to port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let status = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return status == 0
}

/// A listening socket on 127.0.0.1 without SO_REUSEPORT: nobody else can bind its port.
func blockingListener() throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard fd >= 0, bound else { throw SystemError.current("bind") }
    return (fd, UInt16(bigEndian: address.sin_port))
}
