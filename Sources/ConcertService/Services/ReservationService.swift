import Foundation
import Metrics

/// Holding, paying for and cancelling seats (flows 6 to 9 and 11).
public struct ReservationService: Sendable {
    let store: any ReservationStore
    let queue: QueueService
    let holdDuration: Duration
    let maxSeatsPerHold: Int
    let limits: RateLimits
    private let recentClaims = RecentClaims()
    private let holdsInFlight = HoldsInFlight()
    private let holdsCounter = Counter(label: "concert_holds_total")
    private let holdConflictsCounter = Counter(label: "concert_hold_conflicts_total")
    private let paymentsCounter = Counter(label: "concert_payments_total")
    private let expiredHoldsCounter = Counter(label: "concert_holds_expired_total")

    init(store: any ReservationStore, queue: QueueService, holdDuration: Duration, maxSeatsPerHold: Int, limits: RateLimits = RateLimits(.off)) {
        self.limits = limits
        self.store = store
        self.queue = queue
        self.holdDuration = holdDuration
        self.maxSeatsPerHold = maxSeatsPerHold
    }

    /// Flow 6: hold 1 to K seats of one schedule, all or nothing, spending the queue token.
    public func hold(
        _ identity: Identity, queueToken: String?, scheduleID: Int64, seatNumbers: [Int],
        idempotency: IdempotencyKey?, now: Date = Date()
    ) async throws -> Idempotent<Reservation> {
        try limits.checkWrite(userID: identity.userID, at: now)
        let ticket = try queue.ownTicket(token: queueToken, userID: identity.userID)
        let selection = try SeatSelection(scheduleID: scheduleID, seatNumbers: seatNumbers, maxSeats: maxSeatsPerHold)
        let request = HoldRequest(userID: identity.userID, selection: selection, queueSeq: ticket.seq, holdDuration: holdDuration)
        // Fast refusal when many want one seat: one hold per seat at a time goes to the database
        // from this instance; the others wait for it, then hear 409 from memory. Memory learns
        // the hold just made, or who has the seat, read without locks by a hold that lost it,
        // or before trying by one that wants a seat seen taken before (the crowd of a stale
        // seat map). Any other hold goes straight to the store, which decides alone.
        let admitted = queue.refusal(for: ticket, now: now) == nil
        while true {
            if admitted, let taken = recentClaims.seatTaken(in: selection, byOtherThan: identity.userID, at: now) {
                throw seatUnavailable(taken, scheduleID)
            }
            if holdsInFlight.start(selection) { break }
            await holdsInFlight.waitForAFinish(selection)
        }
        defer { holdsInFlight.finish(selection) }
        if admitted, recentClaims.sawClaimed(in: selection),
            let taken = try await store.seatTakenByOthers(selection, userID: identity.userID, now: now)
        {
            recentClaims.remember(taken, of: scheduleID, at: now)
            throw seatUnavailable(taken.seatNo, scheduleID)
        }
        do {
            // The database decides whether the token is still active, so a replayed request
            // (its token already spent) still gets its first answer.
            let result = try await store.hold(request, now: now, idempotency: idempotency)
            if !result.replayed {
                queue.spent(ticket)
                recentClaims.remember(result.value, at: now)
                holdsCounter.increment()
            }
            return result
        } catch let error as ServiceError where error.code == .queueTokenExpired {
            // The board says why the entry ended; if it still thinks the entry active, the
            // entry was spent by a hold through another instance.
            throw queue.refusal(for: ticket, now: now) ?? QueueService.ended(.used)
        } catch let error as ServiceError where error.code == .seatUnavailable {
            // Lost to a hold made through another instance or earlier: learn who has the seat
            // before the next hold of it may go, or a crowd would fail the transaction in turn.
            if let taken = try? await store.seatTakenByOthers(selection, userID: identity.userID, now: now) {
                recentClaims.remember(taken, of: scheduleID, at: now)
            }
            holdConflictsCounter.increment()
            throw error
        }
    }

    private func seatUnavailable(_ seat: Int, _ scheduleID: Int64) -> ServiceError {
        holdConflictsCounter.increment()
        return ServiceError(.seatUnavailable, "Seat \(seat) of schedule \(scheduleID) is already held or sold.")
    }

    /// Flow 8: pay a pending hold from the wallet; exactly once per reservation.
    public func pay(_ identity: Identity, reservationID: Int64, idempotency: IdempotencyKey?, now: Date = Date()) async throws
        -> Idempotent<Reservation>
    {
        try limits.checkWrite(userID: identity.userID, at: now)
        let result = try await store.pay(reservationID: reservationID, userID: identity.userID, now: now, idempotency: idempotency)
        if !result.replayed { paymentsCounter.increment() }
        return result
    }

    /// Flow 9: cancel a pending hold, or a paid reservation before the show (refunded).
    public func cancel(_ identity: Identity, reservationID: Int64, idempotency: IdempotencyKey?, now: Date = Date()) async throws
        -> Idempotent<Reservation>
    {
        let result = try await store.cancel(reservationID: reservationID, userID: identity.userID, now: now, idempotency: idempotency)
        recentClaims.forget(result.value)
        return result
    }

    /// Flow 11.
    public func reservations(of identity: Identity) async throws -> [Reservation] {
        try await store.reservations(userID: identity.userID)
    }

    public func reservation(_ id: Int64, of identity: Identity) async throws -> Reservation {
        guard let reservation = try await store.reservation(id: id, userID: identity.userID) else {
            throw ServiceError(.reservationNotFound, "Reservation \(id) not found.")
        }
        return reservation
    }

    /// Flow 7: release holds past their deadline (run by the sweeper).
    public func releaseLapsedHolds(now: Date = Date()) async throws -> Int {
        var released = 0
        while true {
            let batch = try await store.releaseLapsedHolds(now: now, limit: 500)
            released += batch
            if batch < 500 { break }
        }
        if released > 0 { expiredHoldsCounter.increment(by: released) }
        return released
    }
}
