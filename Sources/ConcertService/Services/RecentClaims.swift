import Foundation
import Synchronization

/// The seats this instance saw held in the last moment, and by whom.
///
/// When a crowd wants one seat, the first hold wins and every later one would read the
/// database only to hear 409. Remembering the winner (or the holder a read found) for a
/// moment answers the rest from memory. The memory is short on purpose: a hold cancelled on
/// another instance is forgotten here only when the moment ends, so for at most `memory` a
/// freed seat can still be refused. A cancellation on this instance is forgotten at once.
/// Bounded: when full it starts over.
final class RecentClaims: Sendable {
    private struct SeatKey: Hashable {
        var scheduleID: Int64
        var seatNo: Int
    }

    private let memory: Duration
    private let capacity: Int
    private let claims = Mutex<[SeatKey: (userID: Int64, until: Date)]>([:])

    init(memory: Duration = .seconds(2), capacity: Int = 50_000) {
        self.memory = memory
        self.capacity = capacity
    }

    /// A seat of `selection` held within the moment by a user other than `userID`.
    func seatTaken(in selection: SeatSelection, byOtherThan userID: Int64, at now: Date) -> Int? {
        claims.withLock { claims in
            selection.seatNumbers.first { seat in
                guard let claim = claims[SeatKey(scheduleID: selection.scheduleID, seatNo: seat)] else { return false }
                return claim.userID != userID && now < claim.until
            }
        }
    }

    /// Whether a seat of `selection` was seen held by someone, however long ago (until the
    /// memory starts over): a hint that a lock-free read is worth making before a transaction.
    func sawClaimed(in selection: SeatSelection) -> Bool {
        claims.withLock { claims in
            selection.seatNumbers.contains { claims[SeatKey(scheduleID: selection.scheduleID, seatNo: $0)] != nil }
        }
    }

    /// Remembers a hold just made, for the moment or until its deadline, whichever is sooner.
    func remember(_ hold: Reservation, at now: Date) {
        remember(hold.seatNumbers, of: hold.scheduleID, heldBy: hold.userID, until: hold.holdExpiresAt, at: now)
    }

    /// Remembers a seat the database says another user has.
    func remember(_ taken: TakenSeat, of scheduleID: Int64, at now: Date) {
        remember([taken.seatNo], of: scheduleID, heldBy: taken.userID, until: taken.heldUntil ?? .distantFuture, at: now)
    }

    private func remember(_ seats: [Int], of scheduleID: Int64, heldBy userID: Int64, until deadline: Date, at now: Date) {
        let until = min(now.addingTimeInterval(memory.seconds), deadline)
        claims.withLock { claims in
            if claims.count + seats.count > capacity { claims.removeAll(keepingCapacity: true) }
            for seat in seats {
                claims[SeatKey(scheduleID: scheduleID, seatNo: seat)] = (userID, until)
            }
        }
    }

    /// Forgets the seats of a reservation that ended here (cancelled).
    func forget(_ reservation: Reservation) {
        claims.withLock { claims in
            for seat in reservation.seatNumbers {
                let key = SeatKey(scheduleID: reservation.scheduleID, seatNo: seat)
                if claims[key]?.userID == reservation.userID { claims[key] = nil }
            }
        }
    }
}
