// The SMTP command line grammar (RFC 5321 4.1.1), one line at a time, without its CRLF:
//
//     command = verb [ SP arguments ]          ; verb case-insensitive
//     mail    = "MAIL FROM:" Reverse-path [SP Mail-parameters]
//     rcpt    = "RCPT TO:" ( "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]
//     bdat    = "BDAT" SP chunk-size [ SP "LAST" ]       ; RFC 3030
//
// Leniency follows Postfix, because real clients rely on it: blanks (SP or HTAB) may repeat and may follow the colon
// of `FROM:` and `TO:`, addresses may come without angle brackets, leading and trailing blanks are ignored, and
// source routes (`<@a,@b:user@d>`) are dropped. Everything else a malformed command can be is answered with the
// exact reply Postfix gives.

import AviaryMessage
import NIOCore

/// Turns one command line into an ``SMTPCommand``, or into the reply that refuses it.
///
/// A pure function of the line's bytes: the session decides what the command means in its state.
public enum SMTPCommandParser {
    typealias Bytes = ArraySlice<UInt8>

    /// Parses one command line, given without its line ending.
    public static func parse(_ line: ByteBuffer) -> Result<SMTPCommand, SMTPCommandError> {
        parse(line.readableBytesView)
    }

    /// Parses one command line, given without its line ending.
    public static func parse(_ line: some Collection<UInt8>) -> Result<SMTPCommand, SMTPCommandError> {
        do {
            return .success(try parseCommand(Array(line)[...]))
        } catch {
            return .failure(error)
        }
    }

    /// The chunk a `BDAT size [LAST]` line announces, or nil when the line is not a well-formed BDAT command.
    ///
    /// ``SMTPFrameDecoder`` and ``parse(_:)-(ByteBuffer)`` both use this, so a line is read as a chunk announcement
    /// by the framing exactly when the session gets ``SMTPCommand/bdat(size:isLast:)`` for it.
    public static func chunkAnnouncement(_ line: some Collection<UInt8>) -> (size: Int, isLast: Bool)? {
        let words = words(trimmed(Array(line)[...]))
        guard words.count == 2 || words.count == 3, uppercasedASCII(words[0]) == "BDAT" else { return nil }
        // 18 digits always fit in an Int; a longer size could never be received anyway.
        guard (1...18).contains(words[1].count), words[1].allSatisfy(isDigit) else { return nil }
        let size = words[1].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        if words.count == 3 {
            guard uppercasedASCII(words[2]) == "LAST" else { return nil }
            return (size, true)
        }
        return (size, false)
    }

    /// True when a HELO/EHLO argument is a domain name or an address literal, as Postfix's
    /// `reject_invalid_helo_hostname` demands; the parser itself accepts any printable name.
    public static func isValidHeloName(_ name: String) -> Bool {
        MailAddress.isValidDomain(name)
    }

    // MARK: - Commands

    private static func parseCommand(_ line: Bytes) throws(SMTPCommandError) -> SMTPCommand {
        guard String(validating: line, as: UTF8.self) != nil else {
            throw SMTPCommandError(.badUTF8, detail: "command is not valid UTF-8")
        }
        let line = trimmed(line)
        guard !line.isEmpty else {
            throw SMTPCommandError(.badSyntax, detail: "empty command line")
        }
        let verbEnd = line.firstIndex(where: isBlank) ?? line.endIndex
        let verb = uppercasedASCII(line[..<verbEnd])
        let arguments = trimmed(line[verbEnd...])

        switch verb {
        case "HELO", "EHLO":
            guard !arguments.isEmpty, !arguments.contains(where: isControl) else {
                throw SMTPCommandError(.heloSyntax(verb: verb), detail: "bad \(verb) argument: \(printable(arguments))")
            }
            return verb == "HELO" ? .helo(string(arguments)) : .ehlo(string(arguments))
        case "MAIL":
            return try parseMail(arguments)
        case "RCPT":
            return try parseRecipient(arguments)
        case "DATA":
            try requireNoArguments(arguments, usage: .data)
            return .data
        case "BDAT":
            guard let chunk = chunkAnnouncement(line) else {
                throw SMTPCommandError(.bdatSyntax, detail: "malformed BDAT: \(printable(arguments))")
            }
            return .bdat(size: chunk.size, isLast: chunk.isLast)
        case "RSET":
            try requireNoArguments(arguments, usage: .rset)
            return .rset
        case "NOOP":
            return .noop(arguments.isEmpty ? nil : string(arguments))
        case "QUIT":
            return .quit
        case "VRFY", "EXPN":
            let (text, isSMTPUTF8) = splitTrailingSMTPUTF8(arguments)
            guard !text.isEmpty else {
                throw SMTPCommandError(.syntax(verb == "VRFY" ? .vrfy : .expn), detail: "\(verb) without argument")
            }
            if verb == "VRFY" {
                return .vrfy(string(text), isSMTPUTF8: isSMTPUTF8)
            }
            return .expn(string(text), isSMTPUTF8: isSMTPUTF8)
        case "HELP":
            return .help(arguments.isEmpty ? nil : string(arguments))
        case "STARTTLS":
            try requireNoArguments(arguments, usage: .startTLS)
            return .startTLS
        case "AUTH":
            return try parseAuth(arguments)
        default:
            return .unknown(verb: printable(line[..<verbEnd]).uppercased())
        }
    }

    private static func requireNoArguments(_ arguments: Bytes, usage: SMTPReply.Usage) throws(SMTPCommandError) {
        guard arguments.isEmpty else {
            throw SMTPCommandError(.syntax(usage), detail: "unexpected argument: \(printable(arguments))")
        }
    }

    /// `VRFY text [SMTPUTF8]`: RFC 6531 3.7.4 puts the parameter last.
    private static func splitTrailingSMTPUTF8(_ arguments: Bytes) -> (text: Bytes, isSMTPUTF8: Bool) {
        guard let lastBlank = arguments.lastIndex(where: isBlank),
            uppercasedASCII(arguments[arguments.index(after: lastBlank)...]) == "SMTPUTF8"
        else { return (arguments, false) }
        return (trimmed(arguments[..<lastBlank]), true)
    }

    /// auth = "AUTH" SP sasl-mech [SP initial-response]; sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_")
    private static func parseAuth(_ arguments: Bytes) throws(SMTPCommandError) -> SMTPCommand {
        let words = words(arguments)
        guard (1...2).contains(words.count), (1...20).contains(words[0].count),
            words[0].allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else {
            throw SMTPCommandError(.syntax(.auth), detail: "malformed AUTH: \(printable(arguments))")
        }
        return .auth(mechanism: uppercasedASCII(words[0]), initialResponse: words.count == 2 ? string(words[1]) : nil)
    }

    // MARK: - Byte helpers

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    static func isControl(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z"))
    }

    static func trimmed(_ bytes: Bytes) -> Bytes {
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) })
        else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }

    static func words(_ bytes: Bytes) -> [Bytes] {
        bytes.split(whereSeparator: isBlank)
    }

    static func uppercasedASCII(_ bytes: Bytes) -> String {
        String(decoding: bytes.map { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") ? $0 - 32 : $0 }, as: UTF8.self)
    }

    /// The bytes as a string; only called on lines already checked to be UTF-8.
    static func string(_ bytes: Bytes) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Client text made safe for a log line or a reply: control characters become "?".
    static func printable(_ bytes: Bytes) -> String {
        String(decoding: bytes.map { isControl($0) ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }

    static func hasPrefixIgnoringCase(_ bytes: Bytes, _ prefix: String) -> Bool {
        let prefix = Array(prefix.utf8)
        guard bytes.count >= prefix.count else { return false }
        return zip(bytes, prefix).allSatisfy { byte, expected in
            byte == expected || (isAlphanumeric(byte) && byte | 0x20 == expected | 0x20)
        }
    }
}
