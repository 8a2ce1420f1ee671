import AviaryAuthentication
import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

/// DKIM verification of messages that dkimpy (python3-dkim) signed with keys made for the test, then the
/// same messages changed in ways that must or must not break them, and hostile signatures.
@Suite("DKIM verification, against dkimpy's signatures")
struct DKIMVerifierTests {
    struct Signed {
        var keys: [String: String]
        var messages: [String: [UInt8]]

        func verify(_ name: String, _ change: (inout String) -> Void = { _ in }, zone extra: [String: [ZoneDNS.Record]] = [:])
            -> [DKIMVerification]
        {
            var text = String(decoding: messages[name] ?? [], as: UTF8.self)
            change(&text)
            var zone = keys.mapValues { [ZoneDNS.Record.txt([$0])] }
            zone.merge(extra) { $1 }
            return DKIMVerifier(dns: ZoneDNS(zone)).verify(message: Array(text.utf8))
        }
    }

    static func signed() async throws -> Signed {
        let directory = TemporaryDirectory("dkim-sign")
        let script = String(#filePath.dropLast("DKIMVerifierTests.swift".count)) + "dkim-sign.py"
        let output = directory.path + "/signed.json"
        let errors = directory.path + "/errors"
        let child = try ChildProcess(path: "/usr/bin/python3", arguments: [script, directory.path], standardOutput: output, standardError: errors)
        guard await child.wait(timeout: .seconds(120)) == .exited(0) else {
            _ = await child.terminate(grace: .seconds(1))
            throw TestSupportError("dkim-sign.py failed: \((try? SafeFile.readText(errors)) ?? "")")
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: [String: String]])
        return Signed(
            keys: try #require(object["keys"]),
            messages: try #require(object["messages"]).mapValues { Array(Data(base64Encoded: $0) ?? Data()) })
    }

    @Test("dkimpy's RSA and Ed25519 signatures verify in every canonicalization, with i=, l=, oversigned From and an empty body; changes break exactly what they should")
    func dkimpySignatures() async throws {
        let signed = try await Self.signed()
        for name in ["rsa-relaxed-relaxed", "rsa-simple-simple", "rsa-relaxed-simple-length", "rsa-identity", "rsa-oversigned-from",
                     "ed25519-relaxed-relaxed", "empty-body"] {
            let results = signed.verify(name)
            #expect(results.map(\.result) == [.pass], "\(name): \(results)")
        }
        #expect(signed.verify("two-signatures").map(\.result) == [.pass, .pass])
        let ed = try #require(signed.verify("ed25519-relaxed-relaxed").first)
        #expect(ed.domain == "example.com" && ed.selector == "ed" && ed.algorithm == "ed25519-sha256" && ed.signaturePrefix.count == 8)

        // Re-folding and trailing empty lines: relaxed survives both, simple only the empty lines.
        let refold: (inout String) -> Void = { $0 = $0.replacingOccurrences("Subject:  a  folded\r\n\tsubject \r\n", "Subject: a folded subject\r\n") }
        let moreEmptyLines: (inout String) -> Void = { $0 += "\r\n\r\n" }
        #expect(signed.verify("rsa-relaxed-relaxed", refold).map(\.result) == [.pass])
        #expect(signed.verify("rsa-simple-simple", refold).map(\.result) == [.fail])
        #expect(signed.verify("rsa-simple-simple", moreEmptyLines).map(\.result) == [.pass])
        // l= signs only the body it counted: text appended after it does not break the signature.
        #expect(signed.verify("rsa-relaxed-simple-length", { $0 += "appended by a list server\r\n" }).map(\.result) == [.pass])

        let body = signed.verify("rsa-relaxed-relaxed", { $0 = $0.replacingOccurrences("Hello  Bob", "Hello Eve") })
        #expect(body.map(\.result) == [.fail])
        #expect(body.first?.problem == "body hash did not verify")
        let from = signed.verify("ed25519-relaxed-relaxed", { $0 = $0.replacingOccurrences("alice@example.com>", "ceo@example.com>") })
        #expect(from.first?.problem == "signature did not verify")
        // A second From added on top: the oversigned signature covers "no second From", the plain one does not.
        let addFrom: (inout String) -> Void = { $0 = "From: ceo@bank.example\r\n" + $0 }
        #expect(signed.verify("rsa-oversigned-from", addFrom).map(\.result) == [.fail])
        #expect(signed.verify("rsa-relaxed-relaxed", addFrom).map(\.result) == [.fail])
    }

    @Test("the body given a byte at a time, as smtpd receives it, verifies the same; Authentication-Results names each signature")
    func streamedAndReported() async throws {
        let signed = try await Self.signed()
        let message = try #require(signed.messages["two-signatures"])
        let dns = ZoneDNS(signed.keys.mapValues { [.txt([$0])] })
        let bodyStart = try #require(message.firstRange(of: [13, 10, 13, 10])).upperBound
        var verification = DKIMMessageVerification(verifier: DKIMVerifier(dns: dns), header: Array(message[..<bodyStart]))
        for byte in message[bodyStart...] { verification.update(body: [byte]) }
        let results = verification.finish()
        #expect(results.map(\.result) == [.pass, .pass])
        var field = AuthenticationResults(authservID: "mx.aviary.test")
        field.add(results)
        let text = field.field
        #expect(text.hasPrefix("Authentication-Results: mx.aviary.test;\r\n\tdkim=pass header.d=example.com header.s=rsa header.a=rsa-sha256 header.b="))
        #expect(text.contains(";\r\n\tdkim=pass header.d=example.com header.s=ed header.a=ed25519-sha256 header.b="))
        var none = AuthenticationResults(authservID: "mx.aviary.test")
        none.add([DKIMVerification]())
        #expect(none.field == "Authentication-Results: mx.aviary.test;\r\n\tdkim=none\r\n")
        var failed = AuthenticationResults(authservID: "mx.aviary.test")
        failed.add([DKIMVerification(result: .fail, domain: "x.example", selector: "s", algorithm: "rsa-sha256", signaturePrefix: "abc", problem: "body hash did not verify")])
        #expect(failed.field.contains("dkim=fail (body hash did not verify) header.d=x.example"))
    }

    @Test("keys: missing, revoked, too short, wrong type, DNS failure")
    func keys() async throws {
        let signed = try await Self.signed()
        #expect(signed.verify("short-key").first?.problem == "RSA key of 512 bits (less than 1024)")
        let revoked = signed.verify("rsa-relaxed-relaxed", zone: ["rsa._domainkey.example.com": [.txt(["v=DKIM1; p="])]])
        #expect(revoked.first?.result == .permerror)
        #expect(revoked.first?.problem == "key revoked")
        let wrongType = signed.verify("rsa-relaxed-relaxed", zone: ["rsa._domainkey.example.com": [.txt([signed.keys["ed._domainkey.example.com"]!])]])
        #expect(wrongType.first?.result == .permerror)
        let missing = signed.verify("rsa-relaxed-relaxed", { $0 = $0.replacingOccurrences("s=rsa;", "s=gone;") })
        #expect(missing.first?.result == .permerror)
        let timeout = signed.verify("rsa-relaxed-relaxed", zone: ["rsa._domainkey.example.com": [.timeout]])
        #expect(timeout.first?.result == .temperror)
        #expect(DKIMVerifier(dns: ZoneDNS([:])).verify(message: Array("From: a@b.example\r\n\r\nhi\r\n".utf8)).isEmpty)
    }

    @Test("hostile signatures: absurd l=, thousands of h= names and header fields, fifty signatures, garbage tags")
    func hostile() async throws {
        let bodyHash = String(repeating: "A", count: 43) + "="
        let signed = try await Self.signed()
        let absurd = signed.verify("rsa-relaxed-simple-length", { $0 = $0.replacingOccurrences(" l=", " l=99999999999999999999999999999; x-old-l=") })
        #expect(absurd.first?.result == .permerror, "\(absurd)")
        let beyond = signed.verify("rsa-relaxed-simple-length", { text in
            let range = text.range(of: " l=")!
            let digits = text[range.upperBound...].prefix { $0.isNumber }
            text.replaceSubrange(range.upperBound..<text.index(range.upperBound, offsetBy: digits.count), with: "100000")
        })
        #expect(beyond.first?.result == .fail, "\(beyond)")
        let manyNames = signed.verify("rsa-relaxed-relaxed", { $0 = $0.replacingOccurrences(" h=", " h=" + String(repeating: "x:", count: 5000)) })
        #expect(manyNames.first?.problem?.contains("more than 512") == true, "\(manyNames)")
        let manyFields = signed.verify("rsa-relaxed-relaxed", { $0 = String(repeating: "X-Junk: y\r\n", count: 20000) + $0 })
        #expect(manyFields.map(\.result) == [.pass])
        let fifty = signed.verify("rsa-relaxed-relaxed", { text in
            let signature = String(text[..<text.range(of: "\r\nFrom:")!.lowerBound]) + "\r\n"
            text = String(repeating: signature, count: 50) + text
        })
        #expect(fifty.count == 5)
        for garbage in ["v=1; a=rsa-sha1; b=AA==; bh=AA==; d=x; h=from; s=y", "v=2; a=rsa-sha256", "v=1;;=;", "not a tag list",
                        "v=1; a=rsa-sha256; b=!!; bh=AA==; d=x; h=from; s=y", "v=1; v=1",
                        "v=1; a=rsa-sha256; b=AA==; bh=\(bodyHash); d=x.example; h=to:subject; s=y",
                        "v=1; a=rsa-sha256; b=AA==; bh=\(bodyHash); d=x.example; h=from; s=y; i=a@other.example",
                        "v=1; a=rsa-sha256; b=AA==; bh=\(bodyHash); d=x.example; h=from; s=y; q=https",
                        "v=1; a=rsa-sha256; b=AA==; bh=\(bodyHash); d=x.example; h=from; s=y; c=loose/simple"] {
            let results = DKIMVerifier(dns: ZoneDNS([:])).verify(message: Array("DKIM-Signature: \(garbage)\r\nFrom: a@b.example\r\n\r\nhi\r\n".utf8))
            #expect(results.map(\.result) == [.permerror], "\(garbage)")
        }
        let expired = DKIMVerifier(dns: ZoneDNS([:]), now: { 2_000_000_000 }).verify(
            message: Array("DKIM-Signature: v=1; a=rsa-sha256; b=AA==; bh=\(bodyHash); d=x.example; h=from; s=y; t=1; x=2\r\nFrom: a@x.example\r\n\r\nhi\r\n".utf8))
        #expect(expired.first?.result == .fail && expired.first?.problem == "signature expired", "\(expired)")
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
