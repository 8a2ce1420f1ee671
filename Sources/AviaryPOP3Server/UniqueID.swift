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
