// The addresses in a From:, Sender:, Reply-To:, To:, Cc: or Bcc: header (RFC 5322 3.4), for sendmail -t and
// for IMAP's ENVELOPE:
//
//     address-list = address *("," address)         address = mailbox / group
//     mailbox      = name-addr / addr-spec           name-addr = [display-name] "<" addr-spec ">"
//     group        = display-name ":" [mailbox-list] ";"
//     addr-spec    = local-part "@" domain           (local-part may be a quoted-string)
//     obs-angle-addr = "<" obs-route addr-spec ">"   obs-route = "@" domain *("," "@" domain) ":"
//
// Works on bytes, so 8-bit header text comes back as it was written. Lenient: comments in parentheses (nested)
// are dropped (a mailbox without display name takes its last comment as its name, as Dovecot does), quoted
// strings and domain literals are kept whole, an address without "@" has no domain, empty elements (`a, , b`)
// are skipped as RFC 5322's obs-addr-list allows, a group without ";" ends at the end of the value.

/// Parses address-list header values.
public enum AddressList {
    /// One mailbox: `Name <local@domain>` or `local@domain`.
    public struct Mailbox: Sendable, Hashable {
        /// The display name with quotes and escapes removed, words joined as written; `nil` when absent.
        public var displayName: [UInt8]?
        /// The obsolete source route without its colon (`@a,@b`), `nil` when absent.
        public var route: [UInt8]?
        /// The local part, a quoted-string unquoted.
        public var localPart: [UInt8]
        /// The domain; `nil` when the address has no "@".
        public var domain: [UInt8]?
        /// The addr-spec as written, without white space or comments (a quoted local part keeps its quotes).
        public var addrSpec: String

        public init(displayName: [UInt8]?, route: [UInt8]?, localPart: [UInt8], domain: [UInt8]?, addrSpec: String) {
            self.displayName = displayName
            self.route = route
            self.localPart = localPart
            self.domain = domain
            self.addrSpec = addrSpec
        }
    }

    /// An address: a mailbox, or a named group of mailboxes.
    public enum Address: Sendable, Hashable {
        case mailbox(Mailbox)
        case group(name: [UInt8], members: [Mailbox])
    }

    /// The addr-specs in `value`, in order, without display names, comments or group names.
    public static func addresses(in value: String) -> [String] {
        parse(Array(value.utf8)).flatMap { address -> [String] in
            switch address {
            case .mailbox(let mailbox): return [mailbox.addrSpec]
            case .group(_, let members): return members.map(\.addrSpec)
            }
        }
    }

    /// The addresses and groups in `value`, in order.
    public static func parse(_ value: String) -> [Address] { parse(Array(value.utf8)) }

    /// The addresses and groups in `value` (a header field's value, folded or not), in order.
    public static func parse(_ value: [UInt8]) -> [Address] {
        var parser = Parser(tokens: tokenize(value))
        return parser.run()
    }

    enum Token: Equatable {
        /// An atom, or a quoted string (unquoted, `isQuoted`), or a domain literal (with its brackets).
        case word([UInt8], isQuoted: Bool, spaceBefore: Bool)
        case special(UInt8)
        case comment([UInt8])
    }

    private struct Parser {
        let tokens: [Token]
        var result: [Address] = []
        /// Tokens of the address being read, before any "<".
        var phrase: [Token] = []
        /// Inside "<...>": tokens so far; after ">": the addr-spec tokens.
        var angle: [Token]?
        var route: [Token]?
        var isInsideAngle = false
        var group: (name: [UInt8], members: [Mailbox])?

        init(tokens: [Token]) { self.tokens = tokens }

        mutating func run() -> [Address] {
            for token in tokens {
                if isInsideAngle {
                    switch token {
                    case .special(UInt8(ascii: ">")): isInsideAngle = false
                    case .special(UInt8(ascii: ":")):
                        // The end of an obsolete route: what came before was @a,@b.
                        route = angle
                        angle = []
                    case .comment: break
                    default: angle?.append(token)
                    }
                    continue
                }
                switch token {
                case .special(UInt8(ascii: "<")):
                    isInsideAngle = true
                    angle = []
                    route = nil
                case .special(UInt8(ascii: ",")):
                    finishMailbox()
                case .special(UInt8(ascii: ";")):
                    finishMailbox()
                    finishGroup()
                case .special(UInt8(ascii: ":")) where group == nil && angle == nil:
                    group = (Self.phraseText(phrase) ?? [], [])
                    phrase = []
                default:
                    if angle == nil { phrase.append(token) }
                }
            }
            finishMailbox()
            finishGroup()
            return result
        }

        private mutating func finishGroup() {
            guard let group else { return }
            result.append(.group(name: group.name, members: group.members))
            self.group = nil
        }

        private mutating func finishMailbox() {
            defer {
                phrase = []
                angle = nil
                route = nil
                isInsideAngle = false
            }
            let mailbox: Mailbox?
            if let angle {
                mailbox = Self.mailbox(angle, displayName: Self.phraseText(phrase), route: route)
            } else {
                let comment = phrase.reduce(nil as [UInt8]?) { last, token in
                    if case .comment(let text) = token { return text }
                    return last
                }
                mailbox = Self.mailbox(phrase, displayName: comment.flatMap { $0.isEmpty ? nil : $0 }, route: nil)
            }
            guard let mailbox else { return }
            if group != nil { group?.members.append(mailbox) } else { result.append(.mailbox(mailbox)) }
        }

        /// An addr-spec from its tokens: the last "@" outside quotes splits local part and domain.
        private static func mailbox(_ tokens: [Token], displayName: [UInt8]?, route: [Token]?) -> Mailbox? {
            var spec: [UInt8] = []
            var local: [UInt8] = []
            var domain: [UInt8]? = nil
            for token in tokens {
                switch token {
                case .word(let word, let isQuoted, _):
                    spec += isQuoted ? quoted(word) : word
                    if domain != nil { domain! += word } else { local += word }
                case .special(let byte):
                    spec.append(byte)
                    if byte == UInt8(ascii: "@") {
                        if let previous = domain { local += [UInt8(ascii: "@")] + previous }
                        domain = []
                    } else if domain != nil {
                        domain!.append(byte)
                    } else {
                        local.append(byte)
                    }
                case .comment: break
                }
            }
            guard !spec.isEmpty else { return nil }
            var routeText: [UInt8]? = nil
            if let route {
                var text: [UInt8] = []
                for token in route {
                    switch token {
                    case .word(let word, _, _): text += word
                    case .special(let byte): text.append(byte)
                    case .comment: break
                    }
                }
                if !text.isEmpty { routeText = text }
            }
            return Mailbox(
                displayName: displayName, route: routeText, localPart: local, domain: domain,
                addrSpec: String(decoding: spec, as: UTF8.self))
        }

        /// A quoted string again, for the addr-spec as written.
        private static func quoted(_ text: [UInt8]) -> [UInt8] {
            var result: [UInt8] = [UInt8(ascii: "\"")]
            for byte in text {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { result.append(UInt8(ascii: "\\")) }
                result.append(byte)
            }
            return result + [UInt8(ascii: "\"")]
        }

        /// A display name: words (quoted strings unquoted) and specials, a space where the value had white space.
        private static func phraseText(_ tokens: [Token]) -> [UInt8]? {
            var text: [UInt8] = []
            for token in tokens {
                switch token {
                case .word(let word, _, let spaceBefore):
                    if spaceBefore && !text.isEmpty { text.append(32) }
                    text += word
                case .special(let byte): text.append(byte)
                case .comment: break
                }
            }
            return text.isEmpty ? nil : text
        }
    }

    static func tokenize(_ value: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        var atom: [UInt8] = []
        var atomSpace = false
        var sawSpace = false
        func flushAtom() {
            if !atom.isEmpty {
                tokens.append(.word(atom, isQuoted: false, spaceBefore: atomSpace))
                sawSpace = false
            }
            atom = []
        }
        while index < value.count {
            let byte = value[index]
            index += 1
            switch byte {
            case 32, 9, 13, 10:
                flushAtom()
                sawSpace = true
            case UInt8(ascii: "("):
                flushAtom()
                var depth = 1
                var text: [UInt8] = []
                while depth > 0, index < value.count {
                    let inner = value[index]
                    index += 1
                    if inner == UInt8(ascii: "\\"), index < value.count {
                        text.append(value[index])
                        index += 1
                        continue
                    }
                    if inner == UInt8(ascii: "(") { depth += 1 }
                    if inner == UInt8(ascii: ")") { depth -= 1 }
                    if depth > 0 { text.append(inner) }
                }
                tokens.append(.comment(text))
                sawSpace = true
            case UInt8(ascii: "\""):
                flushAtom()
                var text: [UInt8] = []
                while index < value.count {
                    let inner = value[index]
                    index += 1
                    if inner == UInt8(ascii: "\\"), index < value.count {
                        text.append(value[index])
                        index += 1
                    } else if inner == UInt8(ascii: "\"") {
                        break
                    } else if inner != 13 && inner != 10 {
                        text.append(inner)
                    }
                }
                tokens.append(.word(text, isQuoted: true, spaceBefore: sawSpace))
                sawSpace = false
            case UInt8(ascii: "["):
                flushAtom()
                var literal: [UInt8] = [byte]
                while index < value.count {
                    let inner = value[index]
                    index += 1
                    literal.append(inner)
                    if inner == UInt8(ascii: "]") { break }
                }
                tokens.append(.word(literal, isQuoted: false, spaceBefore: sawSpace))
                sawSpace = false
            case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"),
                UInt8(ascii: "@"), UInt8(ascii: "."):
                flushAtom()
                tokens.append(.special(byte))
                sawSpace = false
            default:
                if atom.isEmpty { atomSpace = sawSpace }
                atom.append(byte)
            }
        }
        flushAtom()
        return tokens
    }
}
