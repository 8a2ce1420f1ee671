import ArgumentParser
import AviaryCore
import AviaryQueue

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension AviaryCommand {
    /// `aviary status [-c DIR]`: whether the mail system runs (exit status 0 or 1), its services' processes and
    /// the queue.
    public struct Status: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Tell whether the mail system is running, with its processes and the queue."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            try AdminCommandRunner.run {
                let control = try MasterControl(configDirectory: config.directory)
                guard let pid = control.runningMaster() else {
                    print("aviary: the Aviary mail system is not running")
                    throw ExitCode.failure
                }
                print("aviary: the Aviary mail system is running: PID: \(pid)")
                let report = SystemStatus(
                    services: SystemStatus.services(of: pid),
                    queues: SystemStatus.queues(QueueDirectory(root: control.paths.queueDirectory), now: time(nil)))
                print(report.text, terminator: "")
            }
        }
    }
}

/// What `aviary status` shows besides master's pid: each program's processes under master, and the queue.
public struct SystemStatus: Sendable {
    public struct Service: Sendable, Equatable {
        public var program: String
        public var processes: Int
        /// Resident memory of them all, in KiB.
        public var residentKiB: Int
    }

    /// A queue's message count and oldest age (`QueueDirectory.census`, which the metrics service shares).
    public typealias Queue = QueueCensus

    public var services: [Service]
    /// nil when the queue cannot be read (only root and mail_owner may).
    public var queues: [Queue]?

    /// Master's children by program name (from /proc), sorted by name.
    public static func services(of master: pid_t) -> [Service] {
        var byProgram: [String: Service] = [:]
        for entry in (try? SafeFile.listDirectory("/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? SafeFile.readText("/proc/\(pid)/stat"),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            // pid (comm) state ppid ...: comm may hold spaces and parentheses, so it is read between the first
            // "(" and the last ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == master else { continue }
            let program = String(stat[stat.index(after: open)..<close])
            let status = (try? SafeFile.readText("/proc/\(pid)/status")) ?? ""
            let resident = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
                .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            var service = byProgram[program] ?? Service(program: program, processes: 0, residentKiB: 0)
            service.processes += 1
            service.residentKiB += resident
            byProgram[program] = service
        }
        return byProgram.values.sorted { $0.program < $1.program }
    }

    /// The number of messages in each queue and the age of the oldest (from its queue ID).
    public static func queues(_ directory: QueueDirectory, now: Int) -> [Queue]? {
        directory.census(now: now)
    }

    public var text: String {
        var lines = ["services (processes, resident memory):"]
        for service in services {
            lines.append(
                "  " + Self.padded(service.program, 12) + Self.padded(String(service.processes), 4, right: true)
                    + "  " + String(format1(Double(service.residentKiB) / 1024)) + " MB")
        }
        if let queues {
            lines.append("queue (messages, oldest):")
            for queue in queues {
                var line = "  " + Self.padded(queue.name.rawValue, 12) + Self.padded(String(queue.messages), 6, right: true)
                if let age = queue.oldestAge { line += "  " + Self.age(age) }
                lines.append(line)
            }
        } else {
            lines.append("queue: not readable by this user (root and mail_owner may read it; mailq works for everyone)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
    static func age(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<86400: return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
        default: return "\(seconds / 86400) d \(seconds % 86400 / 3600) h"
        }
    }

    static func padded(_ text: String, _ width: Int, right: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }

    /// One decimal.
    private func format1(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
