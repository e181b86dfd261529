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
        // What was bought: titles and grades that need escaping, seats of two grades.
        let seats = (1...100_000).map { Seat(seatNo: $0, grade: $0 <= 50_000 ? "S" : "R/\u{1F}", price: $0 <= 50_000 ? 7_000 : 300) }
        let layouts = ["Winter \"Symphony\"", "Café\nnoir", "東京 ⛩ \u{7}"].enumerated().map { number, title in
            SaleLayout(
                schedule: Schedule(
                    id: 1, performanceID: Int64(number + 1), startsAt: Date(millis: 1_800_000_000_123 + Int64(number) * 86_400_000),
                    saleOpensAt: .distantPast, saleClosesAt: .distantFuture, totalSeats: 100_000, remainingSeats: 0),
                title: title, performer: "P\\Q", seats: seats)
        }
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
            let response = ReservationResponse(reservation, layout: layouts[index % layouts.count], now: reservation.createdAt)
            let written = String(buffer: response.json)
            let encoded = String(decoding: try APIJSON.encoder.encode(response), as: UTF8.self)
            #expect(written == encoded)
            if written != encoded { return }
        }
    }
}
