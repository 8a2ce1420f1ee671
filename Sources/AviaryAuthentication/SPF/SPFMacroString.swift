// SPF macros (RFC 7208 section 7): a domain-spec or explanation may name parts of the message being checked.
//
//   macro-string = *( macro-expand / macro-literal )
//   macro-expand = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
//   macro-letter = s l o d i p h v, and c r t in explanations only (upper case: URL-escape the expansion)
//   transformers = *DIGIT [ "r" ]         keep the N right-hand parts (N > 0), after reversing with "r"
//   delimiter    = "." / "-" / "+" / "," / "/" / "_" / "="   split on these (default "."), join with "."
//   macro-literal = %x21-24 / %x26-7E     visible characters except "%"

/// A parsed macro-string: literal text and macros, expanded later against one check.
struct SPFMacroString: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case literal(String)
        case macro(Macro)
    }

    struct Macro: Sendable, Equatable {
        var letter: Character
        var isURLEscaped: Bool
        /// How many right-hand parts to keep; nil: all.
        var keep: Int?
        var isReversed: Bool
        var delimiters: Set<Character>
    }

    var parts: [Part] = []

    /// The most parts a transformer keeps that is worth counting: no name has more labels. Larger numbers
    /// (`%{d99999999999999999999}`) mean "all" rather than overflow.
    static let keepLimit = 128

    /// Parses a macro-string; `allowsExplanationLetters` admits c, r and t (exp= text) and spaces.
    init(parsing text: Substring, allowsExplanationLetters: Bool, term: Substring) throws(SPFError) {
        var literal = ""
        var index = text.startIndex
        func fail(_ why: String) -> SPFError { .permanent("\(why): \(term)") }
        while index < text.endIndex {
            let character = text[index]
            index = text.index(after: index)
            guard character == "%" else {
                guard character.isASCII, let value = character.asciiValue,
                    (0x21...0x7E).contains(value) || (allowsExplanationLetters && value == 0x20)
                else { throw fail("invalid character in macro-string") }
                literal.append(character)
                continue
            }
            guard index < text.endIndex else { throw fail("macro-string ends in %") }
            let next = text[index]
            index = text.index(after: index)
            switch next {
            case "%": literal.append("%")
            case "_": literal.append(" ")
            case "-": literal += "%20"
            case "{":
                guard let close = text[index...].firstIndex(of: "}") else { throw fail("unterminated macro") }
                let body = text[index..<close]
                index = text.index(after: close)
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = ""
                parts.append(.macro(try Self.macro(body, allowsExplanationLetters: allowsExplanationLetters, fail)))
            default: throw fail("invalid macro %\(next)")
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
    }

    /// Parses a domain-spec: a macro-string that must end in a macro or in `.toplabel` (RFC 7208 12 `domain-end`),
    /// so that `a:example` or `a:192.0.2.1` are syntax errors rather than look-ups of nonsense.
    init(domainSpec text: Substring, term: Substring) throws(SPFError) {
        try self.init(parsing: text, allowsExplanationLetters: false, term: term)
        guard !parts.isEmpty else { throw .permanent("empty domain-spec: \(term)") }
        if case .literal(var tail) = parts.last! {
            if tail.hasSuffix(".") { tail.removeLast() }
            guard let dot = tail.lastIndex(of: "."), Self.isTopLabel(tail[tail.index(after: dot)...]) else {
                // The literal may follow a macro with no dot of its own (`%{d}foo`): still not a domain-end.
                throw .permanent("domain-spec does not end in a top label or macro: \(term)")
            }
        }
    }

    /// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`
    static func isTopLabel(_ label: Substring) -> Bool {
        guard !label.isEmpty, label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            return false
        }
        if !label.contains("-") { return label.contains { $0.isLetter } }
        return label.first != "-" && label.last != "-"
    }

    private static func macro(
        _ body: Substring, allowsExplanationLetters: Bool, _ fail: (String) -> SPFError
    ) throws(SPFError) -> Macro {
        guard let letter = body.first, letter.isASCII else { throw fail("empty macro") }
        let lower = Character(letter.lowercased())
        guard "slodiphv".contains(lower) || (allowsExplanationLetters && "crt".contains(lower)) else {
            throw fail("macro letter \(letter) not allowed here")
        }
        var rest = body.dropFirst()
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        rest = rest.dropFirst(digits.count)
        var keep: Int?
        if !digits.isEmpty {
            let significant = digits.drop { $0 == "0" }
            guard !significant.isEmpty else { throw fail("macro transformer 0") }
            keep = significant.count > 3 ? keepLimit : min(Int(significant)!, keepLimit)
        }
        var isReversed = false
        if rest.first == "r" || rest.first == "R" {
            isReversed = true
            rest = rest.dropFirst()
        }
        var delimiters: Set<Character> = []
        for character in rest {
            guard ".-+,/_=".contains(character) else { throw fail("invalid macro delimiter \(character)") }
            delimiters.insert(character)
        }
        return Macro(
            letter: lower, isURLEscaped: letter.isUppercase, keep: keep, isReversed: isReversed,
            delimiters: delimiters.isEmpty ? ["."] : delimiters)
    }

    /// Expands the string; `value` gives each letter's text (it may look things up: `p`).
    func expand(_ value: (Character) throws(SPFError) -> String) throws(SPFError) -> String {
        var result = ""
        for part in parts {
            switch part {
            case .literal(let text): result += text
            case .macro(let macro): result += macro.apply(to: try value(macro.letter))
            }
        }
        return result
    }
}

extension SPFMacroString.Macro {
    func apply(to value: String) -> String {
        var pieces = value.split(omittingEmptySubsequences: false) { delimiters.contains($0) }
        if isReversed { pieces.reverse() }
        if let keep, keep < pieces.count { pieces = Array(pieces.suffix(keep)) }
        let joined = pieces.joined(separator: ".")
        return isURLEscaped ? Self.urlEscaped(joined) : joined
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters.
    static func urlEscaped(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var result = ""
        for byte in text.utf8 {
            let character = Character(Unicode.Scalar(byte))
            if byte < 0x80 && (character.isLetter || character.isNumber || "-._~".contains(character)) {
                result.append(character)
            } else {
                result += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return result
    }
}
