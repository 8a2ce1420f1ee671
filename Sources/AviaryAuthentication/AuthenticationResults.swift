import AviaryMessage

/// The `Authentication-Results:` field (RFC 8601) that tells the user's software what this host verified:
///
///     Authentication-Results: mx.example.org;
///     	spf=pass (mx.example.org: domain of alice@example.com designates 192.0.2.1 as permitted sender)
///     	smtp.mailfrom=alice@example.com
///
/// Mail readers believe a field whose authserv-id is their own server's, so a field with our id that arrives
/// from outside is a forged verdict: `isClaimed(by:)` finds those, and they are removed before ours is added
/// (RFC 8601 5).
public struct AuthenticationResults: Sendable, Equatable {
    /// This host's authserv-id (`authserv_id`, by default myhostname).
    public var authservID: String
    /// One `method=result` statement per check, in order; none gives `; none`.
    public var statements: [String] = []

    public init(authservID: String) { self.authservID = authservID }

    /// Adds the SPF verdict: `spf=RESULT (comment) smtp.mailfrom=ADDRESS` or `smtp.helo=NAME`.
    public mutating func add(_ spf: SPFOutcome) {
        let property =
            spf.identity == .helo
            ? "smtp.helo=" + HeaderValue.atomOrQuoted(spf.helo) : "smtp.mailfrom=" + Self.addressValue(spf.sender)
        statements.append("spf=\(spf.result.rawValue) (\(spf.comment(receiver: authservID)))\r\n\t\(property)")
    }

    /// Adds one `dkim=` statement per signature (`dkim=none` when there is none): `dkim=RESULT (problem)
    /// header.d=DOMAIN header.s=SELECTOR header.a=ALGORITHM header.b=FIRST8` (RFC 8601 2.7.1, RFC 6008).
    public mutating func add(_ dkim: [DKIMVerification]) {
        guard !dkim.isEmpty else {
            statements.append("dkim=none")
            return
        }
        for signature in dkim {
            var statement = "dkim=\(signature.result.rawValue)"
            if let problem = signature.problem { statement += " (\(HeaderValue.commentText(problem)))" }
            for (name, value) in [
                ("header.d", signature.domain), ("header.s", signature.selector), ("header.a", signature.algorithm),
                ("header.b", signature.signaturePrefix),
            ] where !value.isEmpty {
                statement += " \(name)=\(HeaderValue.atomOrQuoted(value))"
            }
            statements.append(statement)
        }
    }

    /// Adds the DMARC verdict: `dmarc=RESULT (p=POLICY dis=DISPOSITION) header.from=DOMAIN` (RFC 7489 11.2).
    public mutating func add(_ dmarc: DMARCVerdict) {
        statements.append(dmarc.statement)
    }

    /// The whole field, CRLF line ends, folded with tabs.
    public var field: String {
        let id = HeaderValue.atomOrQuoted(authservID)
        guard !statements.isEmpty else { return "Authentication-Results: \(id); none\r\n" }
        return "Authentication-Results: \(id);\r\n\t" + statements.joined(separator: ";\r\n\t") + "\r\n"
    }

    /// `local-part@domain` as RFC 8601's `pvalue` allows it: a dot-atom local part as it is, any other quoted.
    static func addressValue(_ address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return HeaderValue.atomOrQuoted(address) }
        let local = String(address[..<at])
        let domain = HeaderValue.visible(String(address[address.index(after: at)...]))
        return HeaderValue.atomOrQuoted(local) + "@" + (HeaderValue.isDotAtom(domain) ? domain : "invalid")
    }

    /// Whether an `Authentication-Results:` field value (after the colon, folded or not) names `authservID`:
    /// its first token after any comments, compared without regard to case (RFC 8601 2.2: `authserv-id` is
    /// a `value`, a token or a quoted-string, followed by an optional version number).
    public static func isClaimed(_ value: some Collection<UInt8>, by authservID: String) -> Bool {
        var bytes = Array(value)[...]
        skipCommentsAndSpace(&bytes)
        var id: [UInt8] = []
        if bytes.first == UInt8(ascii: "\"") {
            bytes = bytes.dropFirst()
            while let byte = bytes.popFirst(), byte != UInt8(ascii: "\"") {
                if byte == UInt8(ascii: "\\"), let escaped = bytes.popFirst() { id.append(escaped) } else { id.append(byte) }
            }
        } else {
            let separators: Set<UInt8> = [32, 9, 13, 10, UInt8(ascii: ";"), UInt8(ascii: "(")]
            while let byte = bytes.first, !separators.contains(byte) {
                id.append(byte)
                bytes = bytes.dropFirst()
            }
        }
        return !id.isEmpty && String(decoding: id, as: UTF8.self).lowercased() == authservID.lowercased()
    }

    /// Skips white space, line ends and (nested) comments.
    private static func skipCommentsAndSpace(_ bytes: inout ArraySlice<UInt8>) {
        var depth = 0
        while let byte = bytes.first {
            if byte == UInt8(ascii: "(") {
                depth += 1
            } else if byte == UInt8(ascii: ")") && depth > 0 {
                depth -= 1
            } else if byte == UInt8(ascii: "\\") && depth > 0 {
                bytes = bytes.dropFirst()
            } else if depth == 0 && ![32, 9, 13, 10].contains(byte) {
                return
            }
            bytes = bytes.dropFirst()
        }
    }
}

extension AuthenticationResults {
    /// Where the `Authentication-Results:` fields that claim `authservID` are, in the header section that starts
    /// at `range.lowerBound` (whole fields, continuation lines and line ends included).
    public static func claimedFields(in bytes: [UInt8], _ range: Range<Int>, authservID: String) -> [Range<Int>] {
        MIMEHeaderSection(bytes, range).fields.filter {
            $0.name == "authentication-results" && isClaimed(bytes[$0.valueRange], by: authservID)
        }.map(\.range)
    }

    /// The message without the `Authentication-Results:` fields of its header section that claim `authservID`:
    /// call it on the client's message before prepending our own verdict. Only the header section is
    /// read; `message` may be just the first bytes of a message as long as they hold all of it.
    public static func removingClaimedFields(from message: [UInt8], authservID: String) -> [UInt8] {
        let claimed = claimedFields(in: message, 0..<message.count, authservID: authservID)
        guard !claimed.isEmpty else { return message }
        var result = message
        for range in claimed.reversed() { result.removeSubrange(range) }
        return result
    }
}
