import Foundation
import NIOCore
import Testing

@testable import ConcertService

/// Responses written directly must be what the API's JSONEncoder writes, byte for byte.
@Suite struct ResponseJSONTests {
    @Test func aReservationIsWrittenAsTheEncoderWritesIt() throws {
        var generator = SystemRandomNumberGenerator()
        let states: [Reservation.State] = [.pending, .confirmed, .expired, .cancelled]
        let edges = ["2000-02-29T23:59:59Z", "2100-02-28T12:00:00Z", "2100-03-01T00:00:00Z", "1999-12-31T23:59:59Z"]
            .map { try! Date($0, strategy: .iso8601) }
        for index in 0..<2_000 {
            // Dates to the millisecond, as stored, from 1583 (Foundation's calendar is Julian
            // before October 1582) to 9999.
            let randomDate = { Date(millis: Int64.random(in: -12_212_553_600_000...253_402_300_799_999, using: &generator)) }
            let created = index < edges.count ? edges[index] : randomDate()
            let reservation = Reservation(
                id: Int64.random(in: 1...Int64.max, using: &generator), userID: 1,
                scheduleID: Int64.random(in: 1...1_000_000, using: &generator),
                seatNumbers: (0..<Int.random(in: 1...4, using: &generator)).map { _ in Int.random(in: 1...100_000, using: &generator) },
                state: states[index % states.count], totalPrice: Int64.random(in: 0...400_000_000, using: &generator),
                holdExpiresAt: randomDate(), createdAt: created)
            let response = ReservationResponse(reservation, now: reservation.createdAt)
            let written = String(buffer: response.json)
            let encoded = String(decoding: try APIJSON.encoder.encode(response), as: UTF8.self)
            #expect(written == encoded)
            if written != encoded { return }
        }
    }
}
