import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// SIGTERM or SIGINT: every child gets SIGTERM and `stopGracePeriod` to exit, then SIGKILL; master then
/// removes master.pid and master.listeners and `run()` returns 0.
extension Master {
    func beginStopping(signal: Int32) {
        logger.info("terminating on signal \(signal)")
        isStopping = true
        demandWatcher.stop()
        demandWatcher.watch([])
        for service in services.values {
            service.wakeupTask?.cancel()
            for index in service.slots.indices { service.slots[index].restartToken = nil }
        }
        for pid in children.keys { kill(pid, SIGTERM) }
        if !children.isEmpty { schedule(.shutdownDeadline, after: Self.stopGracePeriod) }
    }

    func killRemainingChildren() {
        guard !children.isEmpty else { return }
        let pids = children.keys.sorted()
        logger.warning("killing processes that did not stop in time: \(pids.map(String.init).joined(separator: " "))")
        for pid in pids { kill(pid, SIGKILL) }
        // SIGKILL cannot be refused, so this ends quickly; bounded all the same (a process stuck in the
        // kernel may take a while to die, and master should not hang on it).
        let deadline = clock.now + .seconds(5)
        while !children.isEmpty && clock.now < deadline {
            reapChildren()
            if !children.isEmpty {
                var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
                nanosleep(&pause, nil)
            }
        }
        children.removeAll()
    }

    func finishStopping() {
        for service in services.values {
            for listener in service.listeners { listener.close() }
        }
        unlink(paths.listenersFile)
        pidFile?.remove()
        eventSink.finish()
    }
}
