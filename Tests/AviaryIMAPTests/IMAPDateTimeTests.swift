import AviaryIMAP
import Testing

@Suite("IMAP date and date-time text")
struct IMAPDateTimeTests {
    @Test(
        "Date-times parse to the instant and zone, and print in the fixed form",
        arguments: [
            ("17-Jul-1996 02:44:25 -0700", Int64(837_596_665), -420, "17-Jul-1996 02:44:25 -0700"),
            (" 1-Jan-1970 00:00:00 +0000", 0, 0, " 1-Jan-1970 00:00:00 +0000"),
            ("01-Jan-1970 05:30:00 +0530", 0, 330, " 1-Jan-1970 05:30:00 +0530"),
            ("1-jan-1970 00:00:00 +0000", 0, 0, " 1-Jan-1970 00:00:00 +0000"),
            ("29-Feb-2000 12:00:00 +0000", 951_825_600, 0, "29-Feb-2000 12:00:00 +0000"),
            ("31-Dec-1969 23:59:59 +0000", -1, 0, "31-Dec-1969 23:59:59 +0000"),
            ("31-Dec-9999 23:59:59 +0000", 253_402_300_799, 0, "31-Dec-9999 23:59:59 +0000"),
            // A leap second is kept in its minute (found by the fuzzer: :60 at the end of 9999 was printed
            // back as another instant).
            ("31-Dec-9999 23:59:60 +2359", 253_402_214_459, 1439, "31-Dec-9999 23:59:59 +2359"),
            ("30-Jun-2015 23:59:60 +0000", 1_435_708_799, 0, "30-Jun-2015 23:59:59 +0000"),
        ]
    )
    func dateTimes(text: String, seconds: Int64, zone: Int, printed: String) throws {
        let parsed = try #require(IMAPDateTime(parsing: text))
        #expect(parsed.secondsSince1970 == seconds)
        #expect(parsed.zoneMinutes == zone)
        #expect(parsed.text == printed)
        #expect(IMAPDateTime(parsing: parsed.text) == parsed)
    }

    @Test(
        "Malformed date-times are refused",
        arguments: [
            "", "30-Feb-2000 00:00:00 +0000", "29-Feb-1900 00:00:00 +0000", "17-Jux-1996 02:44:25 -0700",
            "17-Jul-96 02:44:25 -0700", "17-Jul-1996 24:00:00 +0000", "17-Jul-1996 02:60:25 -0700",
            "17-Jul-1996 02:44:25 0700", "17-Jul-1996 02:44:25 -0760", "17-Jul-1996 02:44:25 -0700 ",
            "17-Jul-1996 2:44:25 -0700", "0-Jul-1996 02:44:25 -0700", "123-Jul-1996 02:44:25 -0700",
            "17-Jul-1996T02:44:25 -0700",
        ]
    )
    func malformed(text: String) {
        #expect(IMAPDateTime(parsing: text) == nil)
    }

    @Test("An instant prints in the zone asked for, across day and year boundaries")
    func zones() {
        #expect(IMAPDateTime.text(secondsSince1970: 0, zoneMinutes: -60) == "31-Dec-1969 23:00:00 -0100")
        #expect(IMAPDateTime.text(secondsSince1970: 1_709_164_800, zoneMinutes: 0) == "29-Feb-2024 00:00:00 +0000")
        #expect(IMAPDateTime.text(secondsSince1970: 951_868_800, zoneMinutes: 0) == " 1-Mar-2000 00:00:00 +0000")
    }

    @Test("Dates parse with one or two day digits and print without padding")
    func dates() {
        #expect(IMAPDate(parsing: "1-Feb-1994") == IMAPDate(year: 1994, month: 2, day: 1))
        #expect(IMAPDate(parsing: "01-FEB-1994") == IMAPDate(year: 1994, month: 2, day: 1))
        #expect(IMAPDate(year: 1994, month: 2, day: 1).text == "1-Feb-1994")
        #expect(IMAPDate(year: 1970, month: 1, day: 2).daysSince1970 == 1)
        #expect(IMAPDate(parsing: "31-Apr-1994") == nil)
        #expect(IMAPDate(parsing: "1-Feb-1994x") == nil)
    }
}
