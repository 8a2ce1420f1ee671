import AviaryAuthentication
import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

/// Records read by Aviary and by OpenDMARC's `opendmarc-check` (Debian's opendmarc). It asks the system
/// resolver, so it runs in private network and mount namespaces (`unshare`, as root) where a dnsmasq on
/// 127.0.0.1:53 serves the records and /etc/resolv.conf points at it; nothing outside is touched.
@Suite("DMARC records: Aviary and OpenDMARC read them alike")
struct DMARCOpenDMARCTests {
    /// Records both must read the same way.
    static let records = [
        "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=50; rua=mailto:a@x.test!10m,mailto:b@x.test",
        "v=DMARC1; p=none",
        "v=DMARC1; p=quarantine; aspf=s; pct=0; rua=mailto:r@x.test!1g",
        "v=DMARC1;p=reject;sp=none;adkim=r",
        "v=DMARC1; p=reject; fo=1; ri=3600; ruf=mailto:f@x.test; rf=afrf",
    ]
    /// Records whose p= or sp= is bad or missing, without a report address: no policy for either.
    static let invalid = ["v=DMARC1", "v=DMARC1; p=bogus", "v=DMARC1; p=none; sp=bogus"]

    /// Where OpenDMARC 1.4.2 reads otherwise, and why Aviary follows RFC 7489 there: (records at one name,
    /// whether OpenDMARC finds a policy, whether Aviary does).
    static let divergences: [([String], Bool, Bool)] = [
        // 6.3: a bad value of another tag takes its default; OpenDMARC refuses the whole record.
        (["v=DMARC1; p=reject; pct=101"], false, true),
        // 6.4: the version tag comes first; OpenDMARC takes it anywhere.
        (["p=reject; v=DMARC1"], true, false),
        // 6.6.3 step 5: two records are no policy; OpenDMARC takes one of them.
        (["v=DMARC1; p=reject", "v=DMARC1; p=none"], true, false),
    ]

    /// What opendmarc-check printed for each domain: its "Name: value" lines, report URIs under their heading.
    static func opendmarcCheck(_ domains: [String], conf: String) async throws -> [String: [String: String]] {
        let directory = TemporaryDirectory("opendmarc-check")
        try SafeFile.writeDurably(Array(conf.utf8), to: directory.path + "/dnsmasq.conf")
        try SafeFile.writeDurably(Array("nameserver 127.0.0.1\n".utf8), to: directory.path + "/resolv.conf")
        let script = """
            ip link set lo up
            /usr/sbin/dnsmasq --no-daemon --port=53 --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
                --no-hosts --local=/test/ --pid-file= --user=root --conf-file=\(directory.path)/dnsmasq.conf &
            mount --bind \(directory.path)/resolv.conf /etc/resolv.conf
            for i in $(seq 100); do opendmarc-check r0.test >/dev/null 2>&1 && break; sleep 0.1; done
            for domain in \(domains.joined(separator: " ")); do echo "== $domain"; opendmarc-check $domain 2>&1; done
            kill $!
            """
        let output = directory.path + "/output"
        let child = try ChildProcess(
            path: "/usr/bin/unshare",
            arguments: ["--mount", "--net", "/bin/sh", "-c", script],
            standardOutput: output,
            standardError: output
        )
        guard await child.wait(timeout: .seconds(60)) == .exited(0) else {
            _ = await child.terminate(grace: .seconds(1))
            throw TestSupportError("unshare + opendmarc-check failed: \((try? SafeFile.readText(output)) ?? "")")
        }
        var result: [String: [String: String]] = [:]
        var domain = ""
        var heading = ""
        for line in try SafeFile.readText(output).split(separator: "\n") {
            if line.hasPrefix("== ") {
                domain = String(line.dropFirst(3))
                result[domain] = [:]
            } else if line.hasPrefix("opendmarc-check: ") {
                result[domain]?["error"] = String(line)
            } else if line.hasPrefix("\t\t") {
                if line != "\t\t(none)" { result[domain]?[heading, default: ""] += line.dropFirst(2) + " " }
            } else if line.hasPrefix("\t"), let colon = line.firstIndex(of: ":") {
                heading = String(line[line.index(after: line.startIndex)..<colon])
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { result[domain]?[heading] = value }
            }
        }
        return result
    }

    @Test("policy, subdomain policy, alignment, pct and report URIs agree; bad p= or sp= is no policy for both")
    func sameReading() async throws {
        let all = Self.records + Self.invalid
        var conf = all.enumerated().map { "txt-record=_dmarc.r\($0.offset).test,\"\($0.element)\"\n" }.joined()
        for (index, divergence) in Self.divergences.enumerated() {
            conf += divergence.0.map { "txt-record=_dmarc.d\(index).test,\"\($0)\"\n" }.joined()
        }
        let domains = all.indices.map { "r\($0).test" } + Self.divergences.indices.map { "d\($0).test" }
        let printed = try await Self.opendmarcCheck(domains, conf: conf)
        #expect(printed.count == domains.count && printed["r0.test"]?["Sample percentage"] == "50", "\(printed)")
        for (index, text) in Self.records.enumerated() {
            let theirs = try #require(printed["r\(index).test"], "\(text)")
            let ours = try #require(DMARCRecord(text))
            #expect(theirs["error"] == nil, "\(text): \(theirs)")
            #expect(theirs["Domain policy"] == ours.policy?.rawValue, "\(text)")
            #expect(theirs["Subdomain policy"] == (ours.subdomainPolicy?.rawValue ?? "unspecified"), "\(text)")
            #expect(theirs["DKIM alignment"] == (ours.dkimAlignment == .strict ? "strict" : "relaxed"), "\(text)")
            #expect(theirs["SPF alignment"] == (ours.spfAlignment == .strict ? "strict" : "relaxed"), "\(text)")
            #expect(theirs["Sample percentage"] == String(ours.percentage), "\(text)")
            // OpenDMARC prints each URI as written, size suffix included.
            let uris = (theirs["Aggregate report URIs"] ?? "").split(separator: " ").map {
                $0.split(separator: "!").first.map(String.init) ?? ""
            }
            #expect(uris == ours.aggregateReports.map(\.uri), "\(text)")
        }
        for (offset, text) in Self.invalid.enumerated() {
            let theirs = try #require(printed["r\(Self.records.count + offset).test"])
            #expect(theirs["error"] != nil, "\(text): \(theirs)")
            #expect(DMARCRecord(text)?.isUsable == false, "\(text)")
        }
        let list = PublicSuffixList(text: "test")
        for (index, (texts, theirs, ours)) in Self.divergences.enumerated() {
            let opendmarc = try #require(printed["d\(index).test"])
            #expect((opendmarc["error"] == nil) == theirs, "\(texts): \(opendmarc)")
            let zone = ZoneDNS(["_dmarc.d.test": texts.map { ZoneDNS.Record.txt([$0]) }])
            let found = DMARCEvaluator(dns: zone, publicSuffixes: list).lookUpRecord(for: "d.test")
            if case .found(let record, _) = found {
                #expect(ours && record.isUsable, "\(texts)")
            } else {
                #expect(!ours, "\(texts)")
            }
        }
    }
}
