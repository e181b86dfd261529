import Foundation
import Synchronization
import Testing

@testable import ConcertService

/// What a PostgreSQL hold checks before the database: a schedule's seats, kept as runs.
@Suite struct SaleLayoutTests {
    static let schedule = Schedule(
        id: 7, performanceID: 1, startsAt: Date(millis: 3_000), saleOpensAt: Date(millis: 1_000),
        saleClosesAt: Date(millis: 2_000), totalSeats: 6, remainingSeats: 0)

    @Test func keepsRunsAndFindsOnlySeatsThatExist() throws {
        let layout = try SaleLayout(
            schedule: Self.schedule,
            seats: NewSchedule(
                startsAt: Date(millis: 3_000), saleOpensAt: Date(millis: 1_000), saleClosesAt: Date(millis: 2_000),
                groups: [SeatGroup(grade: "VIP", count: 2, price: 500), SeatGroup(grade: "R", count: 3, price: 100),
                         SeatGroup(grade: "S", count: 1, price: 100)]
            ).seats)
        #expect(layout.runs.map(\.seats) == [1...2, 3...5, 6...6])
        #expect(layout.seats([6, 1, 3]) == [
            Seat(seatNo: 6, grade: "S", price: 100), Seat(seatNo: 1, grade: "VIP", price: 500), Seat(seatNo: 3, grade: "R", price: 100),
        ])
        #expect(layout.seats([0, 7, 5]) == [Seat(seatNo: 5, grade: "R", price: 100)])
        // A gap in the numbering (not made by the API, but possible in a database) is not a seat.
        let gapped = SaleLayout(schedule: Self.schedule, seats: [1, 2, 4].map { Seat(seatNo: $0, grade: "R", price: 100) })
        #expect(gapped.runs.map(\.seats) == [1...2, 4...4])
        #expect(gapped.seats([3, 4]).map(\.seatNo) == [4])
    }

    @Test func aCrowdReadsALayoutOnceAndAMissingScheduleIsAskedAgain() async throws {
        let layouts = SaleLayouts()
        let loads = Tally()
        let layout = SaleLayout(schedule: Self.schedule, seats: [Seat(seatNo: 1, grade: "R", price: 100)])
        let found = try await withThrowingTaskGroup(of: SaleLayout?.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await layouts.layout(of: 7) {
                        loads.add()
                        try await Task.sleep(for: .milliseconds(50))
                        return layout
                    }
                }
            }
            return try await group.reduce(into: 0) { count, found in count += found == nil ? 0 : 1 }
        }
        #expect(found == 50)
        #expect(loads.count == 1)

        for _ in 0..<2 {
            #expect(try await layouts.layout(of: 8) { loads.add(); return nil } == nil)
        }
        #expect(loads.count == 3)
    }

    /// A hold reads its schedule's layout from the database once, as created, and is priced from it.
    @Test(arguments: Backend.all)
    func aHoldReadsItsSchedulesLayout(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("VIP", 2, 500), ("R", 8, 100)])
            #expect(try await api.hold(user: 5401, schedule: schedule, seats: [2, 3]).int("total_price") == 600)
            let layout = try #require(try await service.system.reservations.layouts.layout(of: Int64(schedule)) {
                Issue.record("the hold did not keep the layout")
                return nil
            })
            #expect(layout.schedule.id == Int64(schedule))
            #expect(layout.schedule.totalSeats == 10)
            #expect(layout.runs == [
                SaleLayout.Run(seats: 1...2, grade: "VIP", price: 500), SaleLayout.Run(seats: 3...10, grade: "R", price: 100),
            ])
        }
    }
}

/// A count that concurrent tasks add to.
final class Tally: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add() { value.withLock { $0 += 1 } }
}
