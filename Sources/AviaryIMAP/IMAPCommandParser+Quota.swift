extension IMAPCommandReader {
    /// The QUOTA commands (RFC 9208 7):
    /// getquota = "GETQUOTA" SP quota-root-name
    /// getquotaroot = "GETQUOTAROOT" SP mailbox
    /// setquota = "SETQUOTA" SP quota-root-name SP setquota-list
    /// setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
    /// setquota-resource = resource-name SP resource-limit; resource-limit = number64
    /// quota-root-name = astring
    mutating func quota(_ name: String) throws(IMAPParseError) -> IMAPCommand {
        try space()
        switch name {
        case "GETQUOTAROOT":
            return .getQuotaRoot(mailbox: try mailbox())
        case "GETQUOTA":
            return .getQuota(root: try astring())
        default:
            let root = try astring()
            try space()
            let limits = try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in
                let resource = try reader.atom().uppercased()
                try reader.space()
                return IMAPQuotaLimit(resource: resource, limit: UInt64(try reader.number64()))
            }
            return .setQuota(root: root, limits: limits)
        }
    }
}
