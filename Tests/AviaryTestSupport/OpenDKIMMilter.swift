import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real OpenDKIM (Debian's `opendkim`) running as a signing milter on a Unix socket in a temporary directory,
/// with a fresh key for `selector._domainkey.domain`; it signs mail from 127.0.0.1 (its InternalHosts).
public final class OpenDKIMMilter {
    public let directory = TemporaryDirectory("opendkim")
    public let process: ChildProcess
    public let domain: String
    public let selector: String
    public var socket: String { directory.path + "/opendkim.sock" }
    /// The DNS TXT record of the public key, as opendkim-genkey wrote it (`selector.txt`).
    public var keyRecordPath: String { directory.path + "/\(selector).txt" }
    public var logPath: String { directory.path + "/log" }

    static let verifyScript =
        (#filePath as NSString).deletingLastPathComponent + "/../IntegrationTests/clients/dkim_verify.py"

    public init(domain: String = "example.com", selector: String = "test") async throws {
        self.domain = domain
        self.selector = selector
        let directory = directory
        // smtpd may run as the mail user (a test run as root): it must reach the socket.
        chmod(directory.path, 0o755)
        let keys = try await ToolResult.run(
            "/usr/sbin/opendkim-genkey", ["-D", directory.path, "-d", domain, "-s", selector, "-b", "1024"])
        guard keys.isSuccess else { throw TestSupportError("opendkim-genkey failed: \(keys)") }
        // UMask 000: smtpd may run as another user than the test (root starting master) and must connect.
        let config = """
            Syslog no
            LogWhy yes
            Mode s
            Domain \(domain)
            Selector \(selector)
            KeyFile \(directory.path)/\(selector).private
            Socket local:\(directory.path)/opendkim.sock
            UMask 000
            Background no
            RequireSafeKeys false
            Canonicalization relaxed/simple
            InternalHosts 127.0.0.1
            PidFile \(directory.path)/pid

            """
        try config.write(toFile: directory.path + "/opendkim.conf", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            path: "/usr/sbin/opendkim", arguments: ["-x", directory.path + "/opendkim.conf", "-f"],
            standardOutput: directory.path + "/log", standardError: directory.path + "/log")
        self.process = process
        let ready = await waitUntil(timeout: .seconds(20)) {
            !process.isRunning || access(directory.path + "/opendkim.sock", F_OK) == 0
        }
        guard ready, process.isRunning else {
            await process.terminate(grace: .seconds(2))
            throw TestSupportError("opendkim did not start: \((try? String(contentsOfFile: directory.path + "/log", encoding: .utf8)) ?? "")")
        }
    }

    /// Verifies every DKIM signature of `message` with dkimpy (python3-dkim), the key taken from this milter's
    /// TXT record file instead of DNS. The result's output names the signing domain on success.
    public func verify(_ message: [UInt8]) async throws -> ToolResult {
        try await ToolResult.run("/usr/bin/python3", [Self.verifyScript, keyRecordPath], stdin: message)
    }

    public func stop() async { await process.terminate(grace: .seconds(5)) }
}
