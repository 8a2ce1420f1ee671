import AviaryAuthentication
import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

/// The published RFC 7208 test suite (openspf.org 2014.04, shipped by Debian's python3-spf), run through Aviary's
/// evaluator with a table DNS built from the suite's zone data, and compared with pyspf run on the same cases
/// by `rfc7208-suite.py`.
///
/// Where the suite allows several results, any of them passes; the cases where Aviary and pyspf pick different
/// allowed results would be listed in `allowedDifferences` with the reason. There are none: in the six cases with
/// alternatives Aviary answers as pyspf does: multispf1 permerror (two records), invalid-domain-empty-label,
/// invalid-domain-long and invalid-domain-long-via-macro fail (a name that cannot be asked about is a void
/// look-up, not an error), p-macro-multiple pass, ptr-limit neutral (PTR names past the tenth are ignored).
@Suite("RFC 7208 test suite, cross-checked with pyspf")
struct RFC7208SuiteTests {
    struct Case {
        var scenario: String
        var id: String
        var helo: String
        var host: String
        var mailFrom: String
        var results: [String]
        var explanation: String?
        var pyspf: (result: String, explanation: String?)
    }

    /// Cases where the suite accepts more than one result and Aviary's choice differs from pyspf's.
    static let allowedDifferences: [String: String] = [:]

    /// Cases whose explanation Aviary writes differently from the suite, and why that is right too.
    static let explanationsEqualIgnoringCase: [String: String] = [
        // The client is given as "CAFE:BABE::1"; pyspf keeps the case of the text it was handed, Aviary
        // writes nibbles in lower case as RFC 7208 7.3's own example does (DNS names are case-insensitive).
        "v-macro-ip6": "%{ir} nibbles of an IPv6 address"
    ]

    /// Runs the converter (python3-spf and python3-yaml, from scripts/install-deps.sh) and reads its JSON.
    static func load() async throws -> [(ZoneDNS, [Case])] {
        let directory = TemporaryDirectory("rfc7208")
        let script = String(#filePath.dropLast("RFC7208SuiteTests.swift".count)) + "rfc7208-suite.py"
        let output = directory.path + "/suite.json"
        let errors = directory.path + "/errors"
        let child = try ChildProcess(path: "/usr/bin/python3", arguments: [script], standardOutput: output, standardError: errors)
        let status = await child.wait(timeout: .seconds(120))
        guard status == .exited(0) else {
            _ = await child.terminate(grace: .seconds(1))
            throw TestSupportError("rfc7208-suite.py failed: \((try? SafeFile.readText(errors)) ?? "")")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let scenarios = root["scenarios"] as? [[String: Any]]
        else { throw TestSupportError("rfc7208-suite.py printed no scenarios") }
        return scenarios.map { scenario in
            let description = scenario["description"] as? String ?? ""
            var zone: [String: [ZoneDNS.Record]] = [:]
            for (name, entries) in scenario["zone"] as? [String: [[Any]]] ?? [:] {
                zone[name] = entries.compactMap(record)
            }
            let cases = (scenario["tests"] as? [[String: Any]] ?? []).map { test in
                let pyspf = test["pyspf"] as? [Any] ?? []
                return Case(
                    scenario: description, id: test["id"] as? String ?? "", helo: test["helo"] as? String ?? "",
                    host: test["host"] as? String ?? "", mailFrom: test["mailfrom"] as? String ?? "",
                    results: test["results"] as? [String] ?? [], explanation: test["explanation"] as? String,
                    pyspf: (pyspf.first as? String ?? "", pyspf.last as? String))
            }
            return (ZoneDNS(zone), cases)
        }
    }

    /// One `[type, value]` entry of the converter's zone.
    static func record(_ entry: [Any]) -> ZoneDNS.Record? {
        guard let type = entry.first as? String else { return nil }
        let value = entry.count > 1 ? entry[1] : nil
        if value as? String == "TIMEOUT" { return .typeTimeout(type) }
        switch type {
        case "TIMEOUT": return .timeout
        case "TXT": return (value as? [String]).map { .txt($0) }
        case "A": return (value as? String).map { .a($0) }
        case "AAAA": return (value as? String).map { .aaaa($0) }
        case "PTR": return (value as? String).map { .ptr($0) }
        case "CNAME": return (value as? String).map { .cname($0) }
        case "MX":
            guard let pair = value as? [Any], pair.count == 2, let host = pair[1] as? String else { return nil }
            return .mx((pair[0] as? Int) ?? 0, host)
        default: return nil
        }
    }

    @Test("every case gets a result the suite allows, the suite's explanation, and pyspf's result or a documented alternative")
    func suite() async throws {
        let scenarios = try await Self.load()
        var count = 0
        for (dns, cases) in scenarios {
            let checker = SPFChecker(dns: dns, receiver: "receiver.example.net")
            for test in cases {
                count += 1
                let outcome = checker.checkMailFrom(sender: test.mailFrom, helo: test.helo, client: test.host)
                let result = outcome.result.rawValue
                let label = "\(test.id) (\(test.scenario)): \(result) \(outcome.problem ?? "")"
                #expect(test.results.contains(result), "\(label); the suite allows \(test.results)")
                if let explanation = test.explanation, result == "fail" {
                    var ours = outcome.explanation ?? "DEFAULT"
                    var theirs = explanation
                    if Self.explanationsEqualIgnoringCase[test.id] != nil { (ours, theirs) = (ours.lowercased(), theirs.lowercased()) }
                    #expect(ours == theirs, "\(label): explanation \(outcome.explanation ?? "none")")
                }
                if result != test.pyspf.result {
                    #expect(Self.allowedDifferences[test.id] != nil, "\(label); pyspf says \(test.pyspf.result)")
                }
            }
        }
        #expect(count >= 200, "the suite has \(count) cases")
    }
}
