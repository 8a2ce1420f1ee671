import AviaryAuthentication
import AviaryCore
import Foundation
import Testing

/// The Public Suffix List from Debian's `publicsuffix` package, checked with the list's own test vectors
/// (publicsuffix.org's tests/test_psl.txt: `checkPublicSuffix(domain, registrable domain)`): the copy Debian
/// ships with the list, and the upstream file's cases written out here (it has more: kobe.jp, IDN).
@Suite("Public Suffix List: publicsuffix.org's test vectors on Debian's list")
struct PublicSuffixListTests {
    static let list: PublicSuffixList? = try? PublicSuffixList(path: PublicSuffixList.debianPath)

    /// tests/test_psl.txt, every case but the null input (a String cannot be null); nil: no registrable domain.
    static let vectors: [(String, String?)] = [
        // Mixed case.
        ("COM", nil), ("example.COM", "example.com"), ("WwW.example.COM", "example.com"),
        // Leading dot.
        (".com", nil), (".example", nil), (".example.com", nil), (".example.example", nil),
        // Unlisted TLD.
        ("example", nil), ("example.example", "example.example"), ("b.example.example", "example.example"),
        ("a.b.example.example", "example.example"),
        // TLD with only 1 rule.
        ("biz", nil), ("domain.biz", "domain.biz"), ("b.domain.biz", "domain.biz"), ("a.b.domain.biz", "domain.biz"),
        // TLD with some 2-level rules.
        ("com", nil), ("example.com", "example.com"), ("b.example.com", "example.com"),
        ("a.b.example.com", "example.com"),
        ("uk.com", nil), ("example.uk.com", "example.uk.com"), ("b.example.uk.com", "example.uk.com"),
        ("a.b.example.uk.com", "example.uk.com"), ("test.ac", "test.ac"),
        // TLD with only 1 (wildcard) rule.
        ("mm", nil), ("c.mm", nil), ("b.c.mm", "b.c.mm"), ("a.b.c.mm", "b.c.mm"),
        // More complex TLD.
        ("jp", nil), ("test.jp", "test.jp"), ("www.test.jp", "test.jp"), ("ac.jp", nil), ("test.ac.jp", "test.ac.jp"),
        ("www.test.ac.jp", "test.ac.jp"), ("kyoto.jp", nil), ("test.kyoto.jp", "test.kyoto.jp"), ("ide.kyoto.jp", nil),
        ("b.ide.kyoto.jp", "b.ide.kyoto.jp"), ("a.b.ide.kyoto.jp", "b.ide.kyoto.jp"), ("c.kobe.jp", nil),
        ("b.c.kobe.jp", "b.c.kobe.jp"), ("a.b.c.kobe.jp", "b.c.kobe.jp"), ("city.kobe.jp", "city.kobe.jp"),
        ("www.city.kobe.jp", "city.kobe.jp"),
        // TLD with a wildcard rule and exceptions.
        ("ck", nil), ("test.ck", nil), ("b.test.ck", "b.test.ck"), ("a.b.test.ck", "b.test.ck"), ("www.ck", "www.ck"),
        ("www.www.ck", "www.ck"),
        // US K12.
        ("us", nil), ("test.us", "test.us"), ("www.test.us", "test.us"), ("ak.us", nil), ("test.ak.us", "test.ak.us"),
        ("www.test.ak.us", "test.ak.us"), ("k12.ak.us", nil), ("test.k12.ak.us", "test.k12.ak.us"),
        ("www.test.k12.ak.us", "test.k12.ak.us"),
        // IDN labels.
        ("食狮.com.cn", "食狮.com.cn"), ("食狮.公司.cn", "食狮.公司.cn"), ("www.食狮.公司.cn", "食狮.公司.cn"),
        ("shishi.公司.cn", "shishi.公司.cn"), ("公司.cn", nil), ("食狮.中国", "食狮.中国"), ("www.食狮.中国", "食狮.中国"),
        ("shishi.中国", "shishi.中国"), ("中国", nil),
        // Same as above, but punycoded.
        ("xn--85x722f.com.cn", "xn--85x722f.com.cn"), ("xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"),
        ("www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"),
        ("shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn"),
        ("xn--55qx5d.cn", nil), ("xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s"),
        ("www.xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s"), ("shishi.xn--fiqs8s", "shishi.xn--fiqs8s"),
        ("xn--fiqs8s", nil),
    ]

    @Test("every checkPublicSuffix vector gives the registrable domain (IDN answers compared as A-labels)")
    func testVectors() throws {
        let list = try #require(Self.list, "Debian's publicsuffix package is not installed")
        #expect(list.count > 5000)
        for (domain, expected) in Self.vectors {
            let answer = list.registrableDomain(of: domain)
            #expect(answer == expected.flatMap(DomainName.aLabels), "\(domain): \(answer ?? "nil")")
        }
    }

    @Test("the test vectors Debian ships beside the list (/usr/share/doc/publicsuffix/examples/test_psl.txt)")
    func debianVectors() throws {
        let list = try #require(Self.list, "Debian's publicsuffix package is not installed")
        let text = try SafeFile.readText("/usr/share/doc/publicsuffix/examples/test_psl.txt")
        var checked = 0
        for line in text.split(separator: "\n") where line.hasPrefix("checkPublicSuffix('") {
            // checkPublicSuffix('domain', 'registrable');  or  checkPublicSuffix('domain', null);
            let arguments = line.dropFirst("checkPublicSuffix(".count).prefix { $0 != ")" }
                .split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " '")) }
            guard arguments.count == 2 else { continue }
            let expected = arguments[1] == "null" ? nil : DomainName.aLabels(arguments[1])
            #expect(list.registrableDomain(of: arguments[0]) == expected, "\(line)")
            checked += 1
        }
        #expect(checked > 60)
    }

    @Test("Punycode of RFC 3492's and the list's labels; names that are no domain")
    func aLabels() {
        #expect(DomainName.aLabels("食狮.公司.cn") == "xn--85x722f.xn--55qx5d.cn")
        #expect(DomainName.aLabels("中国") == "xn--fiqs8s")
        #expect(DomainName.aLabels("Bücher.Example.") == "xn--bcher-kva.example")
        #expect(DomainName.aLabels("例え.テスト") == "xn--r8jz45g.xn--zckzah")
        #expect(DomainName.aLabels("münchen。de") == "xn--mnchen-3ya.de")
        #expect(DomainName.aLabels("_dmarc.Example.COM") == "_dmarc.example.com")
        for bad in [
            "", "a..b", ".a", "[192.0.2.1]", "a b.c", String(repeating: "a", count: 64) + ".com",
            Array(repeating: "abcdefghi", count: 26).joined(separator: "."),
        ] {
            #expect(DomainName.aLabels(bad) == nil, "\(bad)")
        }
    }

    @Test("a list of our own: sections, wildcards, exceptions, comments and junk lines")
    func ownList() {
        let list = PublicSuffixList(
            text: """
                // ===BEGIN ICANN DOMAINS===
                test
                *.wild.test
                !not.wild.test
                   \t
                // a comment: not.a.rule.test
                公司.test ignored words after the rule
                // ===END ICANN DOMAINS===
                // ===BEGIN PRIVATE DOMAINS===
                hosting.test
                bad..rule
                // ===END PRIVATE DOMAINS===
                """
        )
        #expect(list.count == 5)
        #expect(list.registrableDomain(of: "a.b.wild.test") == "a.b.wild.test")
        #expect(list.registrableDomain(of: "x.not.wild.test") == "not.wild.test")
        #expect(list.registrableDomain(of: "www.shop.hosting.test") == "shop.hosting.test")
        #expect(list.registrableDomain(of: "www.shop.hosting.test", includingPrivate: false) == "hosting.test")
        #expect(list.registrableDomain(of: "a.xn--55qx5d.test") == "a.xn--55qx5d.test")
        #expect(list.publicSuffix(of: "www.shop.hosting.test") == "hosting.test")
        #expect(list.organizationalDomain(of: "hosting.test") == "hosting.test")
        #expect(list.organizationalDomain(of: "mail.Shop.hosting.test") == "shop.hosting.test")
    }

    @Test("a missing list is an error naming the file")
    func missingFile() {
        #expect(throws: PublicSuffixListError.self) { try PublicSuffixList(path: "/nonexistent/psl.dat") }
    }
}
