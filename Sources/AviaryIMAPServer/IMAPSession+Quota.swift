import AviaryIMAP
import AviaryMailbox

/// QUOTA (RFC 9208) over the account's Maildir++ quota (`Maildir+Quota.swift`): one quota root, "User quota",
/// for every mailbox, with STORAGE (in KiB) and MESSAGE as the `maildirsize` file counts them. The limits come
/// from the users file or `mailbox_quota_limit`; SETQUOTA is the administrator's, so it is refused.
extension IMAPSession {
    static let quotaRootName = "User quota"

    /// GETQUOTAROOT, GETQUOTA and SETQUOTA.
    mutating func quota(_ tagged: IMAPTaggedCommand, _ store: MailboxStore, _ outbound: Output) async throws {
        let tag = tagged.tag
        let limits = store.quota
        switch tagged.command {
        case .getQuotaRoot(let name):
            do {
                let usage = try await server.pool.runIfActive { () throws -> QuotaUsage? in
                    let maildir = try store.existing(name)
                    return limits.isLimited ? try maildir.quotaUsage(limits: limits) : nil
                }
                var writer = IMAPWriter()
                writer.append("* QUOTAROOT ")
                writer.appendMailbox(name)
                var lines = [String(decoding: writer.bytes, as: UTF8.self)]
                if let usage {
                    lines[0] += " \"\(Self.quotaRootName)\""
                    lines.append(Self.quotaLine(limits, usage))
                }
                try await untagged(lines, outbound)
                try await ok(tag, "Getquotaroot completed.", outbound)
            } catch let error as MailboxStoreError {
                try await no(tag, error.text, code: error.code, outbound)
            } catch {
                try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
            }
        case .getQuota(let root):
            guard root == Self.quotaRootName, limits.isLimited else {
                return try await no(tag, "Quota root doesn't exist.", code: "NONEXISTENT", outbound)
            }
            do {
                let usage = try await server.pool.runIfActive { try store.root.quotaUsage(limits: limits) }
                try await untagged([Self.quotaLine(limits, usage)], outbound)
                try await ok(tag, "Getquota completed.", outbound)
            } catch {
                try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
            }
        default:
            try await no(tag, "Quota can be changed only by the administrator.", code: "NOPERM", outbound)
        }
    }

    /// `* QUOTA "User quota" (STORAGE used limit MESSAGE used limit)`, with the limited resources only.
    static func quotaLine(_ limits: QuotaLimits, _ usage: QuotaUsage) -> String {
        var resources: [String] = []
        // KiB rounded up, as Dovecot reports them: a few bytes used are not "0".
        let kibibytes = { (bytes: Int64) in (max(0, bytes) + 1023) / 1024 }
        if limits.storage > 0 { resources.append("STORAGE \(kibibytes(usage.storage)) \(kibibytes(limits.storage))") }
        if limits.messages > 0 { resources.append("MESSAGE \(max(0, usage.messages)) \(limits.messages)") }
        return "* QUOTA \"\(quotaRootName)\" (\(resources.joined(separator: " ")))"
    }

    /// Runs a blocking step that adds messages, turning a refusal for quota into `NO [OVERQUOTA]`.
    static func withinQuota<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MailboxError where error.code == .overQuota {
            throw MailboxStoreError(code: "OVERQUOTA", text: "Quota exceeded (mailbox for user is full).")
        }
    }
}
