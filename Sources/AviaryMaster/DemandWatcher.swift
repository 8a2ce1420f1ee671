import AviaryCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Tells master when a service needs another process (Postfix starts its services "on demand" the same way).
///
/// The delivery agents of one service share one listening socket, and an idle one accepts a connection
/// within microseconds. So a connection that is still waiting a moment after it arrived means that every
/// process of the service is busy: then `demand` is called with the service's key (at most every 20 ms per
/// service, while the new process starts). One thread, polling every watched socket.
final class DemandWatcher: Sendable {
    private struct Watched: Sendable {
        var key: String
        var descriptor: Int32
    }
    private let watched = Mutex<[Watched]>([])
    private let isStopped = Atomic<Bool>(false)
    private let demand: @Sendable (String) -> Void

    /// How long a connection may wait before it counts as unserved, and how long a service is left alone after
    /// a demand (the process just started needs a few milliseconds to reach accept).
    static let patience = 0.002
    static let cooldown = 0.02

    init(demand: @escaping @Sendable (String) -> Void) {
        self.demand = demand
    }

    /// Replaces the sockets watched (service key and listening descriptor).
    func watch(_ services: [(key: String, descriptor: Int32)]) {
        watched.withLock { $0 = services.map { Watched(key: $0.key, descriptor: $0.descriptor) } }
    }

    /// Starts the watching thread.
    func start() {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            let watcher = Unmanaged<DemandWatcher>.fromOpaque(argument!).takeRetainedValue()
            watcher.loop()
            return nil
        }, box.toOpaque())
        if created == 0 {
            pthread_detach(thread)
        } else {
            box.release()
        }
    }

    /// Ends the thread within a fifth of a second.
    func stop() {
        isStopped.store(true, ordering: .relaxed)
    }

    private func loop() {
        var quietUntil: [String: Double] = [:]
        while !isStopped.load(ordering: .relaxed) {
            let services = watched.withLock { $0 }
            if services.isEmpty {
                usleep(200_000)
                continue
            }
            var descriptors = services.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            guard poll(&descriptors, nfds_t(descriptors.count), 200) > 0 else { continue }
            usleep(useconds_t(Self.patience * 1_000_000))
            let now = MonotonicClock.seconds()
            for (index, service) in services.enumerated() where descriptors[index].revents & Int16(POLLIN) != 0 {
                if let until = quietUntil[service.key], now < until { continue }
                var again = pollfd(fd: service.descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&again, 1, 0) == 1, again.revents & Int16(POLLIN) != 0 else { continue }
                quietUntil[service.key] = now + Self.cooldown
                demand(service.key)
            }
            // A socket stays readable until its connection is accepted: do not spin meanwhile.
            usleep(useconds_t(Self.patience * 1_000_000))
        }
    }
}
