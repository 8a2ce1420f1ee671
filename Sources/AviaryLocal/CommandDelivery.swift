#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import AviaryMailbox
import AviaryUsers

/// Runs a `|command` delivery: no shell (the command line is split into arguments; one that needs a
/// shell is refused), the message on standard input with LF line ends, a small fixed environment, a time
/// limit, and the exit status mapped to DSN codes (sysexits: 75 = try again later, others = bounce).
///
/// As root the command runs as its owner through `setpriv` (util-linux), which sets user, group and
/// supplementary groups before exec; Swift cannot safely run code between fork and exec itself.
struct CommandDelivery {
    let command: String
    let owner: SystemAccount?
    let home: String
    let timeLimit: Int

    func run(message: MessageSource, environment: [String: String]) throws(DeliveryFailure) {
        var arguments: [String]
        do throws(CommandArguments.SplitError) {
            arguments = try CommandArguments.split(command)
        } catch {
            throw .permanent("5.3.0", "cannot run command \"\(command)\": \(error)")
        }
        guard let program = arguments.first else { throw .permanent("5.3.0", "empty command") }
        if !program.hasPrefix("/") {
            guard let found = Self.searchPath(program) else {
                throw .permanent("5.3.0", "command not found: \(program)")
            }
            arguments[0] = found
        }
        if Privileges.isRoot {
            // The expansion gives every command an unprivileged owner; this is the last line.
            guard let owner, owner.uid != 0 else {
                throw .temporary("4.3.0", "refusing to run \(program) as root (no unprivileged account to run it as)")
            }
            arguments = ["/usr/bin/setpriv", "--reuid=\(owner.uid)", "--regid=\(owner.gid)", "--init-groups", "--"]
                + arguments
        }
        var input: [Int32] = [0, 0]
        guard pipe(&input) == 0 else { throw .temporary("4.3.0", "pipe: \(SystemError.current("pipe"))") }
        let output = tmpfile()
        defer { if let output { fclose(output) } }
        // Only the dup2'd copies reach the command: the originals close at exec.
        for fd in input + [output.map { fileno($0) } ?? -1] where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var descriptors: [(source: Int32, target: Int32)] = [(input[0], STDIN_FILENO)]
        if let output {
            descriptors += [(fileno(output), STDOUT_FILENO), (fileno(output), STDERR_FILENO)]
        }
        var env = environment
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        env["HOME"] = home
        if let owner {
            env["USER"] = owner.name
            env["LOGNAME"] = owner.name
            env["SHELL"] = owner.shell
        }
        let pid: pid_t
        do throws(SystemError) {
            // The working directory is inherited: local runs one delivery at a time, so changing its own is safe.
            _ = chdir(SafeFile.isDirectory(home) ? home : "/")
            defer { _ = chdir("/") }
            pid = try ProcessSpawner.spawn(
                path: arguments[0], arguments: arguments,
                environment: env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
                descriptors: descriptors, standardInput: .inherit, newProcessGroup: true)
        } catch {
            close(input[0])
            close(input[1])
            throw .temporary("4.3.0", "cannot run \(arguments[0]): \(error)")
        }
        close(input[0])
        // Feed the message; a command that stops reading early is not an error by itself.
        let writer = FileDescriptor(adopting: input[1])
        var converter = LineEndConverter()
        do {
            while let chunk = try message.nextChunk() {
                try writer.writeAll(converter.convert(chunk))
            }
            try writer.writeAll(converter.finish())
        } catch {}
        writer.close()
        let status = Self.wait(for: pid, seconds: timeLimit)
        let text = Self.tail(output)
        switch status {
        case .exited(0): return
        case .exited(75): throw .temporary("4.3.0", "command temporarily failed (exit 75)\(text)")
        case .exited(let code): throw .permanent("5.3.0", "command died with status \(code)\(text)")
        case .signaled(let signal): throw .temporary("4.3.0", "command killed by signal \(signal)\(text)")
        case .timedOut: throw .temporary("4.3.0", "command time limit exceeded (\(timeLimit) s)\(text)")
        case .unknown: throw .temporary("4.3.0", "lost track of the command's exit status\(text)")
        }
    }

    enum Status: Equatable {
        case exited(Int32)
        case signaled(Int32)
        case timedOut
        /// The child could not be waited for: its result is not known.
        case unknown
    }

    static func wait(for pid: pid_t, seconds: Int) -> Status {
        let deadline = time(nil) + seconds
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            // The outcome is unknown (the child was reaped elsewhere): try again rather than call it delivered.
            if result < 0 && errno != EINTR { return .unknown }
            if time(nil) >= deadline {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return .timedOut
            }
            usleep(10_000)
        }
        if status & 0x7F == 0 { return .exited((status >> 8) & 0xFF) }
        return .signaled(status & 0x7F)
    }

    /// The command's last output, for the bounce: ": <up to 300 bytes>".
    static func tail(_ file: UnsafeMutablePointer<FILE>?) -> String {
        guard let file else { return "" }
        fflush(file)
        let size = ftell(file)
        guard size > 0 else { return "" }
        let keep = min(size, 300)
        fseek(file, size - keep, SEEK_SET)
        var buffer = [UInt8](repeating: 0, count: keep)
        let got = fread(&buffer, 1, keep, file)
        let text = String(decoding: buffer[..<got], as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
        return text.isEmpty ? "" : ": " + text
    }

    static func searchPath(_ program: String) -> String? {
        for directory in ["/usr/local/bin", "/usr/bin", "/bin"] where access(directory + "/" + program, X_OK) == 0 {
            return directory + "/" + program
        }
        return nil
    }
}

/// CRLF → LF across chunk boundaries (a chunk may end between CR and LF).
struct LineEndConverter {
    private var pendingCR = false

    mutating func convert(_ chunk: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(chunk.count + 1)
        for byte in chunk {
            if pendingCR {
                pendingCR = false
                if byte != 10 { out.append(13) }
            }
            if byte == 13 {
                pendingCR = true
            } else {
                out.append(byte)
            }
        }
        return out
    }

    mutating func finish() -> [UInt8] {
        defer { pendingCR = false }
        return pendingCR ? [13] : []
    }
}
