/// An RFC 3463 enhanced mail system status code, `class.subject.detail`, such as `5.7.1`.
///
/// The class repeats the reply's first digit (2 success, 4 persistent transient failure, 5 permanent failure); the
/// subject and detail narrow the cause (`x.1.x` addressing, `x.5.x` protocol, `x.7.x` security or policy).
public struct EnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    /// 2, 4 or 5.
    public var statusClass: Int

    /// The subject: 0 other, 1 addressing, 2 mailbox, 3 mail system, 4 network and routing, 5 protocol,
    /// 6 content, 7 security or policy.
    public var subject: Int

    /// The detail within the subject.
    public var detail: Int

    /// Creates `statusClass.subject.detail`, as in `EnhancedStatusCode(2, 0, 0)` for `2.0.0`.
    public init(_ statusClass: Int, _ subject: Int, _ detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Parses `class "." subject "." detail` (RFC 3463 section 2): class 2, 4 or 5, subject 1 to 3 digits,
    /// detail 1 to 3 digits.
    public init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            parts.allSatisfy({ (1...3).contains($0.utf8.count) && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }),
            parts[0].utf8.count == 1,
            let statusClass = Int(parts[0]), [2, 4, 5].contains(statusClass),
            let subject = Int(parts[1]), let detail = Int(parts[2])
        else { return nil }
        self.init(statusClass, subject, detail)
    }

    /// `2.0.0`.
    public var description: String { "\(statusClass).\(subject).\(detail)" }

    /// RFC 3463 section 3.1: what a code says about the message, its first number.
    public enum Class: Int, Sendable, CaseIterable {
        /// 2: delivered, or accepted.
        case success = 2
        /// 4: the message may go through if sent again later (deferred).
        case persistentTransientFailure = 4
        /// 5: sending again will not help (bounced).
        case permanentFailure = 5
    }

    /// `statusClass` as a `Class`; nil only for a code built with another class (parsed codes always have one).
    public var kind: Class? { Class(rawValue: statusClass) }

    /// The same subject and detail in another class: `4.4.1` as a permanent failure is `5.4.1`.
    public func withClass(_ kind: Class) -> EnhancedStatusCode {
        EnhancedStatusCode(kind.rawValue, subject, detail)
    }

    /// Subject 4, network and routing (`4.4.1` no answer from host, `4.4.2` bad connection): the destination, not
    /// the message or the mailbox, is the trouble.
    public var isNetworkOrRouting: Bool { subject == 4 }
}
