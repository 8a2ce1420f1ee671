import AviaryConfig
import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// main.cf and master.cf as master reads them, at start and on every reload.
public struct MasterConfiguration: Sendable {
    /// The configuration directory, made absolute: processes get it with `-c`.
    public var directory: String
    /// main.cf.
    public var main: MainConfig
    /// master.cf.
    public var master: MasterConfig

    /// Reads both files and checks what master itself needs of them (inet service addresses).
    /// - Throws: `ConfigurationError` with every problem found in either file.
    public static func load(directory: String) throws(ConfigurationError) -> MasterConfiguration {
        let directory = absolutePath(directory)
        var diagnostics: [ConfigurationDiagnostic] = []
        var main: MainConfig?
        var master: MasterConfig?
        do { main = try MainConfig.load(directory: directory) } catch { diagnostics += error.diagnostics }
        do { master = try MasterConfig.load(directory: directory) } catch { diagnostics += error.diagnostics }
        for entry in master?.services ?? [] where entry.kind == .inet {
            do throws(MasterError) {
                _ = try InetServiceAddress(parsing: entry.name)
            } catch {
                diagnostics.append(.init(.error, file: master!.path, line: entry.line, parameter: nil, error.message))
            }
        }
        guard let main, let master, diagnostics.isEmpty else { throw ConfigurationError(diagnostics) }
        return MasterConfiguration(directory: directory, main: main, master: master)
    }

    /// Warnings worth logging (unknown parameters and the like).
    public var warnings: [ConfigurationDiagnostic] { main.warnings }

    /// `queue_directory` and what master keeps under it.
    public var paths: MasterPaths { MasterPaths(queueDirectory: main.string(.queueDirectory)) }

    /// Where the service programs are: `daemon_directory`, or when it is empty the directory of the running
    /// executable (master and the daemons are built and installed side by side).
    public var daemonDirectory: String {
        let configured = main.string(.daemonDirectory)
        return configured.isEmpty ? ExecutableLocation.directory : configured
    }

    /// `service_throttle_time`: the longest wait before restarting a failing process.
    public var throttleTime: Duration { .seconds(max(main.seconds(.serviceThrottleTime), 1)) }

    /// A path made absolute against the working directory, without a trailing slash.
    public static func absolutePath(_ path: String) -> String {
        var result = path
        if !result.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                result = (cwd == "/" ? "" : cwd) + "/" + result
            }
        }
        while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        return result
    }
}

/// Where the running program's file is, from `/proc/self/exe`.
public enum ExecutableLocation {
    /// The running executable's path.
    public static var path: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return CommandLine.arguments.first ?? "." }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The directory of the running executable.
    public static var directory: String { SafeFile.directoryName(of: path) }
}
