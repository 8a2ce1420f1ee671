import AviarySASL
import Synchronization
import Testing

@Suite("HashingGate")
struct HashingGateTests {
    final class Probe: Sendable {
        let state = Mutex((inside: 0, most: 0, done: 0))
        func enter() { state.withLock { $0.inside += 1; $0.most = max($0.most, $0.inside) } }
        func leave() { state.withLock { $0.inside -= 1; $0.done += 1 } }
    }

    @Test("no more than its width run at once, and every caller gets through", arguments: [1, 2])
    func width(width: Int) async {
        let gate = HashingGate(width: width)
        let probe = Probe()
        await withTaskGroup(of: Int.self) { group in
            for index in 0..<40 {
                group.addTask {
                    await gate.run {
                        probe.enter()
                        try? await Task.sleep(nanoseconds: 1_000_000)
                        probe.leave()
                        return index
                    }
                }
            }
            var results: [Int] = []
            for await index in group { results.append(index) }
            #expect(results.sorted() == Array(0..<40))
        }
        let state = probe.state.withLock { $0 }
        #expect(state.most <= width && state.most >= 1 && state.done == 40 && state.inside == 0)
    }
}
