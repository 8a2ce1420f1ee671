import AviaryCore
import AviaryMailbox
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Python's poplib, a real client: it reads multi-line responses itself, undoes dot-stuffing and counts octets.
@Suite("pop3d with Python poplib")
struct PoplibTests {
    static let hasPython = access("/usr/bin/python3", X_OK) == 0

    /// Logs in, lists, retrieves every message into OUTDIR/N and prints `N size octets uidl` per message.
    static let retrieveAll = """
        import poplib, sys
        poplib._MAXLINE = 1 << 20
        port, user, password, outdir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        box = poplib.POP3("127.0.0.1", port, timeout=30)
        box.user(user)
        box.pass_(password)
        count, total = box.stat()
        sizes = dict(line.decode().split() for line in box.list()[1])
        uids = dict(line.decode().split() for line in box.uidl()[1])
        for number in range(1, count + 1):
            response, lines, octets = box.retr(number)
            data = b"".join(line + b"\\r\\n" for line in lines)
            with open("%s/%d" % (outdir, number), "wb") as out:
                out.write(data)
            print(number, sizes[str(number)], len(data), uids[str(number)])
        print("total", total)
        box.quit()
        """

    @Test(
        "RETR through poplib is byte-exact: a lone-dot body line, 8-bit text, and a 5 MB message",
        .enabled(if: hasPython)
    )
    func byteExact() async throws {
        try await POP3ServerHarness.run { harness in
            let dotted = crlf("Subject: dots\n\nbefore\n.\n..\n.after\nend\n")
            let eightBit =
                Array("Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=latin1\r\n\r\n".utf8)
                + [0xE9, 0xE8, 0xFF, 0x80, 0x0D, 0x0A] + Array("fin\r\n".utf8)
            var big = Array("Subject: big\r\n\r\n".utf8)
            var generator = SystemRandomNumberGenerator()
            while big.count < 5 * 1024 * 1024 {
                let length = Int.random(in: 0...900, using: &generator)
                var line = (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) }
                if Bool.random(using: &generator) { line.insert(UInt8(ascii: "."), at: 0) }
                big += line + [13, 10]
            }
            let messages = [dotted, eightBit, big]
            for message in messages { try harness.deliverToAlice(message) }
            let outdir = harness.root + "/retrieved"
            try SafeFile.makeDirectories(outdir)
            let output = try await harness.python(Self.retrieveAll, ["alice@virtual.test", "secret", outdir])
            let rows = output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(rows.count == 4, "\(output)")
            for (index, message) in messages.enumerated() {
                let retrieved = try SafeFile.readAll(outdir + "/\(index + 1)")
                #expect(
                    retrieved == message,
                    "message \(index + 1) differs (\(retrieved.count) vs \(message.count) bytes)"
                )
                guard rows.count > index else { continue }
                #expect(rows[index][1] == String(message.count), "LIST size of message \(index + 1)")
                #expect(rows[index][2] == String(message.count))
            }
            #expect(rows.last == ["total", String(messages.reduce(0) { $0 + $1.count })])
        }
    }

    /// Prints UIDL, deletes message 1, quits.
    static let uidlThenDelete = """
        import poplib, sys
        box = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=30)
        box.user(sys.argv[2])
        box.pass_(sys.argv[3])
        for line in box.uidl()[1]:
            print(line.decode())
        if len(sys.argv) > 4:
            box.dele(1)
        box.quit()
        """

    @Test("UIDLs seen by poplib survive sessions; DELE 1 + QUIT removes exactly that message", .enabled(if: hasPython))
    func uidlAcrossSessions() async throws {
        try await POP3ServerHarness.run { harness in
            for number in 1...3 { try harness.deliverToAlice(crlf("Subject: \(number)\n\n\(number)\n")) }
            let first = try await harness.python(Self.uidlThenDelete, ["alice@virtual.test", "secret"])
            let second = try await harness.python(Self.uidlThenDelete, ["alice@virtual.test", "secret", "delete"])
            let third = try await harness.python(Self.uidlThenDelete, ["alice@virtual.test", "secret"])
            #expect(first == second)
            let uids = first.split(separator: "\n").map { $0.split(separator: " ")[1] }
            let after = third.split(separator: "\n").map { $0.split(separator: " ")[1] }
            #expect(after == Array(uids.dropFirst()))
            #expect(try harness.aliceMaildir.messages().count == 2)
        }
    }
}
