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

@Suite("structured address lists for ENVELOPE")
struct StructuredAddressListTests {
    static func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    @Test("display names, routes, groups and local-part/domain splits")
    func structured() throws {
        let parsed = AddressList.parse(
            "\"Doe, John\" <john@example.org>, team: a@b.example, C <c@d.example>;, x (Comment) , <@r1,@r2:y@z>")
        #expect(parsed.count == 4)
        guard case .mailbox(let john) = parsed[0], case .group(let name, let members) = parsed[1],
            case .mailbox(let x) = parsed[2], case .mailbox(let y) = parsed[3]
        else {
            Issue.record("unexpected shape \(parsed)")
            return
        }
        #expect(Self.text(john.displayName) == "Doe, John")
        #expect(Self.text(john.localPart) == "john")
        #expect(Self.text(john.domain) == "example.org")
        #expect(Self.text(name) == "team")
        #expect(members.map(\.addrSpec) == ["a@b.example", "c@d.example"])
        #expect(Self.text(members[1].displayName) == "C")
        #expect(x.domain == nil)
        #expect(Self.text(x.displayName) == "Comment")
        #expect(Self.text(y.route) == "@r1,@r2")
        #expect(y.addrSpec == "y@z")
    }

    @Test("8-bit display names come back byte for byte")
    func eightBit() {
        let value: [UInt8] = [0x4A, 0xFC, 0x72, 0x67, 0x20, 0x3C, 0x6A, 0x40, 0x78, 0x3E]  // "J\xFCrg <j@x>" in Latin-1
        guard case .mailbox(let mailbox) = AddressList.parse(value).first else {
            Issue.record("no mailbox")
            return
        }
        #expect(mailbox.displayName == [0x4A, 0xFC, 0x72, 0x67])
    }
}
