import AviaryMessage
import Testing

@Suite("RFC 2047 encoded words")
struct MIMEEncodedWordsTests {
    @Test(
        "B and Q encodings, UTF-8 and ISO-8859-1, adjacent words joined, unknown charsets kept",
        arguments: [
            ("=?UTF-8?B?w6lt?= test", "ém test"),
            ("=?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>", "André <andre@example.fr>"),
            ("=?utf-8?q?J=C3=BCrgen_M?=", "Jürgen M"),
            ("=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"),
            ("=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?= c", "ab c"),
            ("x =?UTF-8?Q?a?= y", "x a y"),
            ("=?KOI8-R?Q?=F0?=", "=?KOI8-R?Q?=F0?="),
            ("=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="),
            ("=?UTF-8*en?Q?hi?=", "hi"),
            ("=?US-ASCII?B?aGk?=", "hi"),
            ("plain = text ?= not", "plain = text ?= not"),
            ("=?UTF-8?B?!!!?=", "=?UTF-8?B?!!!?="),
            ("", ""),
            ("=?", "=?"),
        ]
    )
    func decode(_ encoded: String, _ decoded: String) {
        #expect(MIMEEncodedWords.decode(encoded) == decoded)
    }
}
