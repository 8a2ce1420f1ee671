import AviaryMailbox

/// UIDL values (RFC 1939 7: 1 to 70 characters from 0x21 to 0x7E, the same for a message in every session).
/// The schemes are described at the top of `Maildrop.swift`.
enum UniqueID {
    /// The Maildir base name, or its hash when the name is not a valid unique-id (too long, odd bytes).
    static func maildir(_ name: MaildirFileName) -> String {
        let base = String(name.baseName)
        return isValid(base) ? base : hex(fnv1a(Array(name.uniqueName.utf8)))
    }

    /// `X-UIDL:` when the message has a valid one, otherwise the hash of its From line and stable headers.
    static func mbox(_ entry: MboxEntry, in bytes: [UInt8]) -> String {
        var hash = fnv1a(bytes[entry.fromLine])
        var lineStart = entry.content.lowerBound
        var isIgnoredField = false
        while lineStart < entry.content.upperBound {
            let lineEnd =
                bytes[lineStart..<entry.content.upperBound].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }
                ?? entry.content.upperBound
            let line = bytes[lineStart..<lineEnd]
            if line.first == UInt8(ascii: "\n") || line.elementsEqual([13, 10]) { break }  // end of the header
            let isContinuation = line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t")
            if !isContinuation {
                let name = fieldName(line)
                if name == "x-uidl", let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                    let value = String(decoding: trimmed(line[(colon + 1)...]), as: UTF8.self)
                    if isValid(value) { return value }
                }
                isIgnoredField = rewrittenFields.contains(name)
            }
            if !isIgnoredField { hash = fnv1a(line, startingWith: hash) }
            lineStart = lineEnd
        }
        return hex(hash)
    }

    /// `uid`, or `uid-2`, `uid-3`... when an earlier message of the same maildrop already has it.
    static func unique(_ uid: String, seen: inout [String: Int]) -> String {
        let count = (seen[uid] ?? 0) + 1
        seen[uid] = count
        return count == 1 ? uid : "\(uid)-\(count)"
    }

    static func isValid(_ uid: String) -> Bool {
        (1...70).contains(uid.utf8.count) && uid.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Header fields that mail readers add or rewrite in an mbox, and that therefore must not change a UIDL.
    private static let rewrittenFields: Set<String> = [
        "status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase", "content-length", "lines",
    ]

    private static func fieldName(_ line: ArraySlice<UInt8>) -> String {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return "" }
        return String(decoding: trimmed(line[..<colon]), as: UTF8.self).lowercased()
    }

    /// Without leading and trailing spaces, tabs, CRs and LFs.
    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        var result = bytes.drop { isSpace($0) }
        while let last = result.last, isSpace(last) { result = result.dropLast() }
        return result
    }

    /// 64-bit FNV-1a: small, stable across versions and platforms (unlike `Hasher`, which is seeded per process).
    static func fnv1a(_ bytes: some Sequence<UInt8>, startingWith hash: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = hash
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// `pop3d_uidl_format`: how a Maildir message's UIDL is made, in Dovecot's `pop3_uidl_format` notation, so
/// that a mailbox moved from Dovecot (whose dovecot-uidlist Aviary keeps) gives its POP3 clients the same
/// UIDLs and they download nothing again.
///
///     %f     the file's base name (Aviary's default: it does not depend on the uidlist)
///     %u     the message's IMAP UID          %v   the mailbox's UIDVALIDITY
///     %08Xu  modifiers as in Dovecot: 0 and a width pad with zeros (a width alone keeps that many
///            characters), X gives hex (lower-case, as Dovecot writes it: checked against Dovecot 2.3)
///     %%     a percent sign; any other character 0x21-0x7E stands for itself
/// Dovecot's default is `%08Xu%08Xv`.
struct UIDLFormat: Sendable, Equatable {
    enum Number: Sendable, Equatable {
        case uid, uidValidity
    }

    enum Piece: Sendable, Equatable {
        case text(String)
        case fileName
        case number(Number, width: Int, zeroPadded: Bool, hex: Bool)
    }

    let pieces: [Piece]
    static let fileName = UIDLFormat(pieces: [.fileName])

    /// Whether it needs IMAP UIDs (then the session synchronizes dovecot-uidlist at login, as IMAP's SELECT does).
    var needsUIDs: Bool {
        pieces.contains { if case .number = $0 { true } else { false } }
    }

    private init(pieces: [Piece]) { self.pieces = pieces }

    /// nil when `text` is not a format this understands (unknown variable, a character outside 0x21-0x7E).
    init?(_ text: String) {
        var pieces: [Piece] = []
        var literal = ""
        func append(_ piece: Piece) {
            if !literal.isEmpty { pieces.append(.text(literal)) }
            literal = ""
            pieces.append(piece)
        }
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard (0x21...0x7E).contains(scalar.value) else { return nil }
            guard scalar == "%" else {
                literal.unicodeScalars.append(scalar)
                continue
            }
            var width = 0
            var zeroPadded = false
            var hex = false
            var next = scalars.next()
            if next == "0" {
                zeroPadded = true
                next = scalars.next()
            }
            while let digit = next, let value = Int(String(digit)), width < 70 {
                width = width * 10 + value
                next = scalars.next()
            }
            if next == "X" {
                hex = true
                next = scalars.next()
            }
            let plain = width == 0 && !hex && !zeroPadded
            switch next {
            case "%" where plain: literal += "%"
            case "f" where plain: append(.fileName)
            case "u": append(.number(.uid, width: width, zeroPadded: zeroPadded, hex: hex))
            case "v": append(.number(.uidValidity, width: width, zeroPadded: zeroPadded, hex: hex))
            default: return nil
            }
        }
        if !literal.isEmpty { pieces.append(.text(literal)) }
        guard !pieces.isEmpty else { return nil }
        self.pieces = pieces
    }

    /// The UIDL of one message (before `UniqueID.unique` and the validity check).
    func render(name: MaildirFileName, uid: UInt32, uidValidity: UInt32) -> String {
        var text = ""
        for piece in pieces {
            switch piece {
            case .text(let literal): text += literal
            case .fileName: text += UniqueID.maildir(name)
            case .number(let number, let width, let zeroPadded, let hex):
                text += Self.format(number == .uid ? uid : uidValidity, width, zeroPadded, hex)
            }
        }
        return text
    }

    /// As Dovecot's var_expand: a width after `0` pads with zeros, a width without it keeps that many characters.
    private static func format(_ value: UInt32, _ width: Int, _ zeroPadded: Bool, _ hex: Bool) -> String {
        let digits = hex ? String(value, radix: 16) : String(value)
        guard width > 0 else { return digits }
        if zeroPadded {
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return String(digits.prefix(width))
    }
}
