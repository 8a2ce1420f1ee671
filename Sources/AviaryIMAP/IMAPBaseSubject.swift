import AviaryMessage

// The base subject of RFC 5256 2.1, which SORT SUBJECT and both THREAD algorithms compare:
//   (1) decode RFC 2047 encoded words; tabs and line breaks become spaces, runs of spaces one space;
//   (2) remove trailing subj-trailer ("(fwd)" / WSP), as often as it matches;
//   (3) remove a leading subj-leader: (*subj-blob subj-refwd) / WSP;
//   (4) remove a leading subj-blob when what is left is not empty;
//   (5) repeat (3) and (4) until neither matches;
//   (6) if the text is "[fwd:" ... "]", take what is between and repeat from (2).
//   subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"    subj-blob = "[" *BLOBCHAR "]" *WSP
// Letters are matched without regard to case. Comparison uses i;ascii-casemap, so `key` is the text with
// ASCII letters upper-cased.

/// A message's base subject (RFC 5256 2.1), and whether taking it removed a reply or forward marker.
public struct IMAPBaseSubject: Sendable, Hashable {
    /// The base subject, UTF-8 (case as written).
    public var text: String
    /// Extraction removed `Re:`, `Fw:`, `Fwd:`, `(fwd)` or `[fwd: ...]`: THREAD takes the message as a reply.
    public var isReplyOrForward: Bool
    /// `text` with ASCII letters upper-cased: what SORT and THREAD compare (i;ascii-casemap).
    public var key: [UInt8]

    /// The base subject of a `Subject:` field's unfolded value (encoded words not yet decoded).
    public init(_ subject: String) {
        let raw = Array(subject.utf8)
        // Most subjects have no encoded word; they are not copied through the decoder.
        let hasEncodedWord = zip(raw, raw.dropFirst()).contains { $0 == UInt8(ascii: "=") && $1 == UInt8(ascii: "?") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        for byte in hasEncodedWord ? Array(MIMEEncodedWords.decode(raw).utf8) : raw {
            let byte = byte == 9 || byte == 10 || byte == 13 ? 32 : byte
            if byte == 32 && bytes.last == 32 { continue }
            bytes.append(byte)
        }
        var text = bytes[...]
        var isReply = false
        while true {
            Self.removeTrailers(&text, &isReply)
            Self.removeLeaders(&text, &isReply)
            // Step 6: a "[fwd: ...]" wrapper.
            guard text.count >= 6, Self.hasPrefix(text, "[fwd:"), text.last == UInt8(ascii: "]") else { break }
            text = text.dropFirst(5).dropLast()
            isReply = true
        }
        self.text = String(decoding: text, as: UTF8.self)
        self.isReplyOrForward = isReply
        self.key = text.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }
    }

    /// Step 2: subj-trailer = "(fwd)" / WSP, removed as often as it matches.
    private static func removeTrailers(_ text: inout ArraySlice<UInt8>, _ isReply: inout Bool) {
        while let last = text.last {
            if last == 32 {
                text = text.dropLast()
            } else if text.count >= 5, hasPrefix(text.suffix(5), "(fwd)") {
                text = text.dropLast(5)
                isReply = true
            } else {
                return
            }
        }
    }

    /// Steps 3 to 5.
    private static func removeLeaders(_ text: inout ArraySlice<UInt8>, _ isReply: inout Bool) {
        while true {
            var changed = false
            if text.first == 32 {
                text = text.dropFirst()
                changed = true
            } else if let length = leaderLength(text) {
                text = text.dropFirst(length)
                isReply = true
                changed = true
            }
            if let length = blobLength(text), length < text.count {
                text = text.dropFirst(length)
                changed = true
            }
            if !changed { return }
        }
    }

    /// The length of `*subj-blob subj-refwd` at the start of `text`, nil when it does not match.
    private static func leaderLength(_ text: ArraySlice<UInt8>) -> Int? {
        var index = text.startIndex
        while let length = blobLength(text[index...]) { index += length }
        let rest = text[index...]
        for marker in ["fwd", "fw", "re"] where hasPrefix(rest, marker) {
            var cursor = index + marker.utf8.count
            while cursor < text.endIndex, text[cursor] == 32 { cursor += 1 }
            if let length = blobLength(text[cursor...]) { cursor += length }
            if cursor < text.endIndex, text[cursor] == UInt8(ascii: ":") { return cursor + 1 - text.startIndex }
        }
        return nil
    }

    /// The length of `"[" *BLOBCHAR "]" *WSP` at the start of `text`, nil when it does not match.
    private static func blobLength(_ text: ArraySlice<UInt8>) -> Int? {
        guard text.first == UInt8(ascii: "[") else { return nil }
        var cursor = text.startIndex + 1
        while cursor < text.endIndex, text[cursor] != UInt8(ascii: "["), text[cursor] != UInt8(ascii: "]") {
            cursor += 1
        }
        guard cursor < text.endIndex, text[cursor] == UInt8(ascii: "]") else { return nil }
        cursor += 1
        while cursor < text.endIndex, text[cursor] == 32 { cursor += 1 }
        return cursor - text.startIndex
    }

    /// Whether `text` starts with `prefix` (lower-case ASCII), letters compared without regard to case.
    private static func hasPrefix(_ text: ArraySlice<UInt8>, _ prefix: String) -> Bool {
        let prefix = prefix.utf8
        guard text.count >= prefix.count else { return false }
        return zip(text, prefix).allSatisfy { byte, expected in
            (byte >= 65 && byte <= 90 ? byte + 32 : byte) == expected
        }
    }
}
