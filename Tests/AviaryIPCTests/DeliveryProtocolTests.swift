import AviaryIPC
import Testing

@Suite("delivery protocol frames")
struct DeliveryProtocolTests {
    static let request = DeliveryRequest(
        queueID: "0T4ZQ3K1A2B3CDE", queueFile: "/var/spool/aviary/active/0T4ZQ3K1A2B3CDE", sender: "alice@example.test",
        recipients: [.init(index: 0, address: "bob@example.test"), .init(index: 3, address: "carol@example.test")],
        nextHop: "example.test")

    @Test("a request survives frame and decode, with and without a next hop; without its LF it does not decode")
    func requestRoundTrip() throws {
        var withoutHop = Self.request
        withoutHop.nextHop = nil
        for request in [Self.request, withoutHop] {
            let frame = DeliveryProtocol.frame(request)
            #expect(try DeliveryProtocol.decode(DeliveryRequest.self, from: frame) == request)
            #expect(throws: DeliveryProtocol.FrameError.self) {
                try DeliveryProtocol.decode(DeliveryRequest.self, from: Array(frame.dropLast()))
            }
        }
        #expect(Self.request.version == DeliveryProtocol.version)
    }

    @Test("a result survives frame and decode, with the optional relay and remote reply")
    func resultRoundTrip() throws {
        let result = DeliveryResult(recipients: [
            .init(index: 0, status: .sent, dsn: "2.0.0", text: "delivered to maildir"),
            .init(index: 3, status: .deferred, dsn: "4.3.0", text: "command temporarily failed (exit 75)"),
            .init(index: 4, status: .bounced, dsn: "5.1.1", text: "unknown user: \"x\"", relay: "mx.example[192.0.2.1]:25",
                remoteReply: "550 5.1.1 <x@example>: unknown user"),
            .init(index: 5, status: .sent, dsn: "2.0.0", text: ""),
        ])
        #expect(try DeliveryProtocol.decode(DeliveryResult.self, from: DeliveryProtocol.frame(result)) == result)
        let empty = DeliveryResult(recipients: [])
        #expect(try DeliveryProtocol.decode(DeliveryResult.self, from: DeliveryProtocol.frame(empty)) == empty)
    }

    @Test("the encoding is one line of TAB-separated name=value fields, the kind and version first")
    func exactBytes() throws {
        let result = DeliveryResult(recipients: [.init(index: 0, status: .sent, dsn: "2.0.0", text: "ok")])
        #expect(String(decoding: DeliveryProtocol.frame(result), as: UTF8.self)
            == "result=2\tindex=0\tstatus=sent\tdsn=2.0.0\ttext=ok\n")
        #expect(String(decoding: DeliveryProtocol.frame(Self.request), as: UTF8.self)
            == "request=2\tqueue_id=0T4ZQ3K1A2B3CDE\tqueue_file=/var/spool/aviary/active/0T4ZQ3K1A2B3CDE"
            + "\tsender=alice@example.test\tnext_hop=example.test\trecipient=0 bob@example.test\trecipient=3 carol@example.test\n")
    }

    @Test("a frame is one line even when fields hold newlines, CRs, TABs, NULs, % and non-ASCII text")
    func oneLinePerFrame() throws {
        let request = DeliveryRequest(
            queueID: "Q", queueFile: "/q/active/Q", sender: "evil\nrequest=2\tsender=x\r\n@x%41%",
            recipients: [.init(index: 0, address: "line\nbreak@ü.example\u{2028}\0 two words")])
        let result = DeliveryResult(recipients: [
            .init(index: 0, status: .bounced, dsn: "5.3.0", text: "command died with status 1: out\nerr\r\n\t\"quoted\" 100%"),
        ])
        for frame in [DeliveryProtocol.frame(request), DeliveryProtocol.frame(result)] {
            #expect(frame.last == 10)
            #expect(frame.filter { $0 == 10 }.count == 1)
            #expect(!frame.contains(13) && !frame.contains(0))
        }
        #expect(DeliveryProtocol.frame(result).filter { $0 == 9 }.count == 4)  // between the five fields only
        #expect(try DeliveryProtocol.decode(DeliveryRequest.self, from: DeliveryProtocol.frame(request)) == request)
        #expect(try DeliveryProtocol.decode(DeliveryResult.self, from: DeliveryProtocol.frame(result)) == result)
    }

    @Test("fields a reader does not know are skipped: a newer agent's extra outcome field does not break qmgr")
    func unknownFields() throws {
        let frame = "result=2\tindex=0\tstatus=sent\tcolour=blue\tdsn=2.0.0\ttext=ok\tsomething=else\n"
        #expect(try DeliveryProtocol.decode(DeliveryResult.self, from: Array(frame.utf8))
            == DeliveryResult(recipients: [.init(index: 0, status: .sent, dsn: "2.0.0", text: "ok")]))
    }

    @Test(
        "garbage does not decode",
        arguments: [
            "", "\n", "not a frame\n", "{\"recipients\":[],\"version\":1}\n", "result\n", "result=1\n", "result=3\n", "result=one\n", "request=2\n",
            "result=2\tindex=0\tstatus=maybe\tdsn=2.0.0\ttext=\n",
            "result=2\tindex=zero\tstatus=sent\tdsn=2.0.0\ttext=\n",
            "result=2\tindex=0\tstatus=sent\ttext=no dsn\n",
            "result=2\tstatus=sent\tindex=0\tdsn=2.0.0\ttext=\n",
            "result=2\tindex=0\tstatus=sent\tdsn=2.0.0\ttext=bad %4\n",
            "result=2\tindex=0\tstatus=sent\tdsn=2.0.0\ttext=bad %zz\n",
            "result=2\tindex=0\tstatus=sent\tdsn=2.0.0\ttext=not UTF-8 %FF\n",
            "result=2\tindex=0\tstatus=sent\tdsn=2.0.0\ttext=\tno equals\n",
            "result=2\n" + "result=2\n",
            "result=2",
        ]
    )
    func garbage(text: String) {
        #expect(throws: DeliveryProtocol.FrameError.self) {
            try DeliveryProtocol.decode(DeliveryResult.self, from: Array(text.utf8))
        }
    }

    @Test("a result frame does not decode as a request, nor a request as a result")
    func wrongType() throws {
        #expect(throws: DeliveryProtocol.FrameError.self) {
            try DeliveryProtocol.decode(DeliveryRequest.self, from: DeliveryProtocol.frame(DeliveryResult(recipients: [])))
        }
        #expect(throws: DeliveryProtocol.FrameError.self) {
            try DeliveryProtocol.decode(DeliveryResult.self, from: DeliveryProtocol.frame(Self.request))
        }
        #expect(throws: DeliveryProtocol.FrameError.self) {
            try DeliveryProtocol.decode(DeliveryRequest.self, from: Array("request=2\tqueue_id=Q\tsender=a\trecipient=x y\n".utf8))
        }
    }

    @Test("a truncated frame does not decode at any cut")
    func truncated() throws {
        let frame = DeliveryProtocol.frame(Self.request)
        var decoded: [Int] = []
        for length in 0..<frame.count {
            if (try? DeliveryProtocol.decode(DeliveryRequest.self, from: Array(frame[..<length]))) != nil {
                decoded.append(length)
            }
        }
        #expect(decoded == [])
    }
}
