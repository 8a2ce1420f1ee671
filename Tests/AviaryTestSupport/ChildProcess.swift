import AviaryCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child process ended: the type master uses (`AviaryCore.ProcessExitStatus`), under the name tests know.
public typealias ExitStatus = ProcessExitStatus

/// A process started by a test: spawned with `posix_spawn`, reaped by `wait(timeout:)`.
///
/// Why not `Foundation.Process`: the threads of Dispatch and Swift concurrency block every signal and a spawned
/// child inherits that mask, so a daemon would never see SIGTERM; here every child starts with an empty mask and
/// the default action for the signals daemons rely on. Optionally the child leads its own process group, so that
/// everything it starts can be signalled at once.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked Sendable: `status` is written only by `reap()`, which tests call from one task at a time.
    public let pid: pid_t
    public let isGroupLeader: Bool
    public private(set) var status: ExitStatus?

    /// Starts `path` with `arguments` (argv without argv[0]).
    /// - Parameters:
    ///   - standardInput: a file to read from, or nil for `/dev/null`.
    ///   - standardOutput, standardError: files to append to (created 0600), or nil for `/dev/null`.
    ///   - newProcessGroup: whether the child leads a new process group (its pid is the group id).
    ///   - environment: variables to set on top of this process's environment.
    public init(
        path: String,
        arguments: [String],
        environment: [String: String] = [:],
        standardInput: String? = nil,
        standardOutput: String? = nil,
        standardError: String? = nil,
        newProcessGroup: Bool = false
    ) throws(TestSupportError) {
        let input: ProcessSpawner.Stream = standardInput.map { .reading($0) } ?? .null
        let output: ProcessSpawner.Stream = standardOutput.map { .appending($0) } ?? .null
        let errors: ProcessSpawner.Stream = standardError.map { .appending($0) } ?? .null
        let pid: pid_t
        do throws(SystemError) {
            pid = try ProcessSpawner.spawn(
                path: path, arguments: [path] + arguments,
                environment: environment.isEmpty
                    ? nil
                    : ProcessSpawner.currentEnvironment().filter { entry in
                        !environment.keys.contains { entry.hasPrefix($0 + "=") }
                    } + environment.map { "\($0.key)=\($0.value)" },
                standardInput: input, standardOutput: output, standardError: errors,
                newProcessGroup: newProcessGroup)
        } catch {
            throw TestSupportError("cannot start \(path): \(error.reason)")
        }
        self.pid = pid
        self.isGroupLeader = newProcessGroup
    }

    /// Reaps the child if it has ended; returns whether it has.
    @discardableResult
    public func reap() -> Bool {
        if status != nil { return true }
        var raw: Int32 = 0
        let reaped = waitpid(pid, &raw, WNOHANG)
        if reaped == pid {
            status = ExitStatus(waitStatus: raw)
            return true
        }
        return reaped < 0 && errno == ECHILD
    }

    /// Whether the child is still running (not yet reaped).
    public var isRunning: Bool { !reap() }

    /// Waits (bounded, polling every 20 ms) for the child to end; nil when it is still running at the deadline.
    public func wait(timeout: Duration) async -> ExitStatus? {
        _ = await waitUntil(timeout: timeout, step: .milliseconds(20)) { self.reap() }
        return status
    }

    /// Sends a signal to the child (or its whole group when it leads one and `group` is true).
    public func signal(_ number: Int32, group: Bool = false) {
        guard status == nil else { return }
        _ = kill(group && isGroupLeader ? -pid : pid, number)
    }

    /// SIGTERM, a bounded wait, then SIGKILL; always reaps. Returns how the child ended.
    @discardableResult
    public func terminate(grace: Duration = .seconds(15)) async -> ExitStatus? {
        signal(SIGTERM)
        if let status = await wait(timeout: grace) { return status }
        signal(SIGKILL, group: true)
        signal(SIGKILL)
        return await wait(timeout: .seconds(10))
    }
}

/// What a finished tool printed and how it ended.
public struct ToolResult: Sendable, CustomStringConvertible {
    public var command: [String]
    /// nil when the tool was killed at its time limit.
    public var status: ExitStatus?
    public var standardOutput: String
    public var standardError: String
    public var isSuccess: Bool { status == .exited(0) }
    public var timedOut: Bool { status == nil }

    public var description: String {
        """
        $ \(command.joined(separator: " "))
        [\(status.map(\.description) ?? "killed at its time limit")]
        --- stdout ---
        \(standardOutput)
        --- stderr ---
        \(standardError)
        """
    }
}

/// An error of the test support itself (a process that cannot start, an instance that does not come up).
public struct TestSupportError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Repeats `attempt` every `step` until `isDone` accepts its result or `timeout` passes, and returns the last
/// result (for an action that may have to be tried again, such as a connection refused while a count drops).
public func retrying<T>(
    timeout: Duration,
    step: Duration,
    _ attempt: () async throws -> T,
    until isDone: (T) -> Bool
) async rethrows -> T {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var result = try await attempt()
    while !isDone(result) && clock.now < deadline {
        try? await Task.sleep(for: step)
        result = try await attempt()
    }
    return result
}

/// Polls `condition` every `step` (50 ms by default) until it holds or `timeout` passes; returns whether it held.
/// The condition is always tried once more at the deadline.
public func waitUntil(
    timeout: Duration = .seconds(15),
    step: Duration = .milliseconds(50),
    _ condition: () throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try condition() { return true }
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: step)
    }
}
