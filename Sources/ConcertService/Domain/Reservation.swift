import Foundation

/// Seats a user holds (pending) or bought (confirmed). All state changes go through the
/// rules below, which every storage backend calls inside its transaction.
public struct Reservation: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case pending, confirmed, expired, cancelled
    }

    public var id: Int64
    public var userID: Int64
    public var scheduleID: Int64
    public var seatNumbers: [Int]
    public var state: State
    public var totalPrice: Int64
    public var holdExpiresAt: Date
    public var createdAt: Date

    /// A pending hold past its deadline: no longer live, even before the sweeper releases it.
    public func isLapsed(at now: Date) -> Bool {
        state == .pending && holdExpiresAt <= now
    }

    /// The state a client sees: a lapsed hold reads as expired.
    public func visibleState(at now: Date) -> State {
        isLapsed(at: now) ? .expired : state
    }

    /// Checks that `userID` may pay this hold now and returns the confirmed reservation.
    /// The wallet debit is `Wallet.pay`; both happen in one transaction.
    public func confirmed(by userID: Int64, at now: Date) throws -> Reservation {
        try requireOwner(userID)
        // Expired whether or not the sweeper has been by yet.
        guard state != .expired, !isLapsed(at: now) else {
            throw ServiceError(.holdExpired, "The hold on reservation \(id) expired at \(holdExpiresAt).")
        }
        guard state == .pending else {
            throw ServiceError(.reservationNotPending, "Reservation \(id) is \(state.rawValue), not pending.")
        }
        var confirmed = self
        confirmed.state = .confirmed
        return confirmed
    }

    public enum Cancellation: Sendable, Equatable {
        /// A pending hold is dropped; nothing was paid.
        case releaseHold
        /// A paid reservation is cancelled before the show; the price goes back to the wallet.
        case refund(Int64)
    }

    /// What cancelling this reservation does, or why it may not be cancelled.
    public func cancellation(by userID: Int64, at now: Date, showStartsAt: Date) throws -> Cancellation {
        try requireOwner(userID)
        switch state {
        case .pending:
            guard !isLapsed(at: now) else {
                throw ServiceError(.holdExpired, "The hold on reservation \(id) has already expired.")
            }
            return .releaseHold
        case .confirmed:
            guard now < showStartsAt else {
                throw ServiceError(.cancellationClosed, "The show has started; reservation \(id) can no longer be cancelled.")
            }
            return .refund(totalPrice)
        case .expired, .cancelled:
            throw ServiceError(.reservationNotCancellable, "Reservation \(id) is already \(state.rawValue).")
        }
    }

    /// Another user's reservation is reported as unknown, so ids reveal nothing.
    private func requireOwner(_ userID: Int64) throws {
        guard userID == self.userID else {
            throw ServiceError.reservationNotFound(id)
        }
    }
}

/// The seats a user asks to hold: 1 to `maxSeats` distinct seat numbers of one schedule.
public struct SeatSelection: Sendable, Equatable {
    public let scheduleID: Int64
    /// Ascending, so that every backend claims seats in the same order.
    public let seatNumbers: [Int]

    public init(scheduleID: Int64, seatNumbers: [Int], maxSeats: Int) throws {
        guard !seatNumbers.isEmpty, seatNumbers.count <= maxSeats else {
            throw ServiceError(.invalidSeatSelection, "Hold between 1 and \(maxSeats) seats at once.")
        }
        guard Set(seatNumbers).count == seatNumbers.count else {
            throw ServiceError(.invalidSeatSelection, "A seat number is repeated.")
        }
        guard let lowest = seatNumbers.min(), lowest >= 1 else {
            throw ServiceError(.seatOutOfRange, "Seat numbers start at 1.")
        }
        self.scheduleID = scheduleID
        self.seatNumbers = seatNumbers.sorted()
    }
}

/// A hold that passed the rules and is priced: what the store writes, spending the queue
/// entry `queueSeq`.
public struct NewHold: Sendable, Equatable {
    public let userID: Int64
    public let selection: SeatSelection
    public let queueSeq: Int64
    public let totalPrice: Int64
    public let holdExpiresAt: Date

    /// Prices the selected seats; `seats` are the schedule's seats with those numbers.
    public init(userID: Int64, selection: SeatSelection, queueSeq: Int64, seats: [Seat], now: Date, holdDuration: Duration) throws {
        guard seats.count == selection.seatNumbers.count else {
            throw ServiceError(.seatOutOfRange, "A selected seat does not exist on schedule \(selection.scheduleID).")
        }
        var total: Int64 = 0
        for seat in seats {
            let (sum, overflow) = total.addingReportingOverflow(seat.price)
            guard !overflow else { throw ServiceError(.amountOverLimit, "The total price is too large.") }
            total = sum
        }
        self.userID = userID
        self.selection = selection
        self.queueSeq = queueSeq
        self.totalPrice = total
        self.holdExpiresAt = now.addingTimeInterval(holdDuration.seconds)
    }
}

extension Duration {
    /// The duration in (fractional) seconds, for date arithmetic.
    public var seconds: TimeInterval {
        let (whole, attoseconds) = components
        return TimeInterval(whole) + TimeInterval(attoseconds) / 1e18
    }
}
