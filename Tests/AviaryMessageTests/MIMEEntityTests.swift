import AviaryMessage
import Testing

@Suite("MIME entity tree")
struct MIMEEntityTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("a multipart's parts exclude the line end before each delimiter; headers and bodies by range")
    func multipartRanges() {
        let message = Self.bytes(
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\npre\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>\r\n--b\r\n\r\nplain\r\n--b--\r\nepilogue\r\n")
        let entity = MIMEParser.parse(message)
        #expect(entity.children.count == 2)
        #expect(entity.isTerminated)
        let html = entity.children[0]
        #expect(String(decoding: message[html.headerRange], as: UTF8.self) == "Content-Type: text/html\r\n\r\n")
        #expect(String(decoding: message[html.bodyRange], as: UTF8.self) == "<p>")
        #expect(html.contentType.subtype == "html")
        #expect(html.hasExplicitContentType)
        let plain = entity.children[1]
        #expect(!plain.hasExplicitContentType)
        #expect(plain.contentType == .plainText)
        #expect(String(decoding: message[plain.bodyRange], as: UTF8.self) == "plain")
        #expect(entity.header("CONTENT-TYPE", in: message) == "multipart/mixed; boundary=\"b\"")
    }

    @Test("LF line ends give the same tree as CR LF")
    func bareLineFeeds() {
        let text = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nSubject: s\n\nbody\n--b--\n"
        let lf = Self.bytes(text)
        let entity = MIMEParser.parse(lf)
        #expect(entity.children.count == 1)
        let inner = entity.children[0].message
        #expect(inner?.header("subject", in: lf) == "s")
        #expect(inner.map { String(decoding: lf[$0.bodyRange], as: UTF8.self) } == "body")
    }

    @Test("headers returns every field unfolded; a field name with space before its colon is found")
    func repeatedFields() {
        let message = Self.bytes("Received: a\r\n b\r\nReceived : c\r\n\r\n")
        #expect(MIMEParser.parse(message).headers("received", in: message) == ["a b", "c"])
    }

    @Test(
        "any input gives a tree: no header, no blank line, NUL bytes, broken boundaries",
        arguments: [
            "", "\r\n", "no header at all", "Subject: x", "Subject: x\r\nno colon here\r\nbody",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--",
            "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n----\r\n", "Content-Type: /\r\n\r\n",
            "Content-Type: message/rfc822\r\n\r\n", "A: \u{0}\r\n\r\n\u{0}\u{0}",
            "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n--d--",
        ]
    )
    func total(_ text: String) {
        let message = Self.bytes(text)
        let entity = MIMEParser.parse(message)
        #expect(entity.range == 0..<message.count)
        #expect(entity.headerRange.upperBound == entity.bodyRange.lowerBound)
        func check(_ entity: MIMEEntity) {
            #expect(entity.range.lowerBound >= 0 && entity.range.upperBound <= message.count)
            #expect(entity.bodyRange.lowerBound <= entity.bodyRange.upperBound)
            entity.children.forEach(check)
            entity.message.map(check)
        }
        check(entity)
    }

    @Test("10,000 parts: the parts limit stops the tree, in bounded time")
    func manyParts() {
        var text = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        for index in 0..<10_000 { text += "--b\r\n\r\n\(index)\r\n" }
        text += "--b--\r\n"
        let message = Self.bytes(text)
        let all = MIMEParser.parse(message)
        #expect(all.children.count == 9_999)
        #expect(all.isTruncated)
        let limited = MIMEParser.parse(message, limits: MIMELimits(parts: 100))
        #expect(limited.children.count == 99)
        #expect(String(decoding: message[limited.children[98].bodyRange], as: UTF8.self) == "98")
    }

    @Test("1,000 nested message/rfc822 and 1,000 nested multiparts stop at the depth limit")
    func deepNesting() {
        var text = ""
        for _ in 0..<1_000 { text += "Content-Type: message/rfc822\r\n\r\n" }
        text += "body\r\n"
        let message = Self.bytes(text)
        var entity = MIMEParser.parse(message)
        var depth = 0
        while let inner = entity.message {
            entity = inner
            depth += 1
        }
        #expect(depth == 20)
        #expect(entity.isTruncated)

        var nested = ""
        for level in 0..<1_000 { nested += "Content-Type: multipart/mixed; boundary=\(level)\r\n\r\n--\(level)\r\n" }
        let multipart = Self.bytes(nested)
        var node = MIMEParser.parse(multipart, limits: MIMELimits(depth: 5))
        var levels = 0
        while let first = node.children.first {
            node = first
            levels += 1
        }
        #expect(levels == 5)
    }

    @Test("a huge header: fields past the limit are not kept, the body is still found")
    func hugeHeader() {
        var text = ""
        for index in 0..<50_000 { text += "X-Field-\(index): \(index)\r\n" }
        text += "Subject: late\r\n\r\nbody"
        let message = Self.bytes(text)
        let entity = MIMEParser.parse(message, limits: MIMELimits(headerBytes: 64 * 1024))
        #expect(entity.header.isTruncated)
        #expect(entity.header.fields.count < 5_000)
        #expect(entity.header("subject", in: message) == nil)
        #expect(String(decoding: message[entity.bodyRange], as: UTF8.self) == "body")
    }

    @Test("RFC 2231 continuations are joined, parameter order and spelling kept")
    func parameters() throws {
        let type = try #require(MIMEContentType(parsing: "Application/X-Thing; B=2; name*1=\"b.c\"; name*0=a; A=1"))
        #expect(type.type == "application")
        #expect(type.writtenType == "Application")
        #expect(type.parameterList.map(\.name) == ["B", "name", "A"])
        #expect(type.parameter("name") == "ab.c")
        #expect(type.parameters == ["b": "2", "name": "ab.c", "a": "1"])
    }
}
