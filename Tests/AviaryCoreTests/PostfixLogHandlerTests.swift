import AviaryCore
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pipe whose write end is a log destination; lines are read back from the other end.
final class LogPipe {
    let reader: FileDescriptor
    let writer: FileDescriptor

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        reader = FileDescriptor(adopting: fds[0])
        writer = FileDescriptor(adopting: fds[1])
    }

    func logger(program: String = "smtpd", level: Logger.Level = .info) -> Logger {
        let fd = writer.rawValue
        return Logger(label: "test") { _ in
            PostfixLogHandler(program: program, destination: .fileDescriptor(fd), level: level)
        }
    }

    /// Reads `count` lines (the writer has written them already: each log call is one write).
    func lines(_ count: Int) throws -> [String] {
        var received: [UInt8] = []
        for _ in 0..<(count + 10) where received.filter({ $0 == 10 }).count < count {
            received += try reader.read(upTo: 65536)
        }
        return String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

@Suite("PostfixLogHandler")
struct PostfixLogHandlerTests {
    /// Splits `Nov 21 23:48:01 host aviary/smtpd[4242]: text` into its timestamp, host, tag and text.
    func parts(_ line: String) -> (timestamp: String, host: String, tag: String, text: String)? {
        let characters = Array(line)
        guard characters.count > 16 else { return nil }
        let timestamp = String(characters[0..<15])
        let rest = String(characters[16...])
        guard let space = rest.firstIndex(of: " ") else { return nil }
        let host = String(rest[..<space])
        let afterHost = rest[rest.index(after: space)...]
        guard let colon = afterHost.firstRange(of: ": ") else { return nil }
        return (timestamp, host, String(afterHost[..<colon.lowerBound]), String(afterHost[colon.upperBound...]))
    }

    @Test("a line is 'timestamp host aviary/PROGRAM[PID]: QUEUEID: text'")
    func lineShape() throws {
        let pipe = LogPipe()
        var logger = pipe.logger()
        logger[metadataKey: "queue_id"] = "0T4ZQ3K1A2B3C"
        logger.info("client=localhost[127.0.0.1]")
        let lines = try pipe.lines(1)
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        let fields = try #require(parts(line))
        #expect(fields.tag == "aviary/smtpd[\(getpid())]")
        #expect(fields.text == "0T4ZQ3K1A2B3C: client=localhost[127.0.0.1]")
        #expect(!fields.host.isEmpty && !fields.host.contains("."))
        // "Nov 21 23:48:01" / "Nov  1 03:04:05": month, day padded to two, time.
        let stamp = Array(fields.timestamp)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        #expect(months.contains(String(stamp[0..<3])))
        #expect(stamp[3] == " " && stamp[6] == " " && stamp[9] == ":" && stamp[12] == ":")
        #expect(stamp[4] == " " || stamp[4].isNumber)
        #expect([5, 7, 8, 10, 11, 13, 14].allSatisfy { stamp[$0].isNumber })
    }

    @Test(
        "warnings, errors and critical messages carry Postfix's prefixes after the queue ID",
        arguments: [
            (Logger.Level.notice, "hello"),
            (.warning, "warning: hello"),
            (.error, "error: hello"),
            (.critical, "fatal: hello"),
        ]
    )
    func prefixes(level: Logger.Level, expected: String) throws {
        let pipe = LogPipe()
        let logger = pipe.logger(program: "qmgr")
        logger.log(level: level, "hello")
        logger.log(level: level, "hello", metadata: ["queue_id": "ABC"])
        let lines = try pipe.lines(2)
        #expect(lines.count == 2)
        #expect(lines.first.map { $0.hasSuffix(" aviary/qmgr[\(getpid())]: \(expected)") } == true)
        #expect(lines.last.map { $0.hasSuffix(" aviary/qmgr[\(getpid())]: ABC: \(expected)") } == true)
    }

    @Test("messages below the level are not written; other metadata shows only at debug")
    func levelsAndMetadata() throws {
        let pipe = LogPipe()
        var info = pipe.logger(level: .info)
        info[metadataKey: "client"] = "x"
        info.debug("hidden")
        info.info("plain")
        var debug = pipe.logger(level: .debug)
        debug[metadataKey: "zeta"] = "1"
        debug[metadataKey: "alpha"] = "2"
        debug.debug("detail")
        let lines = try pipe.lines(2)
        #expect(lines.count == 2)
        #expect(lines.first?.hasSuffix("]: plain") == true)
        #expect(lines.last?.hasSuffix("]: detail [alpha=2 zeta=1]") == true)
    }

    @Test("a discard destination writes nothing, and does not even build the messages (a daemon's info level notwithstanding)")
    func discard() {
        var logger = Logger(label: "x") { _ in PostfixLogHandler(program: "smtpd", destination: .discard) }
        logger.logLevel = .info
        var built = 0
        func message() -> Logger.Message {
            built += 1
            return "nothing"
        }
        logger.info(message())
        logger.error(message())
        #expect(built == 0)
        #expect(AviaryLogging.destination(logFile: "/dev/null").isDiscard)
    }

    @Test(
        "LogFormat.delay prints seconds with two decimals",
        arguments: [
            (0.0, "0.00"), (0.004, "0.00"), (0.07, "0.07"), (0.12, "0.12"), (1.5, "1.50"), (3.999, "4.00"),
            (59.25, "59.25"), (100, "100.00"), (-3, "0.00"),
        ]
    )
    func delay(seconds: Double, expected: String) {
        #expect(LogFormat.delay(seconds) == expected)
    }
}

extension LogDestination {
    var isDiscard: Bool {
        if case .discard = self { return true }
        return false
    }
}
