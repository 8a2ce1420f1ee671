import AviaryAuthentication
import Testing

/// DMARC records (RFC 7489 6.3, 6.4): what counts as one, every tag, and bad values.
@Suite("DMARC records: valid, invalid and edge cases")
struct DMARCRecordTests {
    @Test("a full record: every tag read")
    func fullRecord() throws {
        let record = try #require(
            DMARCRecord(
                "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=s; pct=25; "
                    + "rua=mailto:agg@example.com!10m, mailto:agg@example.net; ruf=mailto:fail@example.com!512k; "
                    + "fo=1:d; rf=afrf; ri=3600"
            )
        )
        #expect(record.policy == .reject && record.subdomainPolicy == .quarantine)
        #expect(record.nonexistentSubdomainPolicy == .reject)
        #expect(record.dkimAlignment == .strict && record.spfAlignment == .strict)
        #expect(record.percentage == 25 && record.reportInterval == 3600)
        #expect(
            record.aggregateReports == [
                DMARCReportURI(uri: "mailto:agg@example.com", sizeLimit: 10 << 20),
                DMARCReportURI(uri: "mailto:agg@example.net", sizeLimit: nil),
            ]
        )
        #expect(record.failureReports == [DMARCReportURI(uri: "mailto:fail@example.com", sizeLimit: 512 << 10)])
        #expect(record.failureOptions == ["1", "d"] && record.reportFormats == ["afrf"])
        #expect(record.problem == nil && record.isUsable)
    }

    @Test("defaults: relaxed alignment, pct 100, fo 0, afrf, a day")
    func defaults() throws {
        let record = try #require(DMARCRecord("v=DMARC1; p=none"))
        #expect(record.policy == DMARCPolicy.none && record.subdomainPolicy == nil)
        #expect(record.dkimAlignment == .relaxed && record.spfAlignment == .relaxed)
        #expect(record.percentage == 100 && record.failureOptions == ["0"] && record.reportFormats == ["afrf"])
        #expect(record.reportInterval == 86400 && record.aggregateReports.isEmpty)
    }

    /// (record, is a DMARC record at all)
    static let versions: [(String, Bool)] = [
        ("v=DMARC1; p=none", true), ("v=DMARC1;p=none", true), ("  v = DMARC1 ;  p = none ; ", true),
        ("V=DMARC1; p=none", true), ("v=DMARC1", true),
        ("v=dmarc1; p=none", false), ("v=DMARC2; p=none", false), ("p=none; v=DMARC1", false),
        ("v=spf1 -all", false), ("", false), ("v=DMARC1x; p=none", false), ("DMARC1; p=none", false),
    ]

    @Test("only a record that starts with v=DMARC1 (exactly that value) is a DMARC record", arguments: versions)
    func versionTag(text: String, isRecord: Bool) {
        #expect(DMARCRecord.isDMARCRecord(text) == isRecord)
        #expect((DMARCRecord(text) != nil) == isRecord)
    }

    /// (record, p, problem)
    static let policies: [(String, DMARCPolicy?, String?)] = [
        ("v=DMARC1; p=REJECT", .reject, nil),
        ("v=DMARC1; p=Quarantine", .quarantine, nil),
        ("v=DMARC1", nil, "no p= tag"),
        ("v=DMARC1; p=", nil, "invalid p="),
        ("v=DMARC1; p=block", nil, "invalid p=block"),
        ("v=DMARC1; p=none; sp=maybe", DMARCPolicy.none, "invalid sp=maybe"),
        ("v=DMARC1; p=none; p=reject", DMARCPolicy.none, nil),
    ]

    @Test(
        "p= and sp=: case-insensitive; missing or bad makes the record invalid; a repeated tag: the first",
        arguments: policies
    )
    func policyTags(text: String, policy: DMARCPolicy?, problem: String?) throws {
        let record = try #require(DMARCRecord(text))
        #expect(record.policy == policy)
        #expect(record.problem == problem)
    }

    @Test("an invalid record with a usable rua counts as p=none; without one it is unusable")
    func invalidWithReports() throws {
        let reporting = try #require(DMARCRecord("v=DMARC1; p=bogus; rua=mailto:d@example.com"))
        #expect(reporting.isUsable)
        #expect(reporting.requestedPolicy(fromDomain: "example.com", recordDomain: "example.com") == .none)
        let silent = try #require(DMARCRecord("v=DMARC1; p=bogus; rua=not a uri"))
        #expect(!silent.isUsable)
        #expect(silent.aggregateReports.isEmpty)
    }

    @Test("bad values of the other tags take their defaults; unknown tags and junk pieces are ignored")
    func lenientTags() throws {
        let record = try #require(
            DMARCRecord("v=DMARC1; p=reject; adkim=x; aspf=; pct=101; fo=2; rf=; ri=-1; future=yes; junk; =x")
        )
        #expect(record.problem == nil)
        #expect(record.dkimAlignment == .relaxed && record.spfAlignment == .relaxed)
        #expect(record.percentage == 100 && record.failureOptions == ["0"] && record.reportFormats == ["afrf"])
        #expect(record.reportInterval == 86400)
        #expect(try #require(DMARCRecord("v=DMARC1; p=reject; pct=0")).percentage == 0)
        #expect(try #require(DMARCRecord("v=DMARC1; p=reject; pct=abc")).percentage == 100)
    }

    @Test("report URIs: a scheme required, size suffixes k m g t, absurd sizes capped, bad ones dropped")
    func reportURIs() throws {
        let record = try #require(
            DMARCRecord(
                "v=DMARC1; p=none; rua=mailto:a@x.test!1g,https://r.test/x!2t,mailto:b@x.test!9999999999t,mailto:f@x.test!99999999999999999999999,"
                    + "mailto:c@x.test!,nocolon,:empty,mailto:,mailto:d@x.test!5q, mailto:e@x.test "
            )
        )
        #expect(
            record.aggregateReports == [
                DMARCReportURI(uri: "mailto:a@x.test", sizeLimit: 1 << 30),
                DMARCReportURI(uri: "https://r.test/x", sizeLimit: 2 << 40),
                DMARCReportURI(uri: "mailto:b@x.test", sizeLimit: .max),
                DMARCReportURI(uri: "mailto:e@x.test", sizeLimit: nil),
            ]
        )
    }

    @Test("sp applies to subdomains when the record came from the organisational domain; p to the domain itself")
    func subdomainPolicy() throws {
        let record = try #require(DMARCRecord("v=DMARC1; p=reject; sp=none"))
        #expect(record.requestedPolicy(fromDomain: "example.com", recordDomain: "example.com") == .reject)
        #expect(record.requestedPolicy(fromDomain: "mail.example.com", recordDomain: "example.com") == .none)
        let withoutSP = try #require(DMARCRecord("v=DMARC1; p=quarantine"))
        #expect(withoutSP.requestedPolicy(fromDomain: "mail.example.com", recordDomain: "example.com") == .quarantine)
    }

    @Test("a huge record parses in bounded time and keeps what is valid")
    func hugeRecord() throws {
        let many = (0..<5000).map { "x\($0)=y" }.joined(separator: ";")
        let record = try #require(DMARCRecord("v=DMARC1; p=reject;" + many))
        #expect(record.policy == .reject)
    }
}
