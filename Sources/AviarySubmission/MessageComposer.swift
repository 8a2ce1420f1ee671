/// Turns what a local program submits into the message that goes into the queue file: lines end CR LF
/// whatever they ended with, the header section is handed to the caller once complete (its fields, CR LF line
/// ends, no empty line: `HeaderEditor` removes Bcc:, finds -t recipients and adds what is missing) and the body
/// streams through.
///
/// - A line ends at LF; a CR right before it is dropped, other CRs are kept.
/// - The header section ends at an empty line, or at the first line that is neither a header field nor a
///   continuation line (then an empty line is put in front of it, as Postfix's cleanup does), or after 1 MiB
///   of header text (the rest is body).
/// - With `dotEndsMessage` (sendmail without -i) a line with a single "." ends the message.
/// - With `skipsFromLine` a first line that starts with "From " (an mbox separator) is dropped.
public final class MessageComposer {
    public struct Options: Sendable {
        public var dotEndsMessage = false
        public var skipsFromLine = false
        /// The most message bytes (0: no limit); more throws `.dataError`.
        public var sizeLimit = 0
        public init() {}
    }

    public static let headerSectionLimit = 1 << 20

    let options: Options
    /// Called once with the header fields as bytes; returns the header section to write (fields and the empty
    /// line).
    let completeHeaders: ([UInt8]) throws -> [UInt8]
    /// Receives the message bytes.
    let write: ([UInt8]) throws -> Void

    private var partial: [UInt8] = []
    private var isInHeaders = true
    /// The header fields so far, each line with CR LF.
    private var header: [UInt8] = []
    private var hasField = false
    private var isFirstLine = true
    /// The next line handled is the rest of a long line already written in part.
    private var continuesLine = false
    /// Bytes written so far.
    public private(set) var messageSize = 0
    /// Whether the message has ended (a "." line, or `finish`).
    public private(set) var isFinished = false

    public init(
        options: Options,
        completeHeaders: @escaping ([UInt8]) throws -> [UInt8],
        write: @escaping ([UInt8]) throws -> Void
    ) {
        self.options = options
        self.completeHeaders = completeHeaders
        self.write = write
    }

    /// Takes the next bytes. Returns true when a "." line ended the message (the rest is to be ignored).
    @discardableResult
    public func consume(_ bytes: some Collection<UInt8>) throws -> Bool {
        guard !isFinished else { return true }
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index] == 10 {
                partial += bytes[start..<index]
                var line = partial
                partial = []
                if line.last == 13 { line.removeLast() }
                try handle(line)
                if isFinished { return true }
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        partial += bytes[start..<bytes.endIndex]
        if isInHeaders && partial.count > Self.headerSectionLimit {
            // A header "line" without end: give up on headers, the rest is body.
            try endHeaders()
        }
        if !isInHeaders && partial.count >= 65536 {
            // A very long body line goes out in pieces; a CR at the end may be the first half of CR LF.
            let keep = partial.last == 13 ? 1 : 0
            try emit(Array(partial.dropLast(keep)))
            partial = Array(partial.suffix(keep))
            continuesLine = true
        }
        return false
    }

    /// The input has ended: writes what is left (a last line without LF gets CR LF).
    public func finish() throws {
        guard !isFinished else { return }
        if !partial.isEmpty {
            var line = partial
            partial = []
            if line.last == 13 { line.removeLast() }
            try handle(line)
        }
        if isInHeaders { try endHeaders() }
        isFinished = true
    }

    private func handle(_ line: [UInt8]) throws {
        defer { isFirstLine = false }
        if continuesLine {
            continuesLine = false
            try emit(line + [13, 10])
            return
        }
        if isFirstLine && options.skipsFromLine && line.starts(with: Array("From ".utf8)) { return }
        if options.dotEndsMessage && line == [UInt8(ascii: ".")] {
            if isInHeaders { try endHeaders() }
            isFinished = true
            return
        }
        if isInHeaders {
            if line.isEmpty {
                try endHeaders()
                return
            }
            if (line.first == 32 || line.first == 9) && hasField {
                header += line + [13, 10]
                if header.count <= Self.headerSectionLimit { return }
                try endHeaders()
                return
            }
            if Self.isFieldLine(line), header.count + line.count + 2 <= Self.headerSectionLimit {
                header += line + [13, 10]
                hasField = true
                return
            }
            try endHeaders()
        }
        try emit(line + [13, 10])
    }

    private func endHeaders() throws {
        guard isInHeaders else { return }
        isInHeaders = false
        try emit(try completeHeaders(header))
        header = []
    }

    private func emit(_ bytes: [UInt8]) throws {
        messageSize += bytes.count
        if options.sizeLimit > 0 && messageSize > options.sizeLimit {
            throw SubmissionError(
                .dataError,
                "message size exceeds fixed limit (message_size_limit = \(options.sizeLimit))"
            )
        }
        try write(bytes)
    }

    /// Whether a line starts a header field (`Name:` with printable ASCII, blanks allowed before the colon), the
    /// rule `MIMEHeaderSection` reads the section back with.
    static func isFieldLine(_ line: [UInt8]) -> Bool {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        var end = colon
        while end > 0 && (line[end - 1] == 32 || line[end - 1] == 9) { end -= 1 }
        let name = line[..<end]
        return !name.isEmpty && name.allSatisfy { $0 >= 33 && $0 <= 126 }
    }
}
