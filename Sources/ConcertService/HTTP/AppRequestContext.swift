import Foundation
import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core plus our JSON conventions
/// (snake_case, ISO-8601 UTC) and a small body limit: the largest request, a performance with
/// the longest texts the API allows, written as JSON escapes, stays under it.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Who is calling, on the routes behind `Authentication`.
    public var identity: Identity?
    private let channel: any Channel

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The connection's peer: the client, or the load balancer in front of it. Read only when
    /// asked (by the limit on anonymous requests), not for every request.
    public var peerAddress: SocketAddress? { channel.remoteAddress }

    public var maxUploadSize: Int { 64 * 1024 }
    public var requestDecoder: JSONDecoder { APIJSON.decoder }
    public var responseEncoder: JSONEncoder { APIJSON.encoder }
}

enum APIJSON {
    static let encoder: JSONEncoder = {
        // Response types name their snake_case keys (CodingKeys), as request bodies do.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static let decoder: JSONDecoder = {
        // Request bodies name their snake_case keys (CodingKeys): no key conversion per request,
        // and an error names the field as the client wrote it.
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = APIDate.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: APIDate.expectation(got: text))
            }
            return date
        }
        return decoder
    }()
}

/// Dates in requests: RFC 3339 date-times with an offset (`2027-01-10T20:00:00+09:00`,
/// `2027-01-10T11:00:00.5Z`), nothing looser. A date without an offset would be read in
/// some time zone the client did not choose, so it is refused rather than guessed.
enum APIDate {
    static let example = "2027-01-10T20:00:00+09:00"

    static func expectation(got text: String) -> String {
        "expected an RFC 3339 date-time with an offset, such as \(example) or 2027-01-10T11:00:00Z, not \"\(text.prefix(64))\""
    }

    static func parse(_ text: String) -> Date? {
        var bytes = Array(text.utf8)[...]
        func number(_ digits: Int) -> Int? {
            guard bytes.count >= digits else { return nil }
            var value = 0
            for byte in bytes.prefix(digits) {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            bytes = bytes.dropFirst(digits)
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard let byte = bytes.first, characters.utf8.contains(byte) else { return false }
            bytes = bytes.dropFirst()
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2), expect("Tt"),
            let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2)
        else { return nil }
        var fraction = 0.0
        if expect(".") {
            var scale = 0.1
            guard let first = bytes.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return nil }
            while let byte = bytes.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                fraction += Double(byte - UInt8(ascii: "0")) * scale
                scale /= 10
                bytes = bytes.dropFirst()
            }
        }
        var offsetMinutes = 0
        if !expect("Zz") {
            guard let sign = bytes.first, expect("+-"), let offsetHour = number(2), expect(":"), let offsetMinute = number(2),
                offsetHour < 24, offsetMinute < 60
            else { return nil }
            offsetMinutes = (offsetHour * 60 + offsetMinute) * (sign == UInt8(ascii: "-") ? -1 : 1)
        }
        // A leap second (60) is allowed by RFC 3339; it reads as the next minute's first.
        guard bytes.isEmpty, (1...12).contains(month), (1...daysIn(month, of: year)).contains(day), hour < 24, minute < 60,
            second <= 60
        else { return nil }
        let days = daysSince1970(year: year, month: month, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(seconds) + fraction)
    }

    private static func daysIn(_ month: Int, of year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
    private static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
