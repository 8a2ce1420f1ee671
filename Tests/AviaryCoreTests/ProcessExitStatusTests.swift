import AviaryCore
import Testing

@Suite("ProcessExitStatus")
struct ProcessExitStatusTests {
    @Test("waitpid statuses read as Postfix words them")
    func exitStatus() {
        #expect(ProcessExitStatus(waitStatus: 0).isSuccess)
        #expect(ProcessExitStatus(waitStatus: 1 << 8).description == "exit status 1")
        #expect(ProcessExitStatus(waitStatus: 9).description == "killed by signal 9")
    }
}
