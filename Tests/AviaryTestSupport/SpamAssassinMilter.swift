import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Debian's spamass-milter in front of SpamAssassin's spamd (on 127.0.0.1 and a free port), on a Unix socket in a
/// temporary directory; messages scoring `rejectScore` or more are refused with spamass-milter's
/// `550 5.7.1 Blocked by SpamAssassin`, others get its X-Spam-* header fields.
public final class SpamAssassinMilter {
    public let directory = TemporaryDirectory("spamass")
    public let spamd: ChildProcess
    public let milter: ChildProcess
    public var socket: String { directory.path + "/milter.sock" }

    public init(rejectScore: Int = 15) async throws {
        let directory = directory
        chmod(directory.path, 0o755)  // smtpd may run as the mail user
        let port = freePort()
        let spamd = try ChildProcess(
            path: "/usr/sbin/spamd",
            arguments: [
                "-i", "127.0.0.1", "-p", String(port), "-u", "nobody", "--max-children=1", "-s", "stderr",
                "--pidfile=\(directory.path)/spamd.pid",
            ],
            standardError: directory.path + "/spamd.log")
        self.spamd = spamd
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
        self.milter = milter
        let listening = await waitUntil(timeout: .seconds(20)) {
            !milter.isRunning || access(directory.path + "/milter.sock", F_OK) == 0
        }
        guard listening, milter.isRunning else {
            await stop()
            throw TestSupportError("spamass-milter did not start")
        }
        chmod(directory.path + "/milter.sock", 0o777)
    }

    public func stop() async {
        await milter.terminate(grace: .seconds(5))
        await spamd.terminate(grace: .seconds(10))
    }
}
