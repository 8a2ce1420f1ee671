/// The `Received-SPF:` trace field (RFC 7208 9.1) an MTA prepends with its verdict:
///
///     Received-SPF: pass (mx.example.org: domain of alice@example.com designates 192.0.2.1 as permitted sender)
///     	client-ip=192.0.2.1; envelope-from="alice@example.com"; helo=mail.example.com;
///     	receiver=mx.example.org; identity=mailfrom; mechanism="ip4:192.0.2.0/24"
extension SPFOutcome {
    /// The whole field, CRLF line ends, folded with tabs, ready to prepend to the message.
    /// - Parameter receiver: this host's name (`myhostname`).
    public func receivedSPFField(receiver: String) -> String {
        var pairs = [
            "client-ip=" + HeaderValue.atomOrQuoted(clientAddress),
            "envelope-from=" + HeaderValue.atomOrQuoted(sender),
            "helo=" + HeaderValue.atomOrQuoted(helo),
            "receiver=" + HeaderValue.atomOrQuoted(receiver),
            "identity=" + identity.rawValue,
        ]
        if let mechanism { pairs.append("mechanism=" + HeaderValue.atomOrQuoted(mechanism)) }
        if let problem, result == .permerror || result == .temperror {
            pairs.append("problem=" + HeaderValue.atomOrQuoted(problem))
        }
        return "Received-SPF: \(result.rawValue) (\(comment(receiver: receiver)))\r\n\t"
            + pairs.joined(separator: ";\r\n\t") + "\r\n"
    }

    /// The human-readable comment both headers carry, in the words RFC 7208 9.1's examples use.
    public func comment(receiver: String) -> String {
        let who = identity == .helo ? "HELO domain \(domain)" : "domain of \(sender)"
        let text: String
        switch result {
        case .pass: text = "\(who) designates \(clientAddress) as permitted sender"
        case .fail: text = "\(who) does not designate \(clientAddress) as permitted sender"
        case .softfail: text = "\(who) discourages use of \(clientAddress) as permitted sender"
        case .neutral: text = "\(clientAddress) is neither permitted nor denied by \(who)"
        case .none: text = "\(who) does not provide an SPF record"
        case .temperror: text = "error in processing during lookup of \(who): \(problem ?? "DNS failure")"
        case .permerror: text = "permanent error in processing \(who): \(problem ?? "bad record")"
        }
        return HeaderValue.commentText("\(receiver): \(text)")
    }
}
