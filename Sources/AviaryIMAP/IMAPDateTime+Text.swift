// IMAP date and date-time text (RFC 9051 9):
//   date      = date-day "-" date-month "-" date-year          1-Feb-1994
//   date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
//                                                             "17-Jul-1996 02:44:25 -0700", " 7-Jul-1996 ..."
// Civil dates are computed here (days from 1970-01-01 in the proleptic Gregorian calendar, Howard Hinnant's
// algorithms), without Foundation, which the daemons do not load.

extension IMAPDateTime {
    /// Parses the content of a quoted date-time, `17-Jul-1996 02:44:25 -0700`; the day may be ` 7`, `07` or `7`.
    public init?(parsing text: String) {
        var scanner = DateScanner(Array(text.utf8))
        _ = scanner.skip(UInt8(ascii: " "))
        guard let date = scanner.date(), scanner.skip(UInt8(ascii: " ")),
            let hour = scanner.digits(2), hour < 24, scanner.skip(UInt8(ascii: ":")),
            let minute = scanner.digits(2), minute < 60, scanner.skip(UInt8(ascii: ":")),
            let second = scanner.digits(2), second <= 60, scanner.skip(UInt8(ascii: " ")),
            let sign = scanner.next(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"),
            let zoneHours = scanner.digits(2), zoneHours < 24, let zoneMinutes = scanner.digits(2), zoneMinutes < 60,
            scanner.isAtEnd
        else { return nil }
        let zone = (sign == UInt8(ascii: "-") ? -1 : 1) * (zoneHours * 60 + zoneMinutes)
        let days = Int64(CivilDate.days(year: date.year, month: date.month, day: date.day))
        // A leap second (:60) stays in its minute as :59, so the instant never leaves the day (or, at
        // 31-Dec-9999 23:59:60, the range of dates that can be written back).
        let local = days * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59))
        self.init(secondsSince1970: local - Int64(zone) * 60, zoneMinutes: zone)
    }

    /// The content of the quoted form, `17-Jul-1996 02:44:25 -0700`, with the day padded by a space (` 7-Jul-...`).
    public var text: String {
        Self.text(secondsSince1970: secondsSince1970, zoneMinutes: zoneMinutes)
    }

    /// The date-time text of an instant as seen in a zone `zoneMinutes` east of UTC (years 0 to 9999).
    public static func text(secondsSince1970: Int64, zoneMinutes: Int) -> String {
        let zone = max(-1439, min(1439, zoneMinutes))
        // 0000-01-01T00:00:00 to 9999-12-31T23:59:59 local time.
        let local = max(-62_167_219_200, min(253_402_300_799, secondsSince1970 + Int64(zone) * 60))
        var days = local / 86_400
        var seconds = local % 86_400
        if seconds < 0 {
            days -= 1
            seconds += 86_400
        }
        let date = CivilDate.date(days: Int(days))
        let second = Int(seconds)
        let offset = abs(zone)
        return (date.day < 10 ? " " : "") + "\(date.day)-\(CivilDate.monthName(date.month))-" + pad(date.year, 4)
            + " " + pad(second / 3600, 2) + ":" + pad(second / 60 % 60, 2) + ":" + pad(second % 60, 2) + " "
            + (zone < 0 ? "-" : "+") + pad(offset / 60, 2) + pad(offset % 60, 2)
    }
}

extension IMAPDate {
    /// Parses `1-Feb-1994` (day of one or two digits, month in any case, four-digit year).
    public init?(parsing text: String) {
        var scanner = DateScanner(Array(text.utf8))
        guard let date = scanner.date(), scanner.isAtEnd else { return nil }
        self = date
    }

    /// `1-Feb-1994`.
    public var text: String {
        "\(day)-\(CivilDate.monthName(month))-" + pad(year, 4)
    }

    /// Days from 1970-01-01 to this date.
    public var daysSince1970: Int {
        CivilDate.days(year: year, month: month, day: day)
    }
}

private func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

/// Conversions between days since 1970-01-01 and proleptic Gregorian dates.
enum CivilDate {
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func date(days: Int) -> IMAPDate {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return IMAPDate(year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func monthName(_ month: Int) -> String {
        guard (1...12).contains(month) else { return "???" }
        let name = IMAPGrammar.monthNames[month - 1]
        return name.prefix(1) + name.dropFirst().lowercased()
    }
}

/// Reads the pieces of a date text.
private struct DateScanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index == bytes.count }

    mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        index += 1
        return bytes[index - 1]
    }

    mutating func skip(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Exactly `count` digits.
    mutating func digits(_ count: Int) -> Int? {
        guard bytes.count - index >= count else { return nil }
        var value = 0
        for byte in bytes[index..<(index + count)] {
            guard IMAPGrammar.isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        index += count
        return value
    }

    /// date-day "-" date-month "-" date-year, checked against the calendar.
    mutating func date() -> IMAPDate? {
        guard let day = digits(2) ?? digits(1), skip(UInt8(ascii: "-")), bytes.count - index >= 3 else { return nil }
        let monthText = String(decoding: bytes[index..<(index + 3)], as: UTF8.self).uppercased()
        guard let month = IMAPGrammar.monthNames.firstIndex(of: monthText) else { return nil }
        index += 3
        guard skip(UInt8(ascii: "-")), let year = digits(4) else { return nil }
        guard day >= 1, day <= CivilDate.daysInMonth(year: year, month: month + 1) else { return nil }
        return IMAPDate(year: year, month: month + 1, day: day)
    }
}
