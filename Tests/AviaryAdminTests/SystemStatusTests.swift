import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import AviaryAdmin

@Suite("aviary status")
struct SystemStatusTests {
    @Test("queues are counted with the age of their oldest message, from its queue ID")
    func queues() throws {
        let directory = TemporaryDirectory("status")
        let queue = QueueDirectory(root: directory.path + "/spool")
        try queue.prepare(owner: nil)
        let id = QueueID.make()
        try SafeFile.writeDurably([], to: queue.path(of: id, in: .deferred))
        let counts = try #require(SystemStatus.queues(queue, now: id.arrivalSeconds + 7_500))
        #expect(counts.map(\.name) == [.maildrop, .incoming, .active, .deferred, .hold, .corrupt])
        #expect(counts.first { $0.name == .deferred } == .init(name: .deferred, messages: 1, oldestAge: 7_500))
        #expect(counts.first { $0.name == .active } == .init(name: .active, messages: 0, oldestAge: nil))
        let text = SystemStatus(services: [.init(program: "smtpd", processes: 2, residentKiB: 20_992)], queues: counts).text
        #expect(text.contains("  smtpd          2  20.5 MB\n"))
        #expect(text.contains("  deferred         1  2 h 5 min\n"))
    }

    @Test("this process's children are found under it in /proc, by program name")
    func services() async throws {
        let child = try ChildProcess(path: "/bin/sleep", arguments: ["5"])
        let found = await waitUntil {
            SystemStatus.services(of: getpid()).contains { $0.program == "sleep" && $0.processes >= 1 && $0.residentKiB > 0 }
        }
        child.signal(SIGKILL)
        _ = await child.wait(timeout: .seconds(10))
        #expect(found, "\(SystemStatus.services(of: getpid()))")
    }
}
