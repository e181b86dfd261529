import Foundation
import Testing

@testable import ConcertService

/// The short memory of holds that answers a crowd wanting one seat without the database.
@Suite struct RecentClaimsTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func hold(user: Int64, seats: [Int], lasting: TimeInterval = 300) -> Reservation {
        Reservation(
            id: 1, userID: user, scheduleID: 9, seatNumbers: seats, state: .pending, totalPrice: 100,
            holdExpiresAt: now.addingTimeInterval(lasting), createdAt: now)
    }

    func selection(_ seats: [Int]) throws -> SeatSelection {
        try SeatSelection(scheduleID: 9, seatNumbers: seats, maxSeats: 4)
    }

    @Test func refusesOthersForAMomentButNeverTheHolder() throws {
        let claims = RecentClaims(memory: .seconds(2))
        claims.remember(hold(user: 1, seats: [3, 4]), at: now)
        #expect(claims.seatTaken(in: try selection([2, 4]), byOtherThan: 2, at: now) == 4)
        #expect(claims.seatTaken(in: try selection([2, 4]), byOtherThan: 1, at: now) == nil)
        #expect(claims.seatTaken(in: try selection([4]), byOtherThan: 2, at: now.addingTimeInterval(2)) == nil, "the moment is over")
    }

    @Test func forgetsAtTheHoldsDeadlineAndOnCancellation() throws {
        let claims = RecentClaims(memory: .seconds(2))
        claims.remember(hold(user: 1, seats: [5], lasting: 1), at: now)
        #expect(claims.seatTaken(in: try selection([5]), byOtherThan: 2, at: now.addingTimeInterval(1)) == nil)
        let cancelled = hold(user: 1, seats: [6])
        claims.remember(cancelled, at: now)
        claims.forget(cancelled)
        #expect(claims.seatTaken(in: try selection([6]), byOtherThan: 2, at: now) == nil)
    }

    /// What the lock-free read found (another instance's hold, or a paid seat) is remembered
    /// like a hold made here: for the moment, not past a hold's deadline, never against its holder.
    @Test func remembersSeatsTheDatabaseReportedTaken() throws {
        let claims = RecentClaims(memory: .seconds(2))
        claims.remember(TakenSeat(seatNo: 7, userID: 1, heldUntil: now.addingTimeInterval(1)), of: 9, at: now)
        claims.remember(TakenSeat(seatNo: 8, userID: 1, heldUntil: nil), of: 9, at: now)
        #expect(claims.seatTaken(in: try selection([7]), byOtherThan: 2, at: now) == 7)
        #expect(claims.seatTaken(in: try selection([7, 8]), byOtherThan: 1, at: now) == nil)
        #expect(claims.seatTaken(in: try selection([7]), byOtherThan: 2, at: now.addingTimeInterval(1)) == nil, "the hold's deadline")
        #expect(claims.seatTaken(in: try selection([8]), byOtherThan: 2, at: now.addingTimeInterval(1.9)) == 8, "paid: the moment")
        #expect(claims.seatTaken(in: try selection([8]), byOtherThan: 2, at: now.addingTimeInterval(2)) == nil)
        #expect(claims.seatTaken(in: try SeatSelection(scheduleID: 10, seatNumbers: [7], maxSeats: 4), byOtherThan: 2, at: now) == nil)
    }
}

/// One hold per seat at a time from an instance to the database.
@Suite struct HoldsInFlightTests {
    func selection(_ seats: [Int]) throws -> SeatSelection {
        try SeatSelection(scheduleID: 9, seatNumbers: seats, maxSeats: 4)
    }

    @Test func overlappingHoldsWaitAndOthersGoAhead() async throws {
        let inFlight = HoldsInFlight()
        #expect(inFlight.start(try selection([1, 2])))
        #expect(!inFlight.start(try selection([2, 3])), "seat 2 is in flight")
        #expect(inFlight.start(try selection([3])), "seat 3 is not")
        let waiter = Task { [selection = try selection([2, 3])] in
            await inFlight.waitForAFinish(selection)
            return inFlight.start(try self.selection([2]))
        }
        try await Task.sleep(for: .milliseconds(50))
        inFlight.finish(try selection([1, 2]))
        #expect(try await waiter.value, "seat 2 is free once the first hold finished")
        await inFlight.waitForAFinish(try selection([1]))  // nothing in flight on seat 1: returns at once
    }
}
