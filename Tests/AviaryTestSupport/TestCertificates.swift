import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Throwaway certificates made at test time by `scripts/gen-test-certs.sh` (private keys are never committed).
/// Paths are absolute; the files live as long as the directory they were made in.
public struct TestCertificates: Sendable {
    public let directory: String
    public var caCertificate: String { directory + "/ca.pem" }
    /// For mail.example.test, localhost and 127.0.0.1, signed by the CA.
    public var serverCertificate: String { directory + "/server.pem" }
    /// `serverCertificate` followed by the CA certificate.
    public var serverChain: String { directory + "/server-chain.pem" }
    public var serverKey: String { directory + "/server.key" }
    /// Expired on 2024-01-01 00:00:00 UTC.
    public var expiredCertificate: String { directory + "/expired.pem" }
    public var expiredKey: String { directory + "/expired.key" }
    /// Not valid before 2099-01-01 00:00:00 UTC.
    public var futureCertificate: String { directory + "/future.pem" }
    public var futureKey: String { directory + "/future.key" }
    /// Valid from when it was made for 10 days: expires soon.
    public var soonCertificate: String { directory + "/soon.pem" }
    public var soonKey: String { directory + "/soon.key" }
    /// Matches no certificate.
    public var otherKey: String { directory + "/other.key" }

    /// Runs the script (with the `openssl` command) to make the files in `directory`.
    public static func make(in directory: String) async throws -> TestCertificates {
        var root = #filePath
        for _ in 0..<3 { root = (root as NSString).deletingLastPathComponent }
        let result = try await ToolResult.run("/bin/sh", [root + "/scripts/gen-test-certs.sh", directory])
        guard result.isSuccess else { throw TestSupportError("gen-test-certs.sh failed:\n\(result)") }
        return TestCertificates(directory: directory)
    }
}

extension ToolResult {
    /// Runs a program to its end (bounded; killed at `timeout`) with `stdin` as its input, and collects
    /// its output.
    /// - Parameters:
    ///   - path: the program's absolute path.
    ///   - arguments: argv without argv[0].
    public static func run(
        _ path: String,
        _ arguments: [String],
        stdin: [UInt8] = [],
        timeout: Duration = .seconds(30)
    ) async throws -> ToolResult {
        let scratch = TemporaryDirectory("tool")
        _ = FileManager.default.createFile(atPath: scratch.path + "/in", contents: Data(stdin))
        let process = try ChildProcess(
            path: path,
            arguments: arguments,
            standardInput: scratch.path + "/in",
            standardOutput: scratch.path + "/out",
            standardError: scratch.path + "/err"
        )
        var status = await process.wait(timeout: timeout)
        if status == nil {
            process.signal(SIGKILL)
            _ = await process.wait(timeout: .seconds(10))
            status = nil
        }
        func read(_ name: String) -> String {
            FileManager.default.contents(atPath: scratch.path + "/" + name).map { String(decoding: $0, as: UTF8.self) }
                ?? ""
        }
        return ToolResult(
            command: [path] + arguments,
            status: status,
            standardOutput: read("out"),
            standardError: read("err")
        )
    }
}
