import AviaryTestSupport
import Testing

@testable import AviaryInstance

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("master's pid file")
struct MasterPidFileTests {
    @Test("the pid file holds %10d and its lock refuses a second holder")
    func pidFile() throws {
        #expect(MasterPidFile.format(4242) == "      4242\n")
        let directory = TemporaryDirectory("pidfile")
        defer { withExtendedLifetime(directory) {} }
        let paths = MasterPaths(queueDirectory: directory.path)
        try QueueDirectories.prepare(paths, owner: nil)
        #expect(MasterPidFile.runningMaster(paths) == nil)
        let held = try MasterPidFile.acquire(paths)
        #expect(MasterPidFile.runningMaster(paths) == getpid())
        let error = #expect(throws: MasterError.self) { try MasterPidFile.acquire(paths) }
        #expect(error?.code == .alreadyRunning)
        #expect(error?.message == "the Aviary mail system is already running (pid \(getpid()))")
        held.remove()
    }
}
