import AviaryIMAP
import Testing

@Suite("Modified UTF-7")
struct ModifiedUTF7Tests {
    @Test(
        "Names encode to the RFC 3501 form and decode back",
        arguments: [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("&", "&-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("台北", "&U,BTFw-"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("😀", "&2D3eAA-"),
            ("a\tb", "a&AAk-b"),
            ("", ""),
        ]
    )
    func roundTrip(name: String, encoded: String) {
        #expect(ModifiedUTF7.encode(name) == encoded)
        #expect(ModifiedUTF7.decode(encoded) == name)
    }

    @Test(
        "Malformed text does not decode",
        arguments: [
            "&U,BTFw",  // no closing -
            "&Jjo!-",  // ! is not modified base64
            "&AGE-",  // printable ASCII (a) must stand for itself
            "&AA-",  // an odd number of bytes
            "&U,BTF3-",  // padding bits not zero
            "&2D0-",  // a lone high surrogate
            "&3gA-",  // a lone low surrogate
            "Entwürfe",  // 8-bit text is not modified UTF-7
            "a\u{7}b",  // a control character
            "&U/BTFw-",  // / instead of ,
        ]
    )
    func malformed(text: String) {
        #expect(ModifiedUTF7.decode(text) == nil)
    }
}
