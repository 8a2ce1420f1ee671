import AviaryIPC
import Testing

@Suite("anvil's table")
struct AnvilTableTests {
    let key = AnvilTable.Key(service: "smtp", address: "192.0.2.1")

    @Test("counts open connections per client and service; a disconnect lowers the count")
    func counts() {
        var table = AnvilTable(rateTimeUnit: 60)
        #expect(table.connect(key, owner: 1, now: 0) == (1, 1))
        #expect(table.connect(key, owner: 2, now: 1) == (2, 2))
        let other = AnvilTable.Key(service: "submission", address: "192.0.2.1")
        #expect(table.connect(other, owner: 1, now: 1) == (1, 1))
        table.disconnect(key, owner: 1)
        #expect(table.count(key) == 1)
        table.disconnect(key, owner: 1)  // not open for owner 1 any more: ignored
        #expect(table.count(key) == 1)
    }

    @Test("the rate counts connections in a window of rateTimeUnit seconds, then starts again")
    func rate() {
        var table = AnvilTable(rateTimeUnit: 60)
        for second in 0..<5 {
            _ = table.connect(key, owner: 1, now: Double(second))
            table.disconnect(key, owner: 1)
        }
        #expect(table.connect(key, owner: 1, now: 59) == (1, 6))
        #expect(table.connect(key, owner: 1, now: 61) == (2, 1))
    }

    @Test("when an smtpd goes away its clients are released")
    func release() {
        var table = AnvilTable(rateTimeUnit: 60)
        _ = table.connect(key, owner: 7, now: 0)
        _ = table.connect(key, owner: 7, now: 0)
        _ = table.connect(key, owner: 8, now: 0)
        table.release(owner: 7)
        #expect(table.count(key) == 1)
    }

    @Test("requests read back as written; anything else is refused")
    func protocolLines() {
        let request = AnvilRequest.connect(key)
        #expect(request.line == "connect smtp 192.0.2.1\n")
        #expect(AnvilRequest(line: "connect smtp 192.0.2.1") == request)
        #expect(AnvilRequest(line: "disconnect smtp ::1") == .disconnect(.init(service: "smtp", address: "::1")))
        #expect(AnvilRequest(line: "lookup smtp x") == nil)
        #expect(AnvilRequest(line: "connect") == nil)
    }
}
