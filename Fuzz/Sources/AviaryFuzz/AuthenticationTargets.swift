import AviaryAuthentication
import AviaryDNS
import AviaryMessage

/// SPF records as a domain publishes them, evaluated against a small table DNS, and the header fields and
/// forged-verdict check that follow: any record must give a defined result after a bounded number of
/// look-ups, and nothing a record or an address says may break out of a header field.
enum AuthenticationTargets {
    /// Input: LF-separated lines; the first is a.test's TXT record, the next ones b.test's, c.test's, ...
    /// (so include:, redirect= and exp= have somewhere to go), the last also serves as a sender address.
    static func spf(_ bytes: [UInt8]) {
        let records = lines(of: bytes).prefix(8).map(Array.init)
        let names = ["a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test", "h.test"]
        let dns = TableDNS(txt: Dictionary(uniqueKeysWithValues: zip(names, records.map { [$0] })))
        let sender = String(decoding: records.last ?? [], as: UTF8.self)
        for client in ["192.0.2.1", "2001:db8::1"] {
            let checker = SPFChecker(dns: dns, receiver: "mx.aviary.test", now: { 0 })
            for outcome in [
                checker.checkMailFrom(sender: "user@a.test", helo: "b.test", client: client),
                checker.checkMailFrom(sender: sender, helo: sender, client: client),
            ] {
                let fields = outcome.receivedSPFField(receiver: "mx.aviary.test")
                var results = AuthenticationResults(authservID: "mx.aviary.test")
                results.add(outcome)
                for field in [fields, results.field] { requireOnlyFolding(field) }
                require(AuthenticationResults.isClaimed(Array(results.field.utf8.dropFirst(23)), by: "mx.aviary.test"),
                    "our own field does not claim our id")
            }
        }
        // One evaluation looks up at most: 10 terms, each an MX/PTR walk of 10 names, plus records and exp.
        require(dns.queries.value <= 2 * 2 * 150, "\(dns.queries.value) DNS queries")
        _ = AuthenticationResults.isClaimed(bytes, by: "mx.aviary.test")
        _ = AuthenticationResults.removingClaimedFields(from: bytes, authservID: "mx.aviary.test")
    }
}

/// TXT records by name; every other name has A 192.0.2.1 and AAAA 2001:db8::1, MX and PTR to a.test.
final class TableDNS: SPFDNS, Sendable {
    let txt: [String: [[UInt8]]]
    let queries = Counter()

    final class Counter: @unchecked Sendable {
        // @unchecked Sendable: one fuzz input runs on one thread.
        var value = 0
    }

    init(txt: [String: [[UInt8]]]) { self.txt = txt }

    func txtRecords(_ name: String) -> DNSLookup<[[UInt8]]> {
        queries.value += 1
        return txt[name.lowercased()].map { .found($0) } ?? .notFound
    }

    func addresses(_ host: String, ipv6: Bool) -> DNSLookup<[String]> {
        queries.value += 1
        return host.hasPrefix("void") ? .noData : .found([ipv6 ? "2001:db8::1" : "192.0.2.1"])
    }

    func mxRecords(_ domain: String) -> DNSLookup<[MXRecord]> {
        queries.value += 1
        return .found([MXRecord(preference: 10, host: "a.test")])
    }

    func pointerNames(of address: String) -> DNSLookup<[String]> {
        queries.value += 1
        return .found(["a.test", "mail.b.test"])
    }
}

extension AuthenticationTargets {
    /// A message as smtpd would hand it to DKIM verification: every signature gets a defined result, the
    /// result does not depend on how the body was cut into pieces, and canonicalizing in pieces gives the
    /// same bytes as canonicalizing at once. The key of `ed._domainkey.example.com` is the one the seed was
    /// signed with, so the seed verifies and mutations of it reach the signature checks.
    static func dkim(_ bytes: [UInt8]) {
        let dns = TableDNS(txt: [
            "ed._domainkey.example.com": [Array("v=DKIM1; k=ed25519; p=iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=".utf8)],
        ])
        let verifier = DKIMVerifier(dns: dns, now: { 1_796_680_005 })
        let whole = verifier.verify(message: bytes)
        let header = MIMEHeaderSection(message: bytes)
        var streaming = DKIMMessageVerification(verifier: verifier, header: Array(bytes[..<header.bodyStart]))
        for piece in pieces(of: bytes[header.bodyStart...], seed: bytes.first ?? 0) { streaming.update(body: piece) }
        let streamed = streaming.finish()
        require(whole == streamed, "streamed \(streamed) differs from whole \(whole)")
        require(whole.count <= DKIMLimits().signatures, "\(whole.count) signatures checked")
        var results = AuthenticationResults(authservID: "mx.aviary.test")
        results.add(whole)
        requireOnlyFolding(results.field)
        let body = bytes[header.bodyStart...]
        for algorithm in DKIMCanonicalization.allCases {
            let once = algorithm.canonicalize(body: body)
            var canonicalizer = DKIMBodyCanonicalizer(algorithm)
            var inPieces: [UInt8] = []
            for piece in pieces(of: body, seed: bytes.last ?? 0) { canonicalizer.update(piece) { inPieces += $0 } }
            canonicalizer.finish { inPieces += $0 }
            require(once == inPieces, "\(algorithm) canonicalization depends on the pieces")
        }
        for field in header.fields.prefix(64) {
            _ = DKIMCanonicalization.relaxed.canonicalize(field: bytes[field.range])
        }
    }
}

/// A header field ends in CRLF and has no other line end than folding (CRLF, then a tab).
private func requireOnlyFolding(_ field: String) {
    let bytes = Array(field.utf8)
    require(bytes.suffix(2) == [13, 10], "no CRLF at the end of \(field.debugDescription)")
    let inner = bytes.dropLast(2)
    for index in inner.indices {
        if inner[index] == 13 {
            require(
                index + 2 < inner.endIndex && inner[index + 1] == 10 && inner[index + 2] == 9,
                "a CR that is not folding in \(field.debugDescription)")
        } else if inner[index] == 10 {
            require(index > inner.startIndex && inner[index - 1] == 13, "a bare LF in \(field.debugDescription)")
        }
    }
}

extension AuthenticationTargets {
    /// DMARC for a message: the first line is the TXT record at `_dmarc.example.test` (and at the From:
    /// domain's name), the rest the message's header section. Also read as a Public Suffix List, and each line
    /// as a domain name. Every input gives a defined verdict after at most two look-ups, and its header text
    /// and rejection text stay within one field.
    /// Read once: the list takes longer to parse than a whole evaluation.
    static let debianPublicSuffixList = try? PublicSuffixList(path: PublicSuffixList.debianPath)

    static func dmarc(_ bytes: [UInt8]) {
        let parts = lines(of: bytes)
        let record = Array(parts.first ?? [])
        let header = Array(bytes.drop { $0 != UInt8(ascii: "\n") }.dropFirst())
        let list = PublicSuffixList(text: String(decoding: bytes, as: UTF8.self))
        for line in parts.prefix(16) {
            let name = String(decoding: line, as: UTF8.self)
            if let labels = DomainName.aLabels(name) {
                require(labels.utf8.count <= DomainName.maximumLength && labels.utf8.allSatisfy { $0 < 0x80 }, "\(labels)")
            }
            _ = list.registrableDomain(of: name)
            _ = list.organizationalDomain(of: name)
        }
        var names = ["_dmarc.example.test": [record]]
        if case .domain(let domain) = DMARCAuthor(header: header) { names["_dmarc." + domain] = [record] }
        let dns = TableDNS(txt: names)
        let standard = debianPublicSuffixList ?? list
        let evaluator = DMARCEvaluator(dns: dns, publicSuffixes: standard, random: { 50 })
        let spf = SPFOutcome(result: .pass, domain: "mail.example.test")
        let dkim = [DKIMVerification(result: .pass, domain: "example.test", selector: "s", algorithm: "", signaturePrefix: "")]
        for verdict in [evaluator.evaluate(header: header, spf: spf, dkim: dkim), evaluator.evaluate(header: header, spf: nil, dkim: [])] {
            var results = AuthenticationResults(authservID: "mx.aviary.test")
            results.add(verdict)
            requireOnlyFolding(results.field)
            require(!verdict.rejectionText.utf8.contains { $0 < 32 || $0 > 126 }, verdict.rejectionText.debugDescription)
        }
        require(dns.queries.value <= 4, "\(dns.queries.value) DNS queries")
        _ = DMARCRecord(String(decoding: record, as: UTF8.self))
    }
}
