import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A test milter written in Python (`IntegrationTests/clients/<script>`, given its socket path as argument) on a
/// Unix socket in a temporary directory that smtpd, running as the mail user or not, can reach.
public final class PythonMilter {
    public let directory = TemporaryDirectory("python-milter")
    public let process: ChildProcess
    public var socket: String { directory.path + "/milter.sock" }

    static let clients = (#filePath as NSString).deletingLastPathComponent + "/../IntegrationTests/clients/"

    public init(_ script: String) async throws {
        let directory = directory
        chmod(directory.path, 0o755)
        let socket = directory.path + "/milter.sock"
        let process = try ChildProcess(
            path: "/usr/bin/python3", arguments: [Self.clients + script, socket],
            standardOutput: directory.path + "/out", standardError: directory.path + "/out")
        self.process = process
        let ready = await waitUntil(timeout: .seconds(20)) { !process.isRunning || access(socket, F_OK) == 0 }
        guard ready, process.isRunning else {
            await process.terminate(grace: .seconds(2))
            throw TestSupportError("\(script) did not start: \((try? String(contentsOfFile: directory.path + "/out", encoding: .utf8)) ?? "")")
        }
        chmod(socket, 0o777)
    }

    public func stop() async { await process.terminate(grace: .seconds(2)) }
}
