import AviaryMessage
import Testing

/// One text for `MailAddress(parsing:)` and what it must give.
struct AddressFixture: Sendable, CustomTestStringConvertible {
    var text: String
    /// nil when the text must be refused.
    var expected: (localPart: String, domain: String, description: String)?

    static func valid(_ text: String, _ localPart: String, _ domain: String, _ description: String? = nil) -> Self {
        AddressFixture(text: text, expected: (localPart, domain, description ?? text))
    }

    static func invalid(_ text: String) -> Self {
        AddressFixture(text: text, expected: nil)
    }

    var testDescription: String { text.debugDescription }
}

@Suite("MailAddress")
struct MailAddressTests {
    static let validFixtures: [AddressFixture] = [
        .valid("user@example.com", "user", "example.com"),
        .valid("first.last@sub.example.co.uk", "first.last", "sub.example.co.uk"),
        .valid("user+tag@example.com", "user+tag", "example.com"),
        .valid("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~", "example.com"),
        .valid("a@b", "a", "b"),
        .valid("user@1.2.3.4", "user", "1.2.3.4"),
        .valid("User@EXAMPLE.Com", "User", "EXAMPLE.Com"),
        .valid("user@example.com.", "user", "example.com."),
        .valid("user@xn--bcher-kva.example", "user", "xn--bcher-kva.example"),
        // Quoted local parts are decoded, and quoted again only when they need it.
        .valid("\"john doe\"@example.com", "john doe", "example.com"),
        .valid("\"john\"@example.com", "john", "example.com", "john@example.com"),
        .valid("\"a\\\"b\"@example.com", "a\"b", "example.com"),
        .valid("\"a\\\\b\"@example.com", "a\\b", "example.com"),
        .valid("\"\\a\"@example.com", "a", "example.com", "a@example.com"),
        .valid("\"a..b\"@example.com", "a..b", "example.com"),
        .valid("\".a\"@example.com", ".a", "example.com"),
        .valid("\"a@b\"@example.com", "a@b", "example.com"),
        .valid("\"a>b\"@example.com", "a>b", "example.com"),
        .valid("\"\"@example.com", "", "example.com"),
        // Address literals.
        .valid("user@[192.0.2.1]", "user", "[192.0.2.1]"),
        .valid("user@[0.0.0.0]", "user", "[0.0.0.0]"),
        .valid("user@[255.255.255.255]", "user", "[255.255.255.255]"),
        .valid("user@[IPv6:2001:db8::1]", "user", "[IPv6:2001:db8::1]"),
        .valid("user@[ipv6:2001:DB8::1]", "user", "[ipv6:2001:DB8::1]"),
        .valid("user@[IPv6:::1]", "user", "[IPv6:::1]"),
        .valid("user@[IPv6:1::]", "user", "[IPv6:1::]"),
        .valid("user@[IPv6:2001:db8:0:0:0:0:0:1]", "user", "[IPv6:2001:db8:0:0:0:0:0:1]"),
        .valid("user@[IPv6:::ffff:192.0.2.1]", "user", "[IPv6:::ffff:192.0.2.1]"),
        .valid("user@[IPv6:1:2:3:4:5:6:192.0.2.1]", "user", "[IPv6:1:2:3:4:5:6:192.0.2.1]"),
        .valid("user@[x-tag:some-content]", "user", "[x-tag:some-content]"),
        // RFC 6531: UTF-8 local parts and domains.
        .valid("jörg@bücher.example", "jörg", "bücher.example"),
        .valid("用户@例子.广告", "用户", "例子.广告"),
        .valid("\"jörg doe\"@example.com", "jörg doe", "example.com"),
    ]

    static let invalidFixtures: [AddressFixture] = [
        .invalid(""),
        .invalid("user"),
        .invalid("postmaster"),
        .invalid("@example.com"),
        .invalid("user@"),
        .invalid("user@@example.com"),
        .invalid("a b@example.com"),
        .invalid(".user@example.com"),
        .invalid("user.@example.com"),
        .invalid("us..er@example.com"),
        .invalid("us\ter@example.com"),
        .invalid("us(er)@example.com"),
        .invalid("\"unterminated@example.com"),
        .invalid("\"a\"b@example.com"),
        .invalid("\"a\u{7}\"@example.com"),
        .invalid("\"a\\\u{7}\"@example.com"),
        .invalid("\"a\"\"b\"@example.com"),
        .invalid("user@-example.com"),
        .invalid("user@example-.com"),
        .invalid("user@exa_mple.com"),
        .invalid("user@exa mple.com"),
        .invalid("user@example..com"),
        .invalid("user@.example.com"),
        .invalid("user@example.com.."),
        .invalid("user@."),
        .invalid("user@[192.0.2.256]"),
        .invalid("user@[192.0.2]"),
        .invalid("user@[192.0.2.1.5]"),
        .invalid("user@[1922.0.2.1]"),
        .invalid("user@[192.0.2.1"),
        .invalid("user@192.0.2.1]"),
        .invalid("user@[]"),
        .invalid("user@[IPv6:]"),
        .invalid("user@[IPv6:2001:db8::1::2]"),
        .invalid("user@[IPv6:1:2:3:4:5:6:7:8:9]"),
        .invalid("user@[IPv6:1:2:3:4:5:6:7]"),
        .invalid("user@[IPv6:1:2:3:4:5:6:7::8]"),
        .invalid("user@[IPv6:12345::]"),
        .invalid("user@[IPv6:::g]"),
        .invalid("user@[IPv6:1.2.3.4::]"),
        .invalid("user@[IPv6::::]"),
        .invalid("user@[tag:]"),
        .invalid("user@[-tag:x]"),
        .invalid("user@[tag:a[b]"),
        .invalid("user@example.com\r\n"),
        .invalid("user@exa\u{0}mple.com"),
    ]

    @Test("parses valid mailboxes", arguments: validFixtures)
    func parsesValid(fixture: AddressFixture) throws {
        let expected = try #require(fixture.expected)
        let address = try #require(MailAddress(parsing: fixture.text))
        #expect(address.localPart == expected.localPart)
        #expect(address.domain == expected.domain)
        #expect(address.description == expected.description)
        // What we write, we read back the same.
        #expect(MailAddress(parsing: address.description) == address)
    }

    @Test("refuses invalid mailboxes", arguments: invalidFixtures)
    func refusesInvalid(fixture: AddressFixture) {
        #expect(MailAddress(parsing: fixture.text) == nil)
    }

    @Test("isASCII is false for any UTF-8 in local part or domain")
    func isASCII() throws {
        #expect(try #require(MailAddress(parsing: "user@example.com")).isASCII)
        #expect(try !#require(MailAddress(parsing: "jörg@example.com")).isASCII)
        #expect(try !#require(MailAddress(parsing: "user@bücher.example")).isASCII)
        #expect(try !#require(MailAddress(parsing: "\"jörg x\"@example.com")).isASCII)
    }

    @Test("canonicalDomain lowercases and drops one trailing dot")
    func canonicalDomain() {
        #expect(MailAddress(localPart: "u", domain: "EXAMPLE.Com.").canonicalDomain == "example.com")
        #expect(MailAddress(localPart: "u", domain: "Bücher.Example").canonicalDomain == "bücher.example")
        #expect(MailAddress(localPart: "u", domain: "[IPv6:2001:DB8::1]").canonicalDomain == "[ipv6:2001:db8::1]")
        #expect(MailAddress.barePostmaster.canonicalDomain == "")
    }

    @Test("the local part may have 64 octets, not 65")
    func localPartLimit() {
        let local64 = String(repeating: "a", count: 64)
        #expect(MailAddress(parsing: local64 + "@example.com") != nil)
        #expect(MailAddress(parsing: local64 + "a@example.com") == nil)
        // Octets, not characters: 32 two-octet characters are 64 octets.
        #expect(MailAddress(parsing: String(repeating: "ö", count: 32) + "@example.com") != nil)
        #expect(MailAddress(parsing: String(repeating: "ö", count: 33) + "@example.com") == nil)
        // The quotes count: they are part of the local part on the wire.
        #expect(MailAddress(parsing: "\"" + String(repeating: "a", count: 62) + "\"@example.com") != nil)
        #expect(MailAddress(parsing: "\"" + String(repeating: "a", count: 63) + "\"@example.com") == nil)
    }

    @Test("the whole path may have 256 octets with its brackets")
    func pathLimit() {
        let label = String(repeating: "d", count: 63)
        // 64 + 1 + 189 = 254 octets, 256 with "<" and ">".
        let domain189 = [label, label, String(repeating: "d", count: 61)].joined(separator: ".")
        #expect(domain189.utf8.count == 189)
        let local64 = String(repeating: "a", count: 64)
        #expect(MailAddress(parsing: local64 + "@" + domain189) != nil)
        #expect(MailAddress(parsing: local64 + "@" + domain189 + "d") == nil)
        // A domain label has at most 63 octets.
        #expect(MailAddress(parsing: "a@" + label + ".example") != nil)
        #expect(MailAddress(parsing: "a@" + label + "d.example") == nil)
    }

    @Test("the bare postmaster has no domain and describes itself without one")
    func barePostmaster() {
        #expect(MailAddress.barePostmaster.isBarePostmaster)
        #expect(MailAddress.barePostmaster.description == "postmaster")
        #expect(MailAddress(localPart: "PostMaster", domain: "").isBarePostmaster)
        #expect(!MailAddress(localPart: "postmaster", domain: "example.com").isBarePostmaster)
    }

    @Test("address literals are recognized")
    func addressLiterals() throws {
        #expect(try #require(MailAddress(parsing: "u@[192.0.2.1]")).hasAddressLiteral)
        #expect(try !#require(MailAddress(parsing: "u@example.com")).hasAddressLiteral)
    }

    @Test("description quotes what a dot-string cannot carry")
    func descriptionQuotes() {
        #expect(MailAddress(localPart: "john doe", domain: "example.com").description == "\"john doe\"@example.com")
        #expect(MailAddress(localPart: "a\"b\\c", domain: "x").description == "\"a\\\"b\\\\c\"@x")
        #expect(MailAddress(localPart: "plain.name", domain: "x").description == "plain.name@x")
        #expect(MailAddress(localPart: "", domain: "x").description == "\"\"@x")
    }

    @Test("isValidDomain accepts domain names and address literals")
    func validDomains() {
        for domain in ["example.com", "localhost", "[192.0.2.1]", "[IPv6:::1]", "bücher.example", "example.com."] {
            #expect(MailAddress.isValidDomain(domain), "\(domain)")
        }
        for domain in ["", "my_laptop", "-x.example", "a..b", "[192.0.2.999]", "exa mple", "x@y"] {
            #expect(!MailAddress.isValidDomain(domain), "\(domain)")
        }
    }
}
