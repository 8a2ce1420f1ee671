// The addresses in a To:, Cc: or Bcc: header (RFC 5322 3.4), for sendmail -t:
//
//     address-list = address *("," address)         address = mailbox / group
//     mailbox      = name-addr / addr-spec           name-addr = [display-name] "<" addr-spec ">"
//     group        = display-name ":" [mailbox-list] ";"
//     addr-spec    = local-part "@" domain           (local-part may be a quoted-string)
//
// Comments in parentheses (nested) are dropped, quoted strings and domain literals kept whole, obsolete
// routes in angle brackets (`<@a,@b:user@d>`) dropped. An address without "@" is returned as written, for the
// caller to qualify with @$myorigin. Empty elements (`a, , b`) are skipped, as RFC 5322's obs-addr-list allows.

/// Extracts the addresses of an address-list header value.
public enum AddressList {
    enum Token: Equatable {
        case word(String)  // atom, quoted-string (with its quotes) or domain literal
        case special(Character)
    }

    /// The addr-specs in `value`, in order, without display names, comments or group names.
    public static func addresses(in value: String) -> [String] {
        let tokens = tokenize(value)
        var result: [String] = []
        var current: [Token] = []
        var angle: [Token]?
        func finish() {
            let spec = angle ?? current
            var text = ""
            for token in spec {
                switch token {
                case .word(let word): text += word
                case .special(let character): text.append(character)
                }
            }
            if !text.isEmpty { result.append(text) }
            current = []
            angle = nil
        }
        var insideAngle = false
        for token in tokens {
            if insideAngle {
                switch token {
                case .special(">"):
                    insideAngle = false
                case .special(":"):
                    angle = []  // the end of an obsolete route: what came before was @a,@b
                case .special(","):
                    if angle?.first == .special("@") { angle = [] } else { angle?.append(token) }
                default:
                    angle?.append(token)
                }
                continue
            }
            switch token {
            case .special("<"):
                insideAngle = true
                angle = []
            case .special(","), .special(";"):
                finish()
            case .special(":"):
                current = []  // a group's display name
            default:
                if angle == nil { current.append(token) }
            }
        }
        finish()
        return result
    }

    static func tokenize(_ value: String) -> [Token] {
        var tokens: [Token] = []
        var characters = Array(value)[...]
        var atom = ""
        func flushAtom() {
            if !atom.isEmpty { tokens.append(.word(atom)) }
            atom = ""
        }
        while let character = characters.popFirst() {
            switch character {
            case " ", "\t", "\r", "\n":
                flushAtom()
            case "(":
                flushAtom()
                var depth = 1
                while depth > 0, let inner = characters.popFirst() {
                    if inner == "\\" {
                        _ = characters.popFirst()
                    } else if inner == "(" {
                        depth += 1
                    } else if inner == ")" {
                        depth -= 1
                    }
                }
            case "\"":
                flushAtom()
                var quoted = "\""
                while let inner = characters.popFirst() {
                    quoted.append(inner)
                    if inner == "\\", let escaped = characters.popFirst() {
                        quoted.append(escaped)
                    } else if inner == "\"" {
                        break
                    }
                }
                if !quoted.hasSuffix("\"") || quoted.count == 1 { quoted.append("\"") }
                tokens.append(.word(quoted))
            case "[":
                flushAtom()
                var literal = "["
                while let inner = characters.popFirst() {
                    literal.append(inner)
                    if inner == "]" { break }
                }
                tokens.append(.word(literal))
            case "<", ">", ",", ";", ":", "@", ".":
                flushAtom()
                tokens.append(.special(character))
            default:
                atom.append(character)
            }
        }
        flushAtom()
        return tokens
    }
}
