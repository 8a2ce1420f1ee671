/// One `resource limit` pair of SETQUOTA (RFC 9208 4.3): a resource name (`STORAGE`, `MESSAGE`, ...) and its
/// limit (STORAGE in units of 1024 octets).
public struct IMAPQuotaLimit: Sendable, Hashable {
    public var resource: String
    public var limit: UInt64

    public init(resource: String, limit: UInt64) {
        self.resource = resource
        self.limit = limit
    }
}
