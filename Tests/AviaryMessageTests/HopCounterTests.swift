import AviaryMessage
import Testing

@Suite("hop count: Received: fields of the header section")
struct HopCounterTests {
    static let message = Array(
        """
        Received: from a (a [192.0.2.1])\r
        \tby b; Mon, 7 Dec 2026 05:00:00 +0000\r
        received : by c\r
        RECEIVED:by d\r
        Received-SPF: pass\r
        X-Received: by e\r
        Subject: Received: not a field name here\r
         Received: folded, not a field\r
        Received: by f\r
        \r
        Received: in the body, not counted\r

        """.utf8)

    @Test("counts Received: fields by name only, up to the blank line, however the bytes are split")
    func countsWhateverTheChunking() {
        var whole = HopCounter()
        whole.scan(Self.message)
        #expect(whole.count == 4)
        #expect(whole.isComplete)
        for split in 0...Self.message.count {
            var counter = HopCounter()
            counter.scan(Self.message[..<split])
            counter.scan(Self.message[split...])
            #expect(counter.count == 4, "split at \(split)")
        }
        var byteByByte = HopCounter()
        for byte in Self.message { byteByByte.scan(CollectionOfOne(byte)) }
        #expect(byteByByte.count == 4)
    }

    @Test("a bare LF blank line ends the header section too; an unfinished header is still counted")
    func bareLineFeedAndUnfinished() {
        var counter = HopCounter()
        counter.scan(Array("Received: a\nReceived: b\n\nReceived: c\n".utf8))
        #expect(counter.count == 2)
        var unfinished = HopCounter()
        unfinished.scan(Array("Received: a\r\nReceived:".utf8))
        #expect(unfinished.count == 2)
        #expect(!unfinished.isComplete)
    }
}
