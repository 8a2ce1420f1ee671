// The MIME structure of a message (RFC 2045, RFC 2046) as ranges of the message's bytes: nothing is copied.
//
//     entity    = header section, optional empty line, body
//     multipart = preamble, ("--" boundary LWSP line-end part)*, "--" boundary "--" LWSP, epilogue
//                 (the line end before each delimiter line belongs to the delimiter, RFC 2046 5.1.1)
//     message/rfc822, message/global: the body is an entity itself
//
// Lenient and total, as IMAP servers must be with whatever is in a mailbox: any input gives a tree.
// - No empty line: the header section ends at the first line that is neither a field nor a continuation.
// - A missing or unparsable Content-Type means text/plain; charset=us-ascii (message/rfc822 inside
//   multipart/digest); a multipart without boundary or without any delimiter line has no parts; a multipart
//   without its close delimiter ends at the end of its body.
// - A multipart or message labelled with an encoding other than 7bit, 8bit or binary is not looked into.
// - Limits (`MIMELimits`) bound nesting, the number of entities and the header bytes whose fields are kept;
//   past a limit an entity is an opaque leaf. Each nesting level reads its body once, so the work is linear in
//   the message size times the depth limit.
// - LF and CR LF line ends are both understood; NUL and 8-bit bytes are just bytes.

/// Limits on what `MIMEParser` builds out of untrusted input (CVE-2020-12100, CVE-2024-23185 for what
/// happens without them).
public struct MIMELimits: Sendable, Equatable {
    /// How deep multiparts and encapsulated messages nest; an entity at this depth is a leaf.
    public var depth: Int
    /// How many entities a tree has at most; later parts of a multipart are left out.
    public var parts: Int
    /// How many bytes of each header section are read into fields; the rest is still header, unread.
    public var headerBytes: Int

    public init(depth: Int = 20, parts: Int = 10_000, headerBytes: Int = 256 * 1024) {
        self.depth = depth
        self.parts = parts
        self.headerBytes = headerBytes
    }
}

/// One MIME entity: a message, a body part, or the message inside a message/rfc822 part.
public struct MIMEEntity: Sendable {
    /// The whole entity in the input bytes.
    public var range: Range<Int>
    /// The entity's header fields.
    public var header: MIMEHeaderSection
    /// The Content-Type, defaulted per RFC 2045 5.2 and RFC 2046 5.1.5 when absent or unparsable.
    public var contentType: MIMEContentType
    /// Whether a Content-Type field was present and parsed.
    public var hasExplicitContentType: Bool
    /// The Content-Transfer-Encoding token, lowercased; `7bit` when absent.
    public var transferEncoding: String
    /// The parts of a multipart, in order.
    public var children: [MIMEEntity]
    /// Nesting depth: 0 for the message.
    public var depth: Int
    /// Whether a limit stopped the parser inside this entity (parts left out, or not looked into).
    public var isTruncated: Bool
    /// The delimiter lines of a multipart (line ends included, and the line end before each, which belongs
    /// to it), the close delimiter last when there is one.
    public var delimiters: [Range<Int>]
    /// Whether a multipart ended with a close delimiter.
    public var isTerminated: Bool

    private var encapsulated: [MIMEEntity]

    /// The header section, including the empty line after it when there is one.
    public var headerRange: Range<Int> { range.lowerBound..<header.bodyStart }
    public var bodyRange: Range<Int> { header.bodyStart..<range.upperBound }

    /// The embedded message of a message/rfc822 or message/global part.
    public var message: MIMEEntity? {
        get { encapsulated.first }
        set { encapsulated = newValue.map { [$0] } ?? [] }
    }

    /// The first field named `name` (any case), unfolded and trimmed.
    public func header(_ name: String, in bytes: [UInt8]) -> String? { header.value(name, in: bytes) }

    /// Every field named `name` (any case), unfolded and trimmed.
    public func headers(_ name: String, in bytes: [UInt8]) -> [String] { header.values(name, in: bytes) }

    /// The body's line count: its LF characters (what IMAP's body-fld-lines counts).
    public func bodyLineCount(in bytes: [UInt8]) -> Int {
        var count = 0
        for byte in bytes[bodyRange] where byte == 10 { count += 1 }
        return count
    }

    init(range: Range<Int>, header: MIMEHeaderSection, contentType: MIMEContentType, hasExplicitContentType: Bool,
         transferEncoding: String, depth: Int) {
        self.range = range
        self.header = header
        self.contentType = contentType
        self.hasExplicitContentType = hasExplicitContentType
        self.transferEncoding = transferEncoding
        self.depth = depth
        children = []
        isTruncated = false
        delimiters = []
        isTerminated = false
        encapsulated = []
    }

    /// 7bit, 8bit or binary: the only encodings a composite may have (RFC 2045 6.4).
    public var hasIdentityEncoding: Bool { ["7bit", "8bit", "binary"].contains(transferEncoding) }
}

/// Builds the `MIMEEntity` tree of a message.
public enum MIMEParser {
    /// The tree of `bytes` (a whole message, LF or CR LF line ends).
    public static func parse(_ bytes: [UInt8], limits: MIMELimits = .init()) -> MIMEEntity {
        entity(bytes, 0..<bytes.count, depth: 0, defaultType: .plainText, limits: limits)
    }

    /// The entity at `range` of `bytes`, read as `parse` reads one at `depth` whose Content-Type defaults to
    /// `defaultType` (the limits count from this entity).
    static func entity(
        _ bytes: [UInt8],
        _ range: Range<Int>,
        depth: Int,
        defaultType: MIMEContentType,
        limits: MIMELimits
    ) -> MIMEEntity {
        var state = State(bytes: bytes, limits: limits)
        return state.entity(range, depth: depth, defaultType: defaultType)
    }

    /// `8bit (comment)` → `8bit`.
    static func encodingToken(_ value: String) -> String {
        let token = value.prefix { $0 != " " && $0 != "\t" && $0 != ";" && $0 != "(" }
        return token.isEmpty ? "7bit" : token.lowercased()
    }

    private struct State {
        let bytes: [UInt8]
        let limits: MIMELimits
        var count = 0

        mutating func entity(_ range: Range<Int>, depth: Int, defaultType: MIMEContentType) -> MIMEEntity {
            count += 1
            let header = MIMEHeaderSection(bytes, range, fieldLimit: limits.headerBytes)
            let parsed = header.value("content-type", in: bytes).flatMap(MIMEContentType.init(parsing:))
            let encoding = header.value("content-transfer-encoding", in: bytes).map(MIMEParser.encodingToken) ?? "7bit"
            var entity = MIMEEntity(
                range: range, header: header, contentType: parsed ?? defaultType, hasExplicitContentType: parsed != nil,
                transferEncoding: encoding, depth: depth)
            let type = entity.contentType
            guard (type.isMultipart || type.isEncapsulatedMessage) && entity.hasIdentityEncoding else { return entity }
            guard depth < limits.depth, count < limits.parts else {
                entity.isTruncated = true
                return entity
            }
            if type.isEncapsulatedMessage {
                entity.message = self.entity(entity.bodyRange, depth: depth + 1, defaultType: .plainText)
                return entity
            }
            guard let boundary = type.boundary else { return entity }
            let (delimiters, isTerminated) = delimiterLines(Array(boundary.utf8), in: entity.bodyRange)
            entity.delimiters = delimiters
            entity.isTerminated = isTerminated
            let partType: MIMEContentType = type.subtype == "digest" ? .rfc822 : .plainText
            let openCount = isTerminated ? delimiters.count - 1 : delimiters.count
            for index in 0..<openCount {
                guard count < limits.parts else {
                    entity.isTruncated = true
                    break
                }
                let end = index + 1 < delimiters.count ? delimiters[index + 1].lowerBound : range.upperBound
                let start = min(delimiters[index].upperBound, end)
                entity.children.append(self.entity(start..<end, depth: depth + 1, defaultType: partType))
            }
            return entity
        }

        /// The delimiter lines of a multipart body (RFC 2046 5.1.1): `--boundary` plus optional white space, or
        /// `--boundary--` (the close delimiter, the last one looked for). Each range starts at the line end before
        /// the line (when there is one inside the body) and ends after the line's own line end.
        private func delimiterLines(_ boundary: [UInt8], in body: Range<Int>) -> ([Range<Int>], Bool) {
            var delimiters: [Range<Int>] = []
            var start = body.lowerBound
            while start < body.upperBound {
                let next = bytes[start..<body.upperBound].firstIndex(of: 10).map { $0 + 1 } ?? body.upperBound
                if let isClose = MIMEParser.delimiterKind(bytes[MIMEHeaderSection.content(bytes, start..<next)], boundary) {
                    var lower = start
                    if lower > body.lowerBound, bytes[lower - 1] == 10 {
                        lower -= 1
                        if lower > body.lowerBound, bytes[lower - 1] == 13 { lower -= 1 }
                    }
                    // An empty part before it keeps its line end: "--b\r\n--b" is a delimiter, an empty part, a delimiter.
                    if let previous = delimiters.last, lower < previous.upperBound { lower = start }
                    delimiters.append(lower..<next)
                    if isClose { return (delimiters, true) }
                }
                start = next
            }
            return (delimiters, false)
        }
    }

    /// `nil` for a line that is no delimiter, `true` for a close delimiter.
    static func delimiterKind(_ line: ArraySlice<UInt8>, _ boundary: [UInt8]) -> Bool? {
        guard line.count >= boundary.count + 2, line.first == 45, line[line.startIndex + 1] == 45 else { return nil }
        let boundaryEnd = line.startIndex + 2 + boundary.count
        guard line[(line.startIndex + 2)..<boundaryEnd].elementsEqual(boundary) else { return nil }
        var rest = line[boundaryEnd...]
        var isClose = false
        if rest.starts(with: [45, 45]) {
            isClose = true
            rest = rest.dropFirst(2)
        }
        return rest.allSatisfy { $0 == 32 || $0 == 9 } ? isClose : nil
    }
}
