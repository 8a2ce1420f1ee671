import AviaryAuthentication
import AviaryCore
import AviaryTestSupport
import Testing

@Suite("Received-SPF and Authentication-Results")
struct HeaderTests {
    static let pass = SPFChecker(dns: ZoneDNS(["example.com": [.txt(["v=spf1 ip4:192.0.2.0/24 -all"])]]))
        .checkMailFrom(sender: "alice@example.com", helo: "mail.example.com", client: "192.0.2.1")

    @Test("Received-SPF: the RFC 7208 9.1 layout, folded, CRLF")
    func receivedSPF() {
        #expect(
            Self.pass.receivedSPFField(receiver: "mx.aviary.test") == """
                Received-SPF: pass (mx.aviary.test: domain of alice@example.com designates 192.0.2.1 as permitted sender)\r
                \tclient-ip=192.0.2.1;\r
                \tenvelope-from="alice@example.com";\r
                \thelo=mail.example.com;\r
                \treceiver=mx.aviary.test;\r
                \tidentity=mailfrom;\r
                \tmechanism="ip4:192.0.2.0/24"\r

                """)
    }

    @Test("Authentication-Results: authserv-id, spf=result, smtp.mailfrom or smtp.helo; none without statements")
    func authenticationResults() {
        var results = AuthenticationResults(authservID: "mx.aviary.test")
        results.add(Self.pass)
        #expect(
            results.field == """
                Authentication-Results: mx.aviary.test;\r
                \tspf=pass (mx.aviary.test: domain of alice@example.com designates 192.0.2.1 as permitted sender)\r
                \tsmtp.mailfrom=alice@example.com\r

                """)
        let helo = SPFChecker(dns: ZoneDNS([:])).checkMailFrom(sender: "", helo: "client.example", client: "192.0.2.1")
        var heloResults = AuthenticationResults(authservID: "mx.aviary.test")
        heloResults.add(helo)
        #expect(heloResults.field.contains("spf=none (mx.aviary.test: HELO domain client.example does not provide an SPF record)\r\n\tsmtp.helo=client.example\r\n"))
        #expect(AuthenticationResults(authservID: "mx.aviary.test").field == "Authentication-Results: mx.aviary.test; none\r\n")
    }

    @Test("what a client or a publisher chose cannot break out of a value or a comment")
    func hostileValues() {
        var outcome = Self.pass
        outcome.sender = "\"we;ird\r\nX-Injected: yes\"@example.com"
        outcome.result = .permerror
        outcome.problem = "bad (record)\r\nX-Injected: yes"
        let received = outcome.receivedSPFField(receiver: "mx.aviary.test")
        var results = AuthenticationResults(authservID: "mx.aviary.test")
        results.add(outcome)
        for field in [received, results.field] {
            let lines = field.split(separator: "\r\n")
            #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("\t") }, "\(field)")
            #expect(field.hasSuffix("\r\n"))
            let unfolded = field.dropLast(2).replacingOccurrences("\r\n\t", "")
            #expect(!unfolded.contains("\r") && !unfolded.contains("\n"), "\(unfolded)")
        }
    }

    @Test("forged verdicts: fields naming our authserv-id go (any case, after comments, quoted, versioned, folded); others stay")
    func forgedFieldsRemoved() {
        let message = """
            Authentication-Results: MX.Aviary.Test; spf=pass smtp.mailfrom=ceo@bank.example\r
            Received: from elsewhere\r
            Authentication-Results: (forged) mx.aviary.test 1;\r
            \tdkim=pass header.d=bank.example\r
            Authentication-Results: "mx.aviary.test"; dmarc=pass\r
            Authentication-Results: mx.other.example; spf=fail smtp.mailfrom=x@y.example\r
            Authentication-Results: mx.aviary.test.evil.example; spf=pass\r
            Subject: hi\r
            \r
            Authentication-Results: mx.aviary.test; this is the body\r

            """
        let cleaned = String(
            decoding: AuthenticationResults.removingClaimedFields(from: Array(message.utf8), authservID: "mx.aviary.test"),
            as: UTF8.self)
        #expect(
            cleaned == """
                Received: from elsewhere\r
                Authentication-Results: mx.other.example; spf=fail smtp.mailfrom=x@y.example\r
                Authentication-Results: mx.aviary.test.evil.example; spf=pass\r
                Subject: hi\r
                \r
                Authentication-Results: mx.aviary.test; this is the body\r

                """)
        #expect(!AuthenticationResults.isClaimed(Array("".utf8), by: "mx.aviary.test"))
        #expect(!AuthenticationResults.isClaimed(Array("(unterminated mx.aviary.test".utf8), by: "mx.aviary.test"))
    }

    @Test("independent parsers read the fields: pyspf's parse_header_spf and the authres library")
    func independentParsers() async throws {
        var results = AuthenticationResults(authservID: "mx.aviary.test")
        results.add(Self.pass)
        let directory = TemporaryDirectory("spf-headers")
        let script = """
            import sys, authres, spf
            received, authentication = open(sys.argv[2]).read().split("\\0")
            value = received.split(":", 1)[1].replace("\\r\\n", "")
            query = spf.query("0.0.0.0", "", "")
            query.parse_header_spf(value.strip())
            print(query.result, query.i, query.s, query.h, query.mechanism)
            header = authres.AuthenticationResultsHeader.parse(authentication.replace("\\r\\n", ""))
            for result in header.results:
                print(header.authserv_id, result.method, result.result,
                      [(p.type, p.name, p.value) for p in result.properties])
            """
        try SafeFile.writeDurably(
            Array((Self.pass.receivedSPFField(receiver: "mx.aviary.test") + "\0" + results.field).utf8),
            to: directory.path + "/fields")
        let output = try await runPythonClient(script, in: directory.path, port: 0, arguments: [directory.path + "/fields"])
        #expect(
            output == """
                pass 192.0.2.1 alice@example.com mail.example.com ip4:192.0.2.0/24
                mx.aviary.test spf pass [('smtp', 'mailfrom', 'alice@example.com')]

                """)
    }
}

extension StringProtocol {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
