// MAIL FROM and RCPT TO: the path and its ESMTP parameters (RFC 5321 4.1.2).
//
//     Reverse-path   = Path / "<>"
//     Forward-path   = Path
//     Path           = "<" [ A-d-l ":" ] Mailbox ">"          ; A-d-l, the source route, is dropped
//     esmtp-param    = esmtp-keyword ["=" esmtp-value]
//     esmtp-keyword  = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//     esmtp-value    = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)
//
// Checks run in Postfix's order, so a command with several faults gets the reply Postfix would give: the "FROM:"
// keyword (501 5.5.4), then the address (501 5.1.7 / 5.1.3), then each parameter left to right (555 5.5.4 for an
// unknown one, 501 5.5.4 for a malformed or repeated one).

import AviaryMessage

extension SMTPCommandParser {
    private enum PathRole {
        case sender
        case recipient

        var badSyntaxReply: SMTPReply {
            self == .sender ? .badSenderSyntax : .badRecipientSyntax
        }

        var verb: String { self == .sender ? "MAIL" : "RCPT" }
    }

    static func parseMail(_ arguments: Bytes) throws(SMTPCommandError) -> SMTPCommand {
        let (path, parameterText) = try splitPathArguments(arguments, keyword: "FROM:", usage: .mail, role: .sender)
        let reversePath = try parseAddress(path, role: .sender)
        var parameters = SMTPMailParameters()
        var sawAuth = false
        var given: [String: Bytes?] = [:]
        for word in words(parameterText) {
            let (keyword, value) = try splitParameter(word)
            if keyword != "AUTH", try isRepeat(keyword, value, word, &given) { continue }
            switch keyword {
            case "SIZE":
                guard let value, (1...20).contains(value.count), value.allSatisfy(isDigit)
                else {
                    throw SMTPCommandError(.badSizeSyntax, detail: "bad SIZE parameter: \(printable(word))")
                }
                guard let size = Int(string(value)) else {
                    throw SMTPCommandError(.sizeExceedsFileSystemLimit, detail: "SIZE too large: \(printable(word))")
                }
                parameters.size = size
            case "BODY":
                guard let value, let body = SMTPBodyType(rawValue: uppercasedASCII(value))
                else {
                    throw badParameter(keyword, word)
                }
                parameters.body = body
            case "SMTPUTF8":
                guard value == nil else { throw badParameter(keyword, word) }
                parameters.isSMTPUTF8 = true
            case "RET":
                guard let value, let dsnReturn = DSNReturn(parsing: string(value))
                else { throw badParameter(keyword, word) }
                parameters.dsnReturn = dsnReturn
            case "ENVID":
                guard let value, let envelopeID = DSNEnvelopeID(xtext: value) else {
                    throw badParameter(keyword, word)
                }
                parameters.envelopeID = envelopeID
            case "AUTH":
                guard !sawAuth else {
                    throw SMTPCommandError(.multipleAuthParameters, detail: "repeated AUTH= parameter")
                }
                guard let value, !value.isEmpty, value.elementsEqual("<>".utf8) || XText.decode(bytes: value) != nil
                else {
                    throw badParameter(keyword, word)
                }
                sawAuth = true
                parameters.authenticatedSubmitter = string(value)
            default:
                throw SMTPCommandError(.unsupportedParameter(printable(word)), detail: "unsupported MAIL parameter")
            }
        }
        return .mail(reversePath: reversePath, parameters: parameters)
    }

    static func parseRecipient(_ arguments: Bytes) throws(SMTPCommandError) -> SMTPCommand {
        let (path, parameterText) = try splitPathArguments(arguments, keyword: "TO:", usage: .rcpt, role: .recipient)
        guard let forwardPath = try parseAddress(path, role: .recipient) else {
            throw SMTPCommandError(.badRecipientSyntax, detail: "null recipient <>")
        }
        var parameters = SMTPRecipientParameters()
        var given: [String: Bytes?] = [:]
        for word in words(parameterText) {
            let (keyword, value) = try splitParameter(word)
            if try isRepeat(keyword, value, word, &given) { continue }
            switch keyword {
            case "NOTIFY":
                guard let value, let notify = parseNotify(value) else {
                    throw badParameter(keyword, word)
                }
                parameters.notify = notify
            case "ORCPT":
                guard let value, let original = parseOriginalRecipient(value)
                else {
                    throw badParameter(keyword, word)
                }
                parameters.originalRecipient = original
            default:
                throw SMTPCommandError(.unsupportedParameter(printable(word)), detail: "unsupported RCPT parameter")
            }
        }
        return .rcpt(forwardPath: forwardPath, parameters: parameters)
    }

    // MARK: - The path

    /// Splits `FROM:<path> params` into the text between the brackets and the parameter text.
    private static func splitPathArguments(
        _ arguments: Bytes,
        keyword: String,
        usage: SMTPReply.Usage,
        role: PathRole
    ) throws(SMTPCommandError) -> (path: Bytes, parameters: Bytes) {
        guard hasPrefixIgnoringCase(arguments, keyword) else {
            throw SMTPCommandError(.syntax(usage), detail: "\(role.verb) without \(keyword): \(printable(arguments))")
        }
        // Postfix accepts `MAIL FROM: <a@b>`; so do many other servers, and clients send it.
        let afterKeyword = trimmed(arguments.dropFirst(keyword.utf8.count))
        guard !afterKeyword.isEmpty else {
            throw SMTPCommandError(.syntax(usage), detail: "\(role.verb) without address")
        }
        guard let (path, rest) = splitPath(afterKeyword), rest.first.map(isBlank) ?? true else {
            throw SMTPCommandError(role.badSyntaxReply, detail: "illegal address syntax: \(printable(afterKeyword))")
        }
        return (path, rest)
    }

    /// `<...>` up to the first `>` outside a quoted string, or without brackets up to the first blank outside one.
    /// Nil when a bracket or quote is left open.
    private static func splitPath(_ text: Bytes) -> (path: Bytes, rest: Bytes)? {
        let isBracketed = text.first == UInt8(ascii: "<")
        let start = isBracketed ? text.index(after: text.startIndex) : text.startIndex
        var index = start
        var isQuoted = false
        while index < text.endIndex {
            let byte = text[index]
            if isQuoted {
                if byte == UInt8(ascii: "\\") {
                    index = text.index(after: index)
                    guard index < text.endIndex else { return nil }
                } else if byte == UInt8(ascii: "\"") {
                    isQuoted = false
                }
            } else if byte == UInt8(ascii: "\"") {
                isQuoted = true
            } else if isBracketed, byte == UInt8(ascii: ">") {
                return (text[start..<index], text[text.index(after: index)...])
            } else if !isBracketed, isBlank(byte) {
                break
            }
            index = text.index(after: index)
        }
        guard !isBracketed, !isQuoted else { return nil }
        return (text[start..<index], text[index...])
    }

    /// The address between the brackets: nil for `<>` (sender only), the bare postmaster (recipient only), or a
    /// Mailbox after any source route.
    private static func parseAddress(_ path: Bytes, role: PathRole) throws(SMTPCommandError) -> MailAddress? {
        guard !path.isEmpty else { return nil }
        var mailbox = path
        // RFC 5321 4.1.2 and appendix C: a source route is accepted and ignored.
        if mailbox.first == UInt8(ascii: "@") {
            guard let colon = mailbox.firstIndex(of: UInt8(ascii: ":")) else {
                throw SMTPCommandError(role.badSyntaxReply, detail: "source route without colon: \(printable(path))")
            }
            mailbox = mailbox[mailbox.index(after: colon)...]
        }
        let text = string(mailbox)
        if role == .recipient, mailbox.first != UInt8(ascii: "\""), text.lowercased() == "postmaster" {
            return .barePostmaster
        }
        guard let address = MailAddress(parsing: text) else {
            throw SMTPCommandError(role.badSyntaxReply, detail: "illegal address syntax: <\(printable(path))>")
        }
        return address
    }

    // MARK: - Parameters

    /// `keyword[=value]` with the keyword uppercased. A malformed keyword is an unsupported option, as in Postfix;
    /// each known keyword checks its own value, so a bad value gets `501 5.5.4 Bad ... parameter syntax`.
    private static func splitParameter(_ word: Bytes) throws(SMTPCommandError) -> (keyword: String, value: Bytes?) {
        let equals = word.firstIndex(of: UInt8(ascii: "="))
        let keyword = word[..<(equals ?? word.endIndex)]
        guard let first = keyword.first, isAlphanumeric(first),
            keyword.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") })
        else {
            throw SMTPCommandError(.unsupportedParameter(printable(word)), detail: "malformed parameter")
        }
        return (uppercasedASCII(keyword), equals.map { word[word.index(after: $0)...] })
    }

    private static func badParameter(_ keyword: String, _ word: Bytes) -> SMTPCommandError {
        SMTPCommandError(.badParameterSyntax(keyword), detail: "bad parameter: \(printable(word))")
    }

    /// Whether `keyword` was given before with the same value (the repeat is ignored: Python's smtplib sends
    /// `SIZE=n` itself beside one a program passes, and Postfix accepts that); a different value is refused.
    private static func isRepeat(
        _ keyword: String, _ value: Bytes?, _ word: Bytes, _ given: inout [String: Bytes?]
    ) throws(SMTPCommandError) -> Bool {
        guard let earlier = given[keyword] else {
            given[keyword] = value
            return false
        }
        guard earlier.map(Array.init) == value.map(Array.init) else {
            throw SMTPCommandError(.duplicateParameter(keyword), detail: "repeated parameter: \(printable(word))")
        }
        return true
    }

    /// notify-esmtp-value = "NEVER" / 1#notify-list-element; notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
    private static func parseNotify(_ value: Bytes) -> DSNNotify? {
        DSNNotify(parsing: string(value))
    }

    /// orcpt-parameter = "ORCPT=" addr-type ";" xtext, or RFC 6533's utf-8-addr-xtext for the `utf-8` type.
    private static func parseOriginalRecipient(_ value: Bytes) -> DSNOriginalRecipient? {
        DSNOriginalRecipient(xtext: string(value))
    }
}
