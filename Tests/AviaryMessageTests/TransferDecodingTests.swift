import AviaryMessage
import Testing

@Suite("Content-Transfer-Encoding decoding")
struct TransferDecodingTests {
    @Test("Quoted-printable: escapes in either case, soft breaks, trailing white space, a stray = kept")
    func quotedPrintable() {
        let cases: [(String, String)] = [
            ("caf=C3=A9", "café"),
            ("caf=c3=a9", "café"),
            ("one =\r\ntwo", "one two"),
            ("one=  \r\ntwo=\nthree", "onetwothree"),
            ("trailing   \r\nline", "trailing\r\nline"),
            ("a = b =4", "a = b =4"),
            ("end=", "end"),
            ("=00", "\u{0}"),
        ]
        for (encoded, decoded) in cases {
            #expect(QuotedPrintable.decode(Array(encoded.utf8)) == Array(decoded.utf8), "\(encoded.debugDescription)")
        }
    }

    @Test("Quoted-printable decoding undoes encoding")
    func quotedPrintableRoundTrip() {
        let body: [UInt8] = Array("Grüße = 100%\t\r\nline two \r\n".utf8) + [0, 1, 200]
        #expect(QuotedPrintable.decode(QuotedPrintable.encode(body)) == body)
    }

    @Test("A base64 body: folded lines, characters outside the alphabet ignored, a short last quantum kept")
    func base64Body() {
        #expect(Base64.decodeBody(Array("AAEC\r\n/w==\r\n".utf8)) == [0, 1, 2, 255])
        #expect(Base64.decodeBody(Array("aGVs!bG8".utf8)) == Array("hello".utf8))
        #expect(Base64.decodeBody(Array("aGVsbA".utf8)) == Array("hell".utf8))
        #expect(Base64.decodeBody(Array("aGVsbA==trailing".utf8)) == Array("hell".utf8))
        #expect(Base64.decodeBody([]) == [])
        #expect(Base64.decodeBody(Array("a".utf8)) == [])
    }
}
