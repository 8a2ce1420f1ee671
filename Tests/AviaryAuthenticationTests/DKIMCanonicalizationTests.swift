import AviaryAuthentication
import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

/// DKIM canonicalization against RFC 6376's rules, edge cases named in issue 15, and dkimpy (python3-dkim) on
/// the same inputs, byte for byte, whole and fed in pieces.
@Suite("DKIM canonicalization")
struct DKIMCanonicalizationTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("RFC 6376 3.4.5's example, both algorithms")
    func rfcExample() {
        let fields = ["A: X\r\n", "B : Y\t\r\n\tZ  \r\n"]
        let body = "  C \r\nD \t E\r\n\r\n\r\n"
        #expect(fields.map { DKIMCanonicalization.relaxed.canonicalize(field: Self.bytes($0)) } == [Self.bytes("a:X\r\n"), Self.bytes("b:Y Z\r\n")])
        #expect(DKIMCanonicalization.relaxed.canonicalize(body: Self.bytes(body)) == Self.bytes(" C\r\nD E\r\n"))
        #expect(fields.map { DKIMCanonicalization.simple.canonicalize(field: Self.bytes($0)) } == fields.map(Self.bytes))
        #expect(DKIMCanonicalization.simple.canonicalize(body: Self.bytes(body)) == Self.bytes("  C \r\nD \t E\r\n"))
    }

    @Test("empty bodies: simple is one CRLF, relaxed is nothing; white space only and CRLFs only count as empty")
    func emptyBodies() {
        for body in ["", "\r\n", "\r\n\r\n\r\n"] {
            #expect(DKIMCanonicalization.simple.canonicalize(body: Self.bytes(body)) == [13, 10])
            #expect(DKIMCanonicalization.relaxed.canonicalize(body: Self.bytes(body)).isEmpty)
        }
        #expect(DKIMCanonicalization.relaxed.canonicalize(body: Self.bytes(" \t\r\n\t\r\n")).isEmpty)
        #expect(DKIMCanonicalization.simple.canonicalize(body: Self.bytes(" \r\n")) == Self.bytes(" \r\n"))
        #expect(DKIMCanonicalization.simple.canonicalize(body: Self.bytes("no line end")) == Self.bytes("no line end\r\n"))
    }

    /// Edge cases, then pseudo-random bodies and fields over the bytes that matter (SP, HTAB, CR, LF, a letter,
    /// a colon), reproducible from a fixed seed.
    static func inputs() -> (fields: [[UInt8]], bodies: [[UInt8]]) {
        var fields = [
            "Subject: hello\r\n", "SUBJECT :  two   words \t\r\n", "X-Folded: a\r\n\tb\r\n  c\r\n", "Empty:\r\n",
            "Empty-Spaces:   \r\n", "To: a@b.example,\r\n c@d.example\r\n", "X-Tab:\tvalue\t\r\n", "X-Colons: a:b : c\r\n",
            "X-Bare-CR: a\rb\r\n", "X-VT: \u{0B}a\u{0B} \r\n", "Name\t: value\r\n",
        ].map(bytes)
        var bodies = [
            "", "\r\n", "a", "a\r\n", "a \r\n", "a\t\r\n\r\n", " a\r\n", "a  b\r\n", "a\r\n \r\n", "a\r\n\t\r\n\r\nb\r\n",
            "a\rb\r\n", "a\r", "a \r", "a\n", "a\n\n", "a \n", "\r\r\n", "a ", "a\r\n ", "line\r\n\r\n \r\n\t\r\n",
        ].map(bytes)
        var state: UInt64 = 0x5eed
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        let alphabet: [[UInt8]] = [[32], [9], [13], [10], [13, 10], [13, 10], [97], [98], [58], [32, 32]]
        for _ in 0..<300 { bodies.append((0..<(next() % 24)).flatMap { _ in alphabet[next() % alphabet.count] }) }
        for _ in 0..<200 {
            var field = bytes("X-R" + String(next() % 10) + ":")
            field += (0..<(next() % 12)).flatMap { _ in [[32], [9], [97], [98], [13, 10, 9], [13, 10, 32]][next() % 6] }
            fields.append(field + [13, 10])
        }
        return (fields, bodies)
    }

    @Test("every input canonicalizes as dkimpy does; bodies fed in pieces give the same bytes")
    func dkimpy() async throws {
        let (fields, bodies) = Self.inputs()
        let directory = TemporaryDirectory("dkim-canon")
        let input = directory.path + "/input.json"
        let json = try JSONSerialization.data(withJSONObject: [
            "fields": fields.map { Data($0).base64EncodedString() }, "bodies": bodies.map { Data($0).base64EncodedString() },
        ])
        try SafeFile.writeDurably(Array(json), to: input)
        let script = String(#filePath.dropLast("DKIMCanonicalizationTests.swift".count)) + "dkim-canonicalize.py"
        let output = directory.path + "/output.json"
        let errors = directory.path + "/errors"
        let child = try ChildProcess(path: "/usr/bin/python3", arguments: [script, input], standardOutput: output, standardError: errors)
        guard await child.wait(timeout: .seconds(60)) == .exited(0) else {
            _ = await child.terminate(grace: .seconds(1))
            throw TestSupportError("dkim-canonicalize.py failed: \((try? SafeFile.readText(errors)) ?? "")")
        }
        let result = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: [String: [String]]])
        for algorithm in DKIMCanonicalization.allCases {
            let theirFields = try #require(result["fields"]?[algorithm.rawValue]).map { Array(Data(base64Encoded: $0)!) }
            let theirBodies = try #require(result["bodies"]?[algorithm.rawValue]).map { Array(Data(base64Encoded: $0)!) }
            for (field, theirs) in zip(fields, theirFields) {
                let ours = algorithm.canonicalize(field: field)
                #expect(ours == theirs, "\(algorithm) field \(String(decoding: field, as: UTF8.self).debugDescription): \(String(decoding: ours, as: UTF8.self).debugDescription) vs \(String(decoding: theirs, as: UTF8.self).debugDescription)")
            }
            for (index, (body, theirs)) in zip(bodies, theirBodies).enumerated() {
                let ours = algorithm.canonicalize(body: body)
                #expect(ours == theirs, "\(algorithm) body \(String(decoding: body, as: UTF8.self).debugDescription): \(String(decoding: ours, as: UTF8.self).debugDescription) vs \(String(decoding: theirs, as: UTF8.self).debugDescription)")
                // The same body in pieces of 1 to 3 bytes.
                var canonicalizer = DKIMBodyCanonicalizer(algorithm)
                var pieces: [UInt8] = []
                var start = 0
                while start < body.count {
                    let end = min(body.count, start + 1 + (start + index) % 3)
                    canonicalizer.update(body[start..<end]) { pieces += $0 }
                    start = end
                }
                canonicalizer.finish { pieces += $0 }
                #expect(pieces == ours, "\(algorithm) body in pieces \(String(decoding: body, as: UTF8.self).debugDescription)")
            }
        }
        #expect(fields.count > 200 && bodies.count > 300)
    }
}
