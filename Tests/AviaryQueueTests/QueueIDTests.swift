import AviaryCore
import Testing

@testable import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

@Suite("queue IDs")
struct QueueIDTests {
    @Test("a new ID is 15 characters of 0-9A-Z and parses back")
    func format() throws {
        for _ in 0..<100 {
            let id = QueueID.make()
            #expect(id.rawValue.utf8.count == 15)
            #expect(id.rawValue.allSatisfy { ("0"..."9").contains($0) || ("A"..."Z").contains($0) })
            #expect(QueueID(id.rawValue) == id)
            #expect(id.description == id.rawValue)
            #expect(id.hashDirectory == String(id.rawValue.last!))
        }
    }

    @Test("the ID encodes its arrival second")
    func arrivalSecond() {
        // time() reads glibc's coarse clock, which can lag CLOCK_REALTIME (what make() uses) by a tick.
        func now() -> Int {
            var value = timespec()
            clock_gettime(CLOCK_REALTIME, &value)
            return value.tv_sec
        }
        let before = now()
        let id = QueueID.make()
        let after = now()
        #expect((before...after).contains(id.arrivalSeconds))
        let fixed = QueueID(QueueID.encode(1_700_000_000, width: 7) + "0000ZZZZ")
        #expect(fixed?.arrivalSeconds == 1_700_000_000)
    }

    @Test("base-36 encoding is fixed width, digits before letters")
    func encoding() {
        #expect(QueueID.encode(0, width: 4) == "0000")
        #expect(QueueID.encode(35, width: 2) == "0Z")
        #expect(QueueID.encode(36, width: 2) == "10")
        #expect(QueueID.encode(36 * 36 * 36 * 36 - 1, width: 4) == "ZZZZ")
    }

    @Test("IDs sort by arrival time: string order is time order")
    func sortable() throws {
        let earlier = try #require(QueueID(QueueID.encode(1_700_000_000, width: 7) + "ZZZZ" + "ZZZZ"))
        let later = try #require(QueueID(QueueID.encode(1_700_000_001, width: 7) + "0000" + "0000"))
        let muchLater = try #require(QueueID(QueueID.encode(1_800_000_000, width: 7) + "0000" + "0000"))
        #expect(earlier < later && later < muchLater)
        #expect([muchLater, earlier, later].sorted() == [earlier, later, muchLater])
        // IDs made one after another never go back in time (their time part is non-decreasing).
        let made = (0..<200).map { _ in QueueID.make().rawValue.prefix(11) }
        #expect(made == made.sorted())
    }

    @Test(
        "malformed names and paths are not IDs",
        arguments: [
            "", "0T4ZQ3K1A2B3C", "0T4ZQ3K1A2B3CDEF", "0t4zq3k1a2b3cde", ".0T4ZQ3K1A2B3CD", "../../etc/passw",
            "0T4ZQ3K/A2B3CDE", "0T4ZQ3K1A2B3CD ", "0T4ZQ3K1A2B3CD\n", "0T4ZQ3K1A2B3CÉ", "0T4ZQ3K1A2B3C-E",
        ]
    )
    func rejects(text: String) {
        #expect(QueueID(text) == nil)
    }
}
