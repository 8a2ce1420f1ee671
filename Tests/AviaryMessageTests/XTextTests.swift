@testable import AviaryMessage
import Testing

@Suite("XText")
struct XTextTests {
    @Test("encodes +, =, controls, space and non-ASCII as +XX")
    func encode() {
        #expect(XText.encode("plain") == "plain")
        #expect(XText.encode("a+b=c d") == "a+2Bb+3Dc+20d")
        #expect(XText.encode("\r\n") == "+0D+0A")
        #expect(XText.encode("ö") == "+C3+B6")
        #expect(XText.encode("") == "")
    }

    @Test("decodes xtext, also with lower-case hex digits")
    func decode() {
        #expect(XText.decode("a+2Bb+3Dc+20d") == "a+b=c d")
        #expect(XText.decode("QQ314159") == "QQ314159")
        #expect(XText.decode("+c3+b6") == "ö")
        #expect(XText.decode("") == "")
    }

    @Test("refuses what is not xtext", arguments: ["+", "+4", "+GG", "a=b", "a b", "ö", "a\u{7F}", "\t"])
    func refuses(text: String) {
        #expect(XText.decode(text) == nil)
    }

    @Test("refuses octets that are not UTF-8 when a string is asked for")
    func notUTF8() {
        #expect(XText.decode("+FF") == nil)
        #expect(XText.decode(bytes: "+FF".utf8) == [0xFF])
    }

    @Test("every octet survives encode then decode")
    func roundTrip() {
        let bytes = (0...255).map { UInt8($0) }
        let encoded = XText.encode(bytes: bytes)
        #expect(encoded.utf8.allSatisfy { (33...126).contains($0) && $0 != UInt8(ascii: "=") })
        #expect(XText.decode(bytes: encoded.utf8) == bytes)
    }

    @Test("RFC 6533 UTF-8 address text")
    func utf8Address() {
        #expect(XText.encodeUTF8Address("jörg+x@example.com") == "j\\x{F6}rg\\x{2B}x@example.com")
        #expect(XText.decodeUTF8Address("j\\x{F6}rg\\x{2B}x@example.com") == "jörg+x@example.com")
        #expect(XText.decodeUTF8Address("jörg@bücher.example") == "jörg@bücher.example")
        #expect(XText.decodeUTF8Address("a+2Bb@example.com") == "a+b@example.com")
        #expect(XText.decodeUTF8Address("\\x{1F600}@example.com") == "😀@example.com")
        for bad in ["\\x{}", "\\x{D800}", "\\x{110000}", "\\x{1234567}", "\\x{41", "\\y{41}", "\\", "a=b", "a b", "+4"]
        {
            #expect(XText.decodeUTF8Address(bad) == nil, "\(bad)")
        }
    }
}
