import AviaryIPC
import Testing

@Suite("delivery protocol frames")
struct DeliveryProtocolTests {
    static let request = DeliveryRequest(
        queueID: "0T4ZQ3K1A2B3CDE", queueFile: "/var/spool/aviary/active/0T4ZQ3K1A2B3CDE", sender: "alice@example.test",
        recipients: [.init(index: 0, address: "bob@example.test"), .init(index: 3, address: "carol@example.test")],
        nextHop: "example.test")

    @Test("a request survives frame and decode, with and without a next hop")
    func requestRoundTrip() throws {
        var withoutHop = Self.request
        withoutHop.nextHop = nil
        for request in [Self.request, withoutHop] {
            let frame = try DeliveryProtocol.frame(request)
            #expect(try DeliveryProtocol.decode(DeliveryRequest.self, from: frame) == request)
            #expect(try DeliveryProtocol.decode(DeliveryRequest.self, from: Array(frame.dropLast())) == request)
        }
        #expect(Self.request.version == DeliveryProtocol.version)
    }

    @Test("a result survives frame and decode")
    func resultRoundTrip() throws {
        let result = DeliveryResult(recipients: [
            .init(index: 0, status: .sent, dsn: "2.0.0", text: "delivered to maildir"),
            .init(index: 3, status: .deferred, dsn: "4.3.0", text: "command temporarily failed (exit 75)"),
            .init(index: 4, status: .bounced, dsn: "5.1.1", text: "unknown user: \"x\""),
        ])
        #expect(try DeliveryProtocol.decode(DeliveryResult.self, from: DeliveryProtocol.frame(result)) == result)
    }

    @Test("the encoding is sorted-key JSON on one line, slashes unescaped")
    func exactBytes() throws {
        let result = DeliveryResult(recipients: [.init(index: 0, status: .sent, dsn: "2.0.0", text: "ok")])
        #expect(String(decoding: try DeliveryProtocol.frame(result), as: UTF8.self)
            == "{\"recipients\":[{\"dsn\":\"2.0.0\",\"index\":0,\"status\":\"sent\",\"text\":\"ok\"}],\"version\":1}\n")
        let frame = String(decoding: try DeliveryProtocol.frame(Self.request), as: UTF8.self)
        #expect(frame.contains("\"queueFile\":\"/var/spool/aviary/active/0T4ZQ3K1A2B3CDE\""))
        #expect(frame.hasPrefix("{\"nextHop\":\"example.test\",\"queueFile\""))
    }

    @Test("a frame is one line even when fields hold newlines, CRs, quotes and non-ASCII text")
    func oneLinePerFrame() throws {
        let request = DeliveryRequest(
            queueID: "Q", queueFile: "/q/active/Q", sender: "evil\n{\"version\":2}\r\n@x",
            recipients: [.init(index: 0, address: "line\nbreak@ü.example\u{2028}")])
        let result = DeliveryResult(recipients: [
            .init(index: 0, status: .bounced, dsn: "5.3.0", text: "command died with status 1: out\nerr\r\n\t\"quoted\""),
        ])
        for frame in [try DeliveryProtocol.frame(request), try DeliveryProtocol.frame(result)] {
            #expect(frame.last == 10)
            #expect(frame.filter { $0 == 10 }.count == 1)
            #expect(!frame.contains(13))
        }
        #expect(try DeliveryProtocol.decode(DeliveryRequest.self, from: DeliveryProtocol.frame(request)) == request)
        #expect(try DeliveryProtocol.decode(DeliveryResult.self, from: DeliveryProtocol.frame(result)) == result)
    }

    @Test(
        "garbage does not decode",
        arguments: [
            "", "\n", "not json\n", "{}\n", "[1,2]\n", "{\"version\":1}\n",
            "{\"recipients\":[{\"dsn\":\"2.0.0\",\"index\":0,\"status\":\"maybe\",\"text\":\"\"}],\"version\":1}\n",
            "{\"recipients\":[{\"dsn\":\"2.0.0\",\"index\":\"zero\",\"status\":\"sent\",\"text\":\"\"}],\"version\":1}\n",
            "{\"recipients\":[],\"version\":1",
            "{\"recipients\":[],\"version\":1}\n{\"recipients\":[],\"version\":1}\n",
        ]
    )
    func garbage(text: String) {
        #expect(throws: (any Error).self) { try DeliveryProtocol.decode(DeliveryResult.self, from: Array(text.utf8)) }
    }

    @Test("a result frame does not decode as a request")
    func wrongType() throws {
        let frame = try DeliveryProtocol.frame(DeliveryResult(recipients: []))
        #expect(throws: (any Error).self) { try DeliveryProtocol.decode(DeliveryRequest.self, from: frame) }
    }

    @Test("a truncated frame does not decode at any cut")
    func truncated() throws {
        let frame = try DeliveryProtocol.frame(Self.request)
        var decoded: [Int] = []
        for length in 0..<(frame.count - 1) {
            if (try? DeliveryProtocol.decode(DeliveryRequest.self, from: Array(frame[..<length]))) != nil {
                decoded.append(length)
            }
        }
        #expect(decoded == [])
    }
}
