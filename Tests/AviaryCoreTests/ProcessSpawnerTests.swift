import AviaryCore
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("ProcessSpawner")
struct ProcessSpawnerTests {
    /// The descriptor numbers open in a child started by `ProcessSpawner` (its /proc/self/fd, listed by ls
    /// itself, so one of them is ls's own directory handle).
    func childDescriptors(mapping descriptors: [(source: Int32, target: Int32)]) async throws -> Set<Int> {
        let directory = TemporaryDirectory()
        let output = directory.path + "/out"
        let pid = try ProcessSpawner.spawn(
            path: "/bin/ls", arguments: ["ls", "/proc/self/fd"], descriptors: descriptors,
            standardOutput: .appending(output))
        var status: Int32 = 0
        _ = await waitUntil(timeout: .seconds(30), step: .milliseconds(10)) { waitpid(pid, &status, WNOHANG) == pid }
        let text = try SafeFile.readText(output)
        return Set(text.split(separator: "\n").compactMap { Int($0) })
    }

    @Test("a child gets its standard and mapped descriptors only, not the parent's other (inheritable) ones")
    func onlyMappedDescriptors() async throws {
        // A socket without close-on-exec, as SwiftNIO creates them.
        let stray = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let mapped = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(stray > 2 && mapped > 2)
        defer {
            close(stray)
            close(mapped)
        }
        let open = try await childDescriptors(mapping: [(source: mapped, target: 3)])
        // 0, 1, 2, the mapped 3, and the one ls opened to read the directory (the lowest free number, 4).
        #expect(open == [0, 1, 2, 3, 4], "\(open.sorted())")
    }
}
