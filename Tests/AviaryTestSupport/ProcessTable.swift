import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One line of the process table, read from `/proc/<pid>/stat` and `/proc/<pid>/cmdline`.
public struct ProcessEntry: Sendable, Hashable, CustomStringConvertible {
    public var pid: pid_t
    public var parent: pid_t
    /// The kernel's short name (`comm`), e.g. `qmgr`.
    public var name: String
    /// `R`, `S`, `Z`, ...
    public var state: String
    public var commandLine: [String]

    public var isZombie: Bool { state == "Z" }
    public var description: String { "\(pid) (ppid \(parent), \(state)) \(commandLine.joined(separator: " "))" }
}

/// Reads the Linux process table.
public enum ProcessTable {
    /// One process, nil when it does not exist.
    public static func process(_ pid: pid_t) -> ProcessEntry? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return nil }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let parent = pid_t(fields[1]) else { return nil }
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let commandLine = raw.split(separator: 0, omittingEmptySubsequences: true).map {
            String(decoding: $0, as: UTF8.self)
        }
        return ProcessEntry(pid: pid, parent: parent, name: name, state: String(fields[0]), commandLine: commandLine)
    }

    /// Every process that can be read now.
    public static func all() -> [ProcessEntry] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.compactMap(process)
    }

    /// Living (non-zombie) children of `parent`, optionally only those whose `comm` is `name`.
    public static func children(of parent: pid_t, named name: String? = nil) -> [ProcessEntry] {
        all().filter { $0.parent == parent && !$0.isZombie && (name == nil || $0.name == name) }
    }

    /// Living processes whose command line mentions `text` (e.g. an instance's directory), excluding this one.
    public static func processes(mentioning text: String) -> [ProcessEntry] {
        let me = getpid()
        return all().filter { $0.pid != me && !$0.isZombie && $0.commandLine.contains { $0.contains(text) } }
    }

    /// Whether `pid` exists and is not a zombie.
    public static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        return process(pid).map { !$0.isZombie } ?? false
    }
}
