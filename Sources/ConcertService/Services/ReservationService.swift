import Foundation
import Metrics

/// Holding, paying for and cancelling seats, and the sweeper that releases holds past their deadline.
public struct ReservationService: Sendable {
    let store: any ReservationStore
    let queue: QueueService
    let holdDuration: Duration
    let maxSeatsPerHold: Int
    let limits: RateLimits
    /// The sale layouts of the schedules held from lately (stage 1 of a hold).
    let layouts = SaleLayouts()
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

    /// Holds 1 to `maxSeatsPerHold` seats of one schedule, all or nothing, spending the queue
    /// entry. A hold passes four stages: it is checked and priced against the schedule's sale
    /// layout; it waits for its turn, and a seat memory knows is taken is refused without the
    /// database; the store writes it, deciding alone whether the entry is still active and the
    /// seats free; and memory learns what happened.
    public func hold(
        _ identity: Identity, queueToken: String?, scheduleID: Int64, seatNumbers: [Int],
        idempotency: IdempotencyKey?, now: Date
    ) async throws -> Idempotent<Reservation> {
        try limits.checkWrite(userID: identity.userID, at: now)
        let ticket = try queue.ownTicket(token: queueToken, userID: identity.userID, now: now)
        let selection = try SeatSelection(scheduleID: scheduleID, seatNumbers: seatNumbers, maxSeats: maxSeatsPerHold)
        let hold: NewHold
        do {
            hold = try await priced(selection, userID: identity.userID, ticket: ticket, now: now)
        } catch let refusal as ServiceError {
            // A retry of a hold made before the sale closed still gets its first answer.
            if let idempotency, let earlier = try idempotency.replay(try await store.recordedResult(of: idempotency), as: Reservation.self) {
                return earlier
            }
            throw refusal
        }
        // The board's view: only a user it knows to be admitted can be refused from memory
        // (the others may be replays, whose token is already spent).
        let fromMemory = queue.refusal(for: ticket, now: now) == nil
        try await waitForTurn(selection, userID: identity.userID, refusingFromMemory: fromMemory, now: now)
        defer { holdsInFlight.finish(selection) }
        if fromMemory, recentClaims.sawClaimed(in: selection),
            let taken = try await store.seatTakenByOthers(selection, userID: identity.userID, now: now)
        {
            recentClaims.remember(taken, of: scheduleID, at: now)
            throw seatTaken(taken.seatNo, scheduleID)
        }
        return try await write(hold, ticket: ticket, idempotency: idempotency, now: now)
    }

    /// Stage 1: the hold checked against its schedule's room, sale window and seat range, and priced.
    private func priced(_ selection: SeatSelection, userID: Int64, ticket: QueueTicket, now: Date) async throws -> NewHold {
        let layout = try await layout(of: selection.scheduleID)
        try QueueService.checkRoom(of: ticket, is: layout.schedule.performanceID)
        try layout.schedule.checkHold(of: selection, at: now)
        return try NewHold(
            userID: userID, selection: selection, queueSeq: ticket.seq, seats: layout.seats(selection.seatNumbers), now: now,
            holdDuration: holdDuration)
    }

    /// The schedule's sale layout, read from the database once per instance.
    func layout(of scheduleID: Int64) async throws -> SaleLayout {
        guard let layout = try await layouts.layout(of: scheduleID, load: { [store] in try await store.saleLayout(of: scheduleID) }) else {
            throw ServiceError.scheduleNotFound(scheduleID)
        }
        return layout
    }

    /// Stage 2: when many want one seat, one hold of it at a time goes to the database from
    /// this instance; the others wait for it, then hear 409 from memory. Memory learns the
    /// hold just made, or who has the seat, read without locks by a hold that lost it. Holds
    /// of other seats never wait. Returns with the selection's seats marked in flight.
    private func waitForTurn(_ selection: SeatSelection, userID: Int64, refusingFromMemory: Bool, now: Date) async throws {
        while true {
            if refusingFromMemory, let taken = recentClaims.seatTaken(in: selection, byOtherThan: userID, at: now) {
                throw seatTaken(taken, selection.scheduleID)
            }
            if holdsInFlight.start(selection) { return }
            await holdsInFlight.waitForAFinish(selection)
        }
    }

    /// Stages 3 and 4: the store writes the hold; memory learns the outcome.
    private func write(_ hold: NewHold, ticket: QueueTicket, idempotency: IdempotencyKey?, now: Date) async throws -> Idempotent<Reservation> {
        let selection = hold.selection
        do {
            let result = try await store.hold(hold, now: now, idempotency: idempotency)
            if !result.replayed {
                queue.spent(ticket)
                recentClaims.remember(result.value, at: now)
                holdsCounter.increment()
            }
            return result
        } catch StoreRefusal.queueEntryEnded {
            // The board says why the entry ended; if it still thinks the entry active, the
            // entry was spent by a hold through another instance.
            throw queue.refusal(for: ticket, now: now) ?? QueueService.ended(.used)
        } catch StoreRefusal.seatTaken(_, let seat) {
            // Lost to a hold made through another instance or earlier: learn who has the seat
            // before the next hold of it may go, or a crowd would fail the transaction in turn.
            if let taken = try? await store.seatTakenByOthers(selection, userID: hold.userID, now: now) {
                recentClaims.remember(taken, of: selection.scheduleID, at: now)
            }
            throw seatTaken(seat, selection.scheduleID)
        } catch let refusal as StoreRefusal {
            throw ServiceError(refusal)
        }
    }

    private func seatTaken(_ seat: Int?, _ scheduleID: Int64) -> ServiceError {
        holdConflictsCounter.increment()
        return .seatTaken(seat, of: scheduleID)
    }

    /// Pays a pending hold from the wallet; exactly once per reservation.
    public func pay(_ identity: Identity, reservationID: Int64, idempotency: IdempotencyKey?, now: Date) async throws
        -> Idempotent<Reservation>
    {
        try limits.checkWrite(userID: identity.userID, at: now)
        let result = try await worded {
            try await store.pay(reservationID: reservationID, userID: identity.userID, now: now, idempotency: idempotency)
        }
        if !result.replayed { paymentsCounter.increment() }
        return result
    }

    /// Cancels a pending hold, or a paid reservation before the show (refunded).
    public func cancel(_ identity: Identity, reservationID: Int64, idempotency: IdempotencyKey?, now: Date) async throws
        -> Idempotent<Reservation>
    {
        let result = try await worded {
            try await store.cancel(reservationID: reservationID, userID: identity.userID, now: now, idempotency: idempotency)
        }
        recentClaims.forget(result.value)
        return result
    }

    /// The user's own reservations, newest first.
    public func reservations(of identity: Identity) async throws -> [Reservation] {
        try await store.reservations(userID: identity.userID)
    }

    public func reservation(_ id: Int64, of identity: Identity) async throws -> Reservation {
        guard let reservation = try await store.reservation(id: id, userID: identity.userID) else {
            throw ServiceError.reservationNotFound(id)
        }
        return reservation
    }

    /// Releases holds past their deadline (run by the sweeper).
    public func releaseLapsedHolds(now: Date) async throws -> Int {
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
