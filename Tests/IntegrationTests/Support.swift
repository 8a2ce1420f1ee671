import AviaryTestSupport
import Foundation
import Testing

/// All integration suites, one at a time: they start real processes and share two CPU cores, so running them
/// side by side would only make every bounded wait tighter. Each nested suite lives in its own file.
@Suite("Integration", .serialized)
struct Integration {}

/// The instance a suite shares between its tests, set by the ``SharedInstance`` trait.
enum Current {
    @TaskLocal static var instance: TestInstance?

    /// The suite's instance; a test outside such a suite fails here.
    static func required(sourceLocation: SourceLocation = #_sourceLocation) throws -> TestInstance {
        try #require(instance, "this suite needs the .sharedInstance trait", sourceLocation: sourceLocation)
    }
}

/// Starts one instance for a whole suite, publishes it in ``Current/instance`` and cleans it up at the end.
struct SharedInstance: SuiteTrait, TestScoping {
    let make: @Sendable () throws -> TestInstance

    var isRecursive: Bool { false }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let instance = try make()
        do {
            try await instance.start()
            try await Current.$instance.withValue(instance) { try await function() }
        } catch {
            print("instance of suite \(test.name) at the error:\n\(instance.report())")
            await instance.cleanUp()
            throw error
        }
        await instance.cleanUp()
    }
}

extension Trait where Self == SharedInstance {
    /// One started instance for the suite, made by `make`.
    static func sharedInstance(_ make: @escaping @Sendable () throws -> TestInstance) -> Self {
        SharedInstance(make: make)
    }
}

/// `#expect` that adds the instance's log and queue to the failure message.
func check(
    _ condition: Bool,
    _ what: @autoclosure () -> String,
    _ instance: TestInstance,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(condition, Comment(rawValue: what() + "\n" + instance.report()), sourceLocation: sourceLocation)
}

/// `#require` for a bounded wait: fails the test with the instance's report when `condition` did not come true.
func require(
    _ instance: TestInstance,
    within timeout: Duration = .seconds(30),
    _ what: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () throws -> Bool
) async throws {
    let held = try await waitUntil(timeout: timeout, condition)
    try #require(
        held,
        Comment(rawValue: "timed out waiting: " + what() + "\n" + instance.report()),
        sourceLocation: sourceLocation
    )
}

// MARK: - Clients

/// Where the Python drivers are: Tests/IntegrationTests/clients/.
let clientsDirectory = (#filePath as NSString).deletingLastPathComponent + "/clients"

extension TestInstance {
    /// Runs swaks against `port` (the contract service by default).
    func swaks(
        to recipient: String,
        from sender: String = "sender@example.test",
        port: Int? = nil,
        _ options: [String] = []
    ) async throws -> ToolResult {
        try await run(
            "swaks",
            [
                "--server", "127.0.0.1", "--port", String(port ?? smtpPort), "--helo", "client.example.test",
                "--to", recipient, "--from", sender, "--timeout", "20",
            ] + options,
            timeout: .seconds(60)
        )
    }

    /// Plays a raw transcript with clients/transcript.py against an inet service (by its master.cf name; the
    /// contract service by default) and returns the replies (the greeting first).
    func transcript(
        _ steps: [TranscriptStep],
        service: String = "127.0.0.1:0",
        source: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Transcript {
        let bound = try #require(listeners()[service], "no listener for \(service) in \(listeners())")
        let colon = try #require(bound.lastIndex(of: ":"))
        let json = try JSONSerialization.data(withJSONObject: steps.map(\.json))
        var arguments = [
            clientsDirectory + "/transcript.py", String(bound[..<colon]), String(bound[bound.index(after: colon)...]),
        ]
        if let source { arguments += ["--source", source] }
        let result = try await run("python3", arguments, stdin: Array(json), timeout: timeout)
        guard result.isSuccess,
            let object = try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        else { throw TranscriptError(result: result) }
        return Transcript(
            replies: object["replies"] as? [String] ?? [],
            closed: object["closed"] as? Bool ?? false,
            error: object["error"] as? String
        )
    }

    /// `aviary queue list -c DIR --json`, parsed: one dictionary per message.
    func queueListJSON() async throws -> [[String: Any]] {
        let result = try await run("aviary", ["queue", "list", "-c", directory, "--json"])
        try #require(result.isSuccess, "\(result)")
        return try result.standardOutput.split(separator: "\n").map { line in
            try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                "not a JSON object: \(line)"
            )
        }
    }
}

struct TranscriptError: Error, CustomStringConvertible {
    var result: ToolResult
    var description: String { "transcript.py failed:\n\(result)" }
}

/// One step of a raw SMTP conversation (see clients/transcript.py).
enum TranscriptStep {
    /// Bytes to send; every Character must be in U+0000...U+00FF (sent as Latin-1).
    case send(String)
    /// Read this many replies.
    case read(Int)
    /// Read replies until the server closes.
    case readUntilClose
    case sleep(Double)
    /// Wait until the file at this path exists (at most 60 s): the test decides when the client goes on.
    case waitFile(String)
    /// Half-close the connection: the client sends nothing more.
    case shutdown

    var json: [Any] {
        switch self {
        case .send(let text): return ["send", text]
        case .read(let count): return ["read", count]
        case .readUntilClose: return ["read_until_close"]
        case .sleep(let seconds): return ["sleep", seconds]
        case .waitFile(let path): return ["wait_file", path]
        case .shutdown: return ["shutdown"]
        }
    }
}

/// Sends `text` and CR LF, then reads one reply.
func say(_ text: String) -> [TranscriptStep] { [.send(text + "\r\n"), .read(1)] }

/// What the server said, the greeting first.
struct Transcript: CustomStringConvertible {
    var replies: [String]
    var closed: Bool
    var error: String?

    /// The three-digit codes of the replies.
    var codes: [Int] { replies.map { Int($0.prefix(3)) ?? 0 } }

    var description: String {
        replies.enumerated().map { "[\($0.offset)] \($0.element)" }.joined(separator: "\n")
            + (closed ? "\n[closed]" : "") + (error.map { "\n[error: \($0)]" } ?? "")
    }
}

/// Splits a Maildir message into header lines and body (at the first empty line).
func headersAndBody(_ message: [UInt8]) -> (headers: [String], body: [UInt8]) {
    let separator: [UInt8] = [10, 10]
    guard let range = message.firstRange(of: separator) else {
        return (String(decoding: message, as: UTF8.self).split(separator: "\n").map(String.init), [])
    }
    let head = String(decoding: message[..<range.lowerBound], as: UTF8.self)
    // Unfold continuation lines so a header is one string.
    var headers: [String] = []
    for line in head.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.first == " " || line.first == "\t", !headers.isEmpty {
            headers[headers.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
        } else {
            headers.append(String(line))
        }
    }
    return (headers, Array(message[range.upperBound...]))
}

extension ToolResult {
    /// swaks's transcript lines from the server (`<-` and `<**`).
    var serverLines: [String] {
        (standardOutput + "\n" + standardError).split(separator: "\n").map(String.init).filter {
            $0.hasPrefix("<-") || $0.hasPrefix("<~") || $0.hasPrefix("<**")
        }
    }
}

extension TestInstance {
    /// The messages in a user's Maildir `new/` that contain `token`, as text.
    func messages(of user: String, containing token: String) -> [String] {
        maildirMessages(user).map { String(decoding: $0, as: UTF8.self) }.filter { $0.contains(token) }
    }

    /// Waits (bounded) until a message containing `token` is in the user's Maildir and returns it.
    func awaitMessage(
        for user: String,
        containing token: String,
        within timeout: Duration = .seconds(30),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        try await require(self, within: timeout, "a message with \(token) for \(user)", sourceLocation: sourceLocation)
        {
            !messages(of: user, containing: token).isEmpty
        }
        return messages(of: user, containing: token)[0]
    }
}

/// A string unlikely to appear anywhere else, to find one test's message in a shared Maildir.
func uniqueToken(_ label: String) -> String { "\(label)-\(UInt64.random(in: 0...UInt64.max))" }

/// The queue ID in a `250 2.0.0 Ok: queued as ID` reply somewhere in `text`.
func queuedID(in text: String) -> String? {
    guard let range = text.range(of: "queued as ") else { return nil }
    let id = text[range.upperBound...].prefix { $0.isLetter || $0.isNumber }
    return id.isEmpty ? nil : String(id)
}

extension TestInstance {
    /// Waits (bounded) for a maillog line that contains every one of `parts`, and returns it. Log lines may be
    /// written a moment after the effect they describe (a reply sent, a file delivered), so tests wait for them.
    @discardableResult
    func awaitLogLine(
        containing parts: String...,
        within timeout: Duration = .seconds(15),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        func find() -> String? {
            log().split(separator: "\n").first { line in parts.allSatisfy { line.contains($0) } }.map(String.init)
        }
        try await require(self, within: timeout, "a log line with \(parts)", sourceLocation: sourceLocation) {
            find() != nil
        }
        return find() ?? ""
    }
}
