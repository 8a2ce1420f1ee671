import AviaryMailbox
import AviaryUsers
import Testing

@Suite("Quota rules from the users file")
struct QuotaRuleTests {
    @Test(
        "Dovecot's quota rule syntax gives the limits (storage in KiB unless a unit says otherwise)",
        arguments: [
            ("*:storage=1G", QuotaLimits(storage: 1 << 30)),
            ("*:storage=1024", QuotaLimits(storage: 1 << 20)),
            ("*:bytes=300", QuotaLimits(storage: 300)),
            ("*:storage=500M:messages=10000", QuotaLimits(storage: 500 << 20, messages: 10000)),
            ("*:storage=5MB", QuotaLimits(storage: 5 << 20)),
            ("*:messages=10", QuotaLimits(storage: 777, messages: 10)),  // storage from the default
            ("*:storage=0", QuotaLimits.unlimited),
        ]
    )
    func limits(_ rule: String, _ expected: QuotaLimits) throws {
        #expect(QuotaLimits(rule: try #require(QuotaRule(rule)), defaultStorage: 777) == expected)
    }

    @Test(
        "Anything else is no rule",
        arguments: [
            "", "*", "storage=1G", "Trash:storage=1G", "*:storage=", "*:storage=1X", "*:storage=-1", "*:ignore",
            "*:storage=99999999999T",
        ]
    )
    func refused(_ rule: String) {
        #expect(QuotaRule(rule) == nil)
    }

    @Test("An entry's userdb_quota_rule (or quota_rule) field is its quota; without one the default applies")
    func entries() throws {
        let file = try PasswdFile.parse(
            """
            alice@example.org:{PLAIN}x::::::userdb_quota_rule=*:storage=1M
            bob@example.org:{PLAIN}x::::::quota_rule=*:bytes=10 nopassword
            carol@example.org:{PLAIN}x
            """,
            file: "users"
        )
        let quota = { (user: String) in QuotaLimits(rule: file.lookup(user)?.quotaRule, defaultStorage: 5000) }
        #expect(quota("alice@example.org") == QuotaLimits(storage: 1 << 20))
        #expect(quota("bob@example.org") == QuotaLimits(storage: 10))
        #expect(quota("carol@example.org") == QuotaLimits(storage: 5000))
    }
}
