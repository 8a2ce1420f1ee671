import Testing

@testable import AviaryMessage

@Suite("address lists in To:, Cc:, Bcc:")
struct AddressListTests {
    @Test(
        "addr-specs are found in every RFC 5322 form",
        arguments: [
            ("alice@example.org", ["alice@example.org"]),
            ("Alice <alice@example.org>, bob@example.org", ["alice@example.org", "bob@example.org"]),
            ("\"Doe, John\" <john@example.org>", ["john@example.org"]),
            ("alice (the boss, really) <alice@example.org>", ["alice@example.org"]),
            ("bob@example.org (Bob (nested))", ["bob@example.org"]),
            (
                "team: a@example.org, b@example.org;, c@example.org",
                ["a@example.org", "b@example.org", "c@example.org"]
            ),
            ("undisclosed-recipients:;", []),
            ("<@relay.example,@other.example:user@example.org>", ["user@example.org"]),
            ("\"john doe\"@example.org", ["\"john doe\"@example.org"]),
            ("user@[192.0.2.1]", ["user@[192.0.2.1]"]),
            ("alice, , bob", ["alice", "bob"]),
            ("<cc@x>", ["cc@x"]),
            ("", []),
        ]
    )
    func addresses(_ value: String, _ expected: [String]) {
        #expect(AddressList.addresses(in: value) == expected)
    }
}
