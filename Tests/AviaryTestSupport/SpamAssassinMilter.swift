import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Debian's spamass-milter in front of SpamAssassin's spamd (on 127.0.0.1 and a free port), on a Unix socket in a
/// temporary directory; messages scoring `rejectScore` or more are refused with spamass-milter's
/// `550 5.7.1 Blocked by SpamAssassin`, others get its X-Spam-* header fields.
public final class SpamAssassinMilter {
    public let directory: TemporaryDirectory
    public let spamd: ChildProcess
    public let milter: ChildProcess
    public var socket: String { directory.path + "/milter.sock" }

    private init(directory: TemporaryDirectory, spamd: ChildProcess, milter: ChildProcess) {
        self.directory = directory
        self.spamd = spamd
        self.milter = milter
    }

    /// Starts spamd, then spamass-milter in front of it. (A static function, not an async throwing init:
    /// Swift 6.3.1's optimizer crashed splitting that init's coroutine in release builds.)
    public static func start(rejectScore: Int = 15) async throws -> SpamAssassinMilter {
        let directory = TemporaryDirectory("spamass")
        chmod(directory.path, 0o755)  // smtpd may run as the mail user
        let port = freePort()
        let spamd = try ChildProcess(
            path: "/usr/sbin/spamd",
            arguments: [
                "-i", "127.0.0.1", "-p", String(port), "-u", "nobody", "--max-children=1", "-s", "stderr",
                "--pidfile=\(directory.path)/spamd.pid",
            ],
            standardError: directory.path + "/spamd.log")
        let started = await waitUntil(timeout: .seconds(60), step: .milliseconds(200)) {
            !spamd.isRunning
                || (try? String(contentsOfFile: directory.path + "/spamd.log", encoding: .utf8))?
                    .contains("server successfully spawned child") == true
        }
        guard started, spamd.isRunning else {
            await spamd.terminate(grace: .seconds(2))
            throw TestSupportError("spamd did not start")
        }
        let milter = try ChildProcess(
            path: "/usr/sbin/spamass-milter",
            arguments: ["-p", directory.path + "/milter.sock", "-r", String(rejectScore), "--", "-d", "127.0.0.1",
                "-p", String(port)],
            standardOutput: directory.path + "/milter.log", standardError: directory.path + "/milter.log")
        let instance = SpamAssassinMilter(directory: directory, spamd: spamd, milter: milter)
        let listening = await waitUntil(timeout: .seconds(20)) {
            !milter.isRunning || access(directory.path + "/milter.sock", F_OK) == 0
        }
        guard listening, milter.isRunning else {
            await instance.stop()
            throw TestSupportError("spamass-milter did not start")
        }
        chmod(directory.path + "/milter.sock", 0o777)
        return instance
    }

    public func stop() async {
        await milter.terminate(grace: .seconds(5))
        await spamd.terminate(grace: .seconds(10))
    }
}
