// The libFuzzer entry points. libFuzzer's own `main` calls LLVMFuzzerInitialize once, then
// LLVMFuzzerTestOneInput for every input; the environment variable AVIARY_FUZZ_TARGET names the target
// (`AVIARY_FUZZ_TARGET=list` prints them). A target returns normally for any input: a crash, a trap
// (a failed precondition, an out-of-range index), an ASan report, a timeout or an out-of-memory is a finding.

#if canImport(Glibc)
import Glibc
#endif

/// A fuzz target: one parser (or one chain of them, as a daemon runs them) fed arbitrary bytes.
struct FuzzTarget: Sendable {
    var name: String
    /// What the target feeds and which seeds fit it.
    var summary: String
    var run: @Sendable ([UInt8]) -> Void
}

extension FuzzTarget {
    /// Every target, in the order `scripts/fuzz.sh all` runs them.
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "smtp-command", summary: "smtpd command lines (one per LF)", run: SMTPTargets.commandLines),
        FuzzTarget(name: "smtp-frames", summary: "smtpd byte stream through the decoder into the engine: lines, DATA, BDAT, AUTH, STARTTLS", run: SMTPTargets.frames),
        FuzzTarget(name: "smtp-reply", summary: "server replies as the smtp agent reads them", run: SMTPTargets.replies),
        FuzzTarget(name: "milter-reply", summary: "a milter's packets as smtpd reads them (framing, OPTNEG, actions)", run: SMTPTargets.milterReplies),
        FuzzTarget(name: "sasl", summary: "SASL base64 and the PLAIN/LOGIN client's answers", run: SASLTargets.exchange),
        FuzzTarget(name: "pop3-command", summary: "pop3d byte stream: lines and commands", run: POP3Targets.commands),
        FuzzTarget(name: "imap-command", summary: "imapd byte stream: frames, literals, commands", run: IMAPTargets.commands),
        FuzzTarget(name: "imap-text", summary: "modified UTF-7 mailbox names, IMAP dates", run: IMAPTargets.text),
        FuzzTarget(name: "queue-file", summary: "a queue file's bytes", run: StorageTargets.queueFile),
        FuzzTarget(name: "main-cf", summary: "main.cf text and $name expansion", run: ConfigTargets.mainCF),
        FuzzTarget(name: "master-cf", summary: "master.cf text", run: ConfigTargets.masterCF),
        FuzzTarget(name: "aliases", summary: "aliases file, alias targets, |command arguments", run: ConfigTargets.aliases),
        FuzzTarget(name: "users", summary: "users (passwd-style) file and lookup tables", run: ConfigTargets.users),
        FuzzTarget(name: "address", summary: "address lists, mailbox addresses, xtext", run: MessageTargets.addresses),
        FuzzTarget(name: "mime", summary: "a message: MIME tree, 7-bit downgrade, BODYSTRUCTURE", run: MessageTargets.mime),
        FuzzTarget(name: "dns", summary: "DNS answers: MX, A/AAAA, PTR, TXT", run: DNSTargets.answers),
        FuzzTarget(name: "spf", summary: "SPF records, macros, Received-SPF and Authentication-Results", run: AuthenticationTargets.spf),
        FuzzTarget(name: "dkim", summary: "DKIM signatures, canonicalization whole and in pieces", run: AuthenticationTargets.dkim),
        FuzzTarget(name: "dmarc", summary: "DMARC records, From: domains, the Public Suffix List, A-labels", run: AuthenticationTargets.dmarc),
    ]
}

nonisolated(unsafe) private var selectedTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    let name = getenv("AVIARY_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    if name == "list" {
        for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
        exit(0)
    }
    guard let target = FuzzTarget.all.first(where: { $0.name == name }) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: " ")
        printError("AVIARY_FUZZ_TARGET must name a target (\"\(name)\" does not): \(names)")
        exit(2)
    }
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget?.run(bytes)
    return 0
}

/// Invariants the fuzzer checks beyond "does not crash": a violation traps, and libFuzzer saves the input.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        printError("fuzz invariant violated: \(message())")
        abort()
    }
}

/// Writes a line to standard error (libFuzzer's log).
func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Cuts a byte stream into the pieces a network read might deliver, with sizes drawn from `seed`, so that
/// every decoder also meets lines and literals split at every point.
func pieces(of bytes: ArraySlice<UInt8>, seed: UInt8) -> [ArraySlice<UInt8>] {
    var state = UInt32(seed) &* 2_654_435_761 | 1
    var result: [ArraySlice<UInt8>] = []
    var start = bytes.startIndex
    while start < bytes.endIndex {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        // Mostly small pieces (1...16), sometimes the rest at once.
        let length = state % 8 == 0 ? bytes.endIndex - start : Int(state % 16) + 1
        let end = min(bytes.endIndex, start + length)
        result.append(bytes[start..<end])
        start = end
    }
    return result
}

/// Splits text into lines at LF, dropping a CR before it.
func lines(of bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
        line.last == UInt8(ascii: "\r") ? line.dropLast() : line
    }
}
