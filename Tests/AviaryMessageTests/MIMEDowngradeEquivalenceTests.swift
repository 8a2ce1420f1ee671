import Testing

@testable import AviaryMessage

/// The converter over the `MIMEEntity` tree against the walk it replaced: same output, same problems.
@Suite("MIME downgrade over the MIME tree gives what the old walk gave")
struct MIMEDowngradeEquivalenceTests {
    static func legacy(_ message: [UInt8], depthLimit: Int) -> MIMEDowngrade.Result {
        var converter = MIMEDowngradeLegacyConverter(input: message, depthLimit: depthLimit)
        converter.run()
        return MIMEDowngrade.Result(
            message: converter.output,
            isChanged: converter.isChanged,
            problems: converter.problems
        )
    }

    static func mismatch(_ message: [UInt8], depthLimit: Int = MIMEDowngrade.defaultDepthLimit) -> String? {
        let old = legacy(message, depthLimit: depthLimit)
        let new = MIMEDowngrade.sevenBit(message, depthLimit: depthLimit)
        guard old.message != new.message || old.problems != new.problems || old.isChanged != new.isChanged else {
            return nil
        }
        return """
            input: \(String(reflecting: String(decoding: message, as: UTF8.self)))
            old:   \(String(reflecting: String(decoding: old.message, as: UTF8.self))) \(old.problems)
            new:   \(String(reflecting: String(decoding: new.message, as: UTF8.self))) \(new.problems)
            """
    }

    /// Parts whose header or delimiter line is the line before the next delimiter, lone CRs, mixed line ends.
    static let tricky: [String] = [
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n--b--\r\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n--b--\r\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\r\n--b--",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\r\n--b--",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: y\r\n\r\r\né\r\n--b--",
        "Content-Type: multipart/mixed; boundary=b\n\n--b\né\n--b\n\n--b--\n",
        "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n--b\n--b--\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\n" + String(repeating: "é", count: 60) + "\r\n--b--",
        "Content-Type: multipart/mixed; boundary=b\n\n--b\r\n" + String(repeating: "é", count: 60) + "\n--b--",
        "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\né\n--i--\n--o--\n",
        "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\né\n--i\n--o--\n",
        "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\né\r\n--i\r\r\n--o--\r\n",
        "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\né\r\n--i--\r\r\n--o--\r\n",
        "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\nSubject: x\n--o\nContent-Type: message/rfc822\n\nSubject: é\nCTE: 8bit\n--o--\n",
        "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\nContent-Transfer-Encoding: 8bit\n--o--\n",
        "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=i\n\n--i\n--o--\n",
        "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: x\n\né\n--d\nContent-Transfer-Encoding: 8bit\n--d--\n",
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/global\nContent-Transfer-Encoding: 8bit\n\nSubject: é\n\né\n--b--\n",
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed\n\né\n--b--\n",
        "Content-Type: multipart/mixed; boundary=b\n\npré\n--b\n\nx\n--b--\npost é\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\né\r\n--b-- \r\n",
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: binary\r\n\r\nSubject: é\r\n\r\nbody é",
        "Content-Transfer-Encoding: 8bit\nSubject: x",
        "Subject: x\r\n \r\n folded é\r\n\r\nbody",
        "\r\n\r\né",
        "é",
        "\r",
    ]

    @Test("tricky inputs, and every prefix of them and of every fixture, give the same output")
    func trickyInputs() {
        for text in Self.tricky + MIMEFixtures.all {
            let bytes = Array(text.utf8)
            for length in 0...bytes.count {
                let mismatch = Self.mismatch(Array(bytes[..<length]))
                #expect(mismatch == nil, "\(mismatch ?? "")")
            }
        }
    }

    @Test("nesting around the depth limit gives the same output")
    func depthLimits() {
        for text in Self.tricky + MIMEFixtures.all {
            for depthLimit in 0...3 {
                let mismatch = Self.mismatch(Array(text.utf8), depthLimit: depthLimit)
                #expect(mismatch == nil, "\(mismatch ?? "")")
            }
        }
    }

    /// Messages put together at random out of lines that matter to MIME.
    @Test("20,000 random messages made of MIME-significant lines give the same output")
    func randomMessages() {
        let lines: [String] = [
            "Content-Type: multipart/mixed; boundary=a", "Content-Type: multipart/digest; boundary=b",
            "Content-Type: multipart/alternative;", " boundary=a", "Content-Type: message/rfc822",
            "Content-Type: message/global", "Content-Type: text/plain", "Content-Transfer-Encoding: 8bit",
            "Content-Transfer-Encoding: binary", "Content-Transfer-Encoding: base64", "MIME-Version: 1.0",
            "Subject: é", "X: y", "", "", "", "--a", "--a", "--a--", "--b", "--b", "--b--", "--a \t", "body",
            "body é", "\r", "no header line", String(repeating: "é", count: 40), " continued",
        ]
        let lineEnds = ["\n", "\r\n", "\r\n", "\n", "\r\r\n", ""]
        var random = SplitMix64(seed: 2024)
        var mismatches = 0
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<(1 + random.next() % 24) {
                text += lines[Int(random.next() % UInt64(lines.count))]
                text += lineEnds[Int(random.next() % UInt64(lineEnds.count))]
            }
            if let mismatch = Self.mismatch(Array(text.utf8), depthLimit: Int(random.next() % 5)) {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(mismatch)") }
            }
        }
        #expect(mismatches == 0)
    }
}

/// A small seeded generator, so the random messages are the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1330_11EB
        return z ^ (z >> 31)
    }
}
