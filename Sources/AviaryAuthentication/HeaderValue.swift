/// Pieces of RFC 5322 header syntax that the verdict headers share: they carry text that a client or a DNS
/// publisher chose (an envelope sender, an explanation), so every piece is made safe here, in one place.
enum HeaderValue {
    /// `dot-atom` when the text is one, else a `quoted-string`; controls and 8-bit bytes are dropped, so no
    /// value can end the field or start another.
    static func atomOrQuoted(_ text: String) -> String {
        let clean = visible(text)
        if isDotAtom(clean) { return clean }
        var quoted = "\""
        for character in clean {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "\""
    }

    /// Text for inside a comment: visible ASCII and spaces, without the parentheses and backslashes that would
    /// end or nest it.
    static func commentText(_ text: String) -> String {
        String(visible(text).filter { $0 != "(" && $0 != ")" && $0 != "\\" })
    }

    /// Only printable ASCII and spaces.
    static func visible(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { (0x20...0x7E).contains($0.value) }))
    }

    /// RFC 5322 `dot-atom-text`.
    static func isDotAtom(_ text: String) -> Bool {
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
        let atoms = text.split(separator: ".", omittingEmptySubsequences: false)
        return !text.isEmpty && atoms.allSatisfy { !$0.isEmpty && $0.allSatisfy(atext.contains) }
    }
}
