import AviaryConfig
import AviaryInstance
import AviaryIPC
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// SIGHUP: re-read main.cf and master.cf and bring the running services in line with them.
///
/// - An unreadable or invalid configuration changes nothing: the errors are logged and master goes on.
/// - Services that disappeared are stopped; new ones are bound and started.
/// - A service whose master.cf line changed gets new sockets and new processes: each old process is sent
///   SIGTERM and its replacement starts as soon as it has exited, so maxproc is never exceeded (two
///   qmgrs never run at once).
/// - Every other service's processes are restarted that way so they read main.cf, certificates and keys
///   again (as Postfix's reload does); their sockets stay open, so no connection is refused meanwhile.
/// - `queue_directory` is fixed for master's lifetime: its sockets and pid file live there.
extension Master {
    func reload() {
        let fresh: MasterConfiguration
        do {
            fresh = try MasterConfiguration.load(directory: configuration.directory)
        } catch {
            for diagnostic in error.diagnostics { logger.error("\(diagnostic)") }
            logger.error("reload failed; still running with the previous configuration")
            return
        }
        logger.info("reload -- version \(Self.version), configuration \(configuration.directory)")
        for warning in fresh.warnings { logger.warning("\(warning)") }
        if fresh.paths != paths {
            logger.warning(
                "queue_directory changed to \(fresh.paths.queueDirectory); master keeps \(paths.queueDirectory) until it is restarted"
            )
        }
        configuration = fresh
        metrics = MetricsReporter(config: fresh.main)
        let plans = fresh.plans(paths: paths)
        let wanted = Set(plans.map(\.entry.key))
        for key in serviceOrder where !wanted.contains(key) { removeService(key) }
        var order: [String] = []
        for plan in plans {
            let key = plan.entry.key
            order.append(key)
            guard let service = services[key] else {
                addService(plan)
                continue
            }
            let lineChanged = service.plan.entry.text != plan.entry.text
            let countChanged = service.plan.processCount != plan.processCount
            if lineChanged || (countChanged && plan.entry.kind == .inet) {
                replaceService(service, with: plan)
            } else {
                // Every process restarts, as in Postfix, even when no configuration line changed: a
                // reload is how a renewed TLS certificate or key reaches smtpd.
                restartProcesses(of: service, as: plan)
            }
        }
        serviceOrder = order.filter { services[$0] != nil }
        updateDemandWatch()
        do {
            try writeListeners()
        } catch {
            logger.error("\(error)")
        }
    }

    private func addService(_ plan: ServicePlan) {
        do {
            let service = try openService(plan)
            services[plan.entry.key] = service
            startAllProcesses(of: service)
            startWakeups(of: service)
        } catch {
            logger.error("\(error); service not started")
        }
    }

    /// New sockets, new processes.
    private func replaceService(_ old: RunningService, with plan: ServicePlan) {
        let fresh: RunningService
        do {
            fresh = try openService(plan)
        } catch {
            logger.error("\(error); service \(plan.entry.key) keeps its previous definition")
            return
        }
        old.wakeupTask?.cancel()
        // The processes keep their own copies of the old sockets until they exit.
        for listener in old.listeners { listener.close() }
        if let oldPath = old.plan.socketPath, oldPath != fresh.plan.socketPath { unlink(oldPath) }
        for index in old.slots.indices {
            guard let pid = old.slots[index].pid else { continue }
            if index < fresh.slots.count {
                fresh.slots[index].pid = pid
                fresh.slots[index].restartsWhenExited = true
            } else {
                children[pid]?.owner = .retiring
            }
            terminate(pid)
        }
        services[plan.entry.key] = fresh
        startAllProcesses(of: fresh)
        startWakeups(of: fresh)
    }

    /// Same sockets, new processes.
    private func restartProcesses(of service: RunningService, as plan: ServicePlan) {
        service.plan = plan
        // A fresh streak, and service_throttle_time may have changed.
        service.throttle = RestartThrottle(maximumDelay: configuration.throttleTime)
        if service.slots.count > plan.processCount {
            for slot in service.slots[plan.processCount...] {
                guard let pid = slot.pid else { continue }
                children[pid]?.owner = .retiring
                terminate(pid)
            }
            service.slots.removeLast(service.slots.count - plan.processCount)
        }
        for index in service.slots.indices {
            if let pid = service.slots[index].pid {
                service.slots[index].restartsWhenExited = true
                terminate(pid)
            }
        }
        while service.slots.count < plan.processCount { service.slots.append(Slot()) }
        startAllProcesses(of: service)
        startWakeups(of: service)
    }

    private func removeService(_ key: String) {
        guard let service = services.removeValue(forKey: key) else { return }
        service.wakeupTask?.cancel()
        for slot in service.slots {
            guard let pid = slot.pid else { continue }
            children[pid]?.owner = .retiring
            terminate(pid)
        }
        for listener in service.listeners { listener.close() }
        if let path = service.plan.socketPath { unlink(path) }
        logger.info("service \(key) removed")
    }
}
