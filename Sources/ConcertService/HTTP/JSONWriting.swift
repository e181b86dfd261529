import Foundation
import NIOCore

// JSON written straight into a response buffer, for the answers the on-sale crowd gets most
// (a hold, a refusal): through JSONEncoder they cost more of the server's CPU than the rest of
// the response. The output is byte for byte what `APIJSON.encoder` writes (tested).

/// The content type of every JSON answer the service writes itself.
let jsonContentType = "application/json; charset=utf-8"

extension ByteBuffer {
    /// A JSON string: quotes, backslashes, slashes and control characters escaped as JSONEncoder
    /// escapes them (RFC 8259, section 7), everything else as its UTF-8 bytes.
    mutating func writeJSONString(_ text: String) {
        writeInteger(UInt8(ascii: "\""))
        defer { writeInteger(UInt8(ascii: "\"")) }
        let needsEscape = { (byte: UInt8) in
            byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/")
        }
        guard text.utf8.contains(where: needsEscape) else {
            writeString(text)
            return
        }
        let hexDigit = { (value: UInt8) in value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10 }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                writeInteger(UInt8(ascii: "\\"))
                writeInteger(byte)
            case UInt8(ascii: "\n"): writeStaticString("\\n")
            case UInt8(ascii: "\r"): writeStaticString("\\r")
            case UInt8(ascii: "\t"): writeStaticString("\\t")
            case 0x08: writeStaticString("\\b")
            case 0x0C: writeStaticString("\\f")
            case ..<0x20:
                writeStaticString("\\u00")
                writeInteger(hexDigit(byte >> 4))
                writeInteger(hexDigit(byte & 0xF))
            default:
                writeInteger(byte)
            }
        }
    }

    /// A date as the encoder's `.iso8601` strategy writes it: `"2026-11-27T03:28:06Z"`, UTC,
    /// whole seconds, Gregorian (as Foundation's from 1583 to 9999; the service writes no
    /// earlier date).
    mutating func writeJSONDate(_ date: Date) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (days, secondOfDay) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let (year, month, day) = Self.civilDate(daysSince1970: secondOfDay < 0 ? days - 1 : days)
        let second = secondOfDay < 0 ? secondOfDay + 86_400 : secondOfDay
        writeInteger(UInt8(ascii: "\""))
        writeDigits(year, count: 4)
        writeInteger(UInt8(ascii: "-"))
        writeDigits(month, count: 2)
        writeInteger(UInt8(ascii: "-"))
        writeDigits(day, count: 2)
        writeInteger(UInt8(ascii: "T"))
        writeDigits(second / 3600, count: 2)
        writeInteger(UInt8(ascii: ":"))
        writeDigits(second / 60 % 60, count: 2)
        writeInteger(UInt8(ascii: ":"))
        writeDigits(second % 60, count: 2)
        writeStaticString("Z\"")
    }

    /// A JSON array of integers: `[1,2]`.
    mutating func writeJSONArray(_ numbers: [Int]) {
        writeInteger(UInt8(ascii: "["))
        for (index, number) in numbers.enumerated() {
            if index > 0 { writeInteger(UInt8(ascii: ",")) }
            writeString(String(number))
        }
        writeInteger(UInt8(ascii: "]"))
    }

    private mutating func writeDigits(_ value: Int64, count: Int) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        while divisor > 0 {
            writeInteger(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    /// The proleptic Gregorian date of a day count (Howard Hinnant's `civil_from_days`).
    private static func civilDate(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468  // days since 0000-03-01
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
