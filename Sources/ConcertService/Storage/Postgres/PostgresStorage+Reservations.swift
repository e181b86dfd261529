import Foundation
import PostgresNIO

extension PostgresStorage {
    /// A hold without an idempotency key goes in a batch (`writeHolds`), one statement
    /// for the holds that arrive meanwhile, instead of a transaction of three round trips each.
    /// A hold the batch could not decide (a seat with a claim, perhaps a lapsed one; the entry
    /// gone), and one with a key, whose result the transaction records, take the transaction.
    public func hold(_ hold: NewHold, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        if idempotency == nil, let reservationID = try await holdWrites.submit(PendingHold(hold: hold, now: now)) {
            return Idempotent(value: hold.storedReservation(id: reservationID, createdAt: now), replayed: false)
        }
        return try await transaction { connection in
            try await Self.idempotent(idempotency, connection, now: now, logger: logger) {
                let selection = hold.selection
                let seatNumbers = selection.seatNumbers.map(Int64.init)
                let context = HoldStatements.Context(
                    queueSeq: hold.queueSeq, userID: hold.userID, now: now.millis, scheduleID: selection.scheduleID,
                    seatNumbers: seatNumbers)
                guard let (spent, lapsed) = try await connection.execute(context, logger: logger).collected().first, spent == 1 else {
                    throw StoreRefusal.queueEntryEnded
                }
                // Holds past their deadline on these seats end first, so their seats count as free.
                let freed = try await Self.end(connection, reservations: lapsed, as: .expired, now: now, logger: logger)
                let claim = HoldStatements.Claim(
                    userID: hold.userID, scheduleID: selection.scheduleID, seatNumbers: seatNumbers, totalPrice: hold.totalPrice,
                    holdExpiresAt: hold.holdExpiresAt.millis, now: now.millis, freed: Int64(freed[selection.scheduleID, default: 0]))
                let claimed = try await connection.execute(claim, logger: logger).collected()
                guard claimed.count == seatNumbers.count, let reservationID = claimed.first?.reservationID else {
                    let taken = seatNumbers.first { seat in !claimed.contains { $0.seatNo == seat } }
                    throw StoreRefusal.seatTaken(scheduleID: selection.scheduleID, seatNo: taken.map(Int.init))
                }
                return hold.storedReservation(id: reservationID, createdAt: now)
            }
        }
    }

    /// Writes a batch of holds (`HoldStatements.HoldBatch`); answers each hold's reservation
    /// id, or nil for the transaction to decide. A user's second hold in a batch, and every
    /// hold of a batch that lost a seat to a concurrent one, go to the transaction.
    static func writeHolds(_ batch: [PendingHold], client: PostgresClient, logger: Logger) async throws -> [Int64?] {
        var users = Set<Int64>()
        let firstOfItsUser = batch.map { users.insert($0.hold.userID).inserted }
        let holds = zip(batch, firstOfItsUser).filter(\.1).map(\.0)
        let written: [Int64: Int64]? = try await translatingErrors {
            do {
                return try await client.execute(HoldStatements.HoldBatch(holds: holds), logger: logger).collected()
                    .reduce(into: [:]) { written, row in written[row.userID] = row.reservationID }
            } catch let error as PSQLError where ["23505", "23503", "40P01"].contains(error.serverInfo?[.sqlState]) {
                return nil  // unique_violation, foreign_key_violation, deadlock_detected
            }
        }
        return zip(batch, firstOfItsUser).map { pending, first in first ? written?[pending.hold.userID] : nil }
    }

    public func seatTakenByOthers(_ selection: SeatSelection, userID: Int64, now: Date) async throws -> TakenSeat? {
        let statement = HoldStatements.SeatTakenByOthers(
            scheduleID: selection.scheduleID, seatNumbers: selection.seatNumbers.map(Int64.init), userID: userID, now: now.millis)
        return try await Self.translatingErrors {
            try await client.execute(statement, logger: logger).collected().first
        }
    }

    public func pay(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await transaction { connection in
            try await Self.idempotent(idempotency, connection, now: now, logger: logger) {
                let reservation = try await Self.lockedReservation(connection, id: reservationID, userID: userID, logger: logger)
                let confirmed = try reservation.confirmed(by: userID, at: now)
                let movement = try await Self.lockedWallet(connection, userID: userID, now: now, logger: logger)
                    .pay(reservation.totalPrice, for: reservation.id)
                try await connection.rows(
                    "UPDATE reservations SET state = 'confirmed', updated_at = \(now.millis) WHERE id = \(reservation.id)",
                    logger: logger)
                try await Self.record(connection, movement, userID: userID, now: now, logger: logger)
                return confirmed
            }
        }
    }

    public func cancel(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await transaction { connection in
            try await Self.idempotent(idempotency, connection, now: now, logger: logger) {
                let reservation = try await Self.lockedReservation(connection, id: reservationID, userID: userID, logger: logger)
                let startsAt = try await connection.rows(
                    "SELECT starts_at FROM schedules WHERE id = \(reservation.scheduleID)", logger: logger
                )[0].decode(Int64.self)
                let cancellation = try reservation.cancellation(by: userID, at: now, showStartsAt: Date(millis: startsAt))
                let freed = try await Self.end(connection, reservations: [reservation.id], as: .cancelled, now: now, logger: logger)
                try await Self.changeRemainingSeats(connection, by: freed, logger: logger)
                if case .refund(let amount) = cancellation {
                    let movement = try await Self.lockedWallet(connection, userID: userID, now: now, logger: logger)
                        .refund(amount, for: reservation.id)
                    try await Self.record(connection, movement, userID: userID, now: now, logger: logger)
                }
                var cancelled = reservation
                cancelled.state = .cancelled
                return cancelled
            }
        }
    }

    public func reservations(userID: Int64) async throws -> [Reservation] {
        try await rows("\(unescaped: Self.reservationColumns) WHERE user_id = \(userID) ORDER BY id DESC LIMIT 500")
            .map(Self.reservation(from:))
    }

    public func reservation(id: Int64, userID: Int64) async throws -> Reservation? {
        try await rows("\(unescaped: Self.reservationColumns) WHERE id = \(id) AND user_id = \(userID)")
            .first.map(Self.reservation(from:))
    }

    public func releaseLapsedHolds(now: Date, limit: Int) async throws -> Int {
        try await transaction(on: background) { connection in
            // Instances sweep side by side: each takes holds the others have not locked, and
            // `end` only moves holds that are still pending, so each is released once.
            let lapsed = try await connection.rows(
                """
                SELECT id FROM reservations WHERE state = 'pending' AND hold_expires_at <= \(now.millis)
                ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """, logger: logger
            ).map { try $0.decode(Int64.self) }
            guard !lapsed.isEmpty else { return 0 }
            let freed = try await Self.end(connection, reservations: lapsed, as: .expired, now: now, logger: logger)
            try await Self.changeRemainingSeats(connection, by: freed, logger: logger)
            return lapsed.count
        }
    }

    public func forgetIdempotencyKeys(before cutoff: Date) async throws {
        _ = try await rows("DELETE FROM idempotency_keys WHERE created_at < \(cutoff.millis)", on: background)
    }

    // MARK: Steps of the transactions above

    /// Ends live reservations the caller has locked, and frees their seat claims. Returns how
    /// many seats each schedule got back; the caller adds them to the schedules last.
    private static func end(
        _ connection: PostgresConnection, reservations ids: [Int64], as state: Reservation.State, now: Date, logger: Logger
    ) async throws -> [Int64: Int] {
        guard !ids.isEmpty else { return [:] }
        // Only a cancellation may end a paid reservation; expiry never touches one.
        let endable = state == .cancelled ? ["pending", "confirmed"] : ["pending"]
        let freed = try await connection.rows(
            """
            WITH ended AS (
                UPDATE reservations SET state = \(state.rawValue), updated_at = \(now.millis)
                WHERE id = ANY(\(ids)) AND state = ANY(\(endable)) RETURNING id
            )
            UPDATE seat_claims SET live = 0 WHERE reservation_id IN (SELECT id FROM ended) AND live = 1 RETURNING schedule_id
            """, logger: logger)
        return try freed.reduce(into: [:]) { counts, row in counts[try row.decode(Int64.self), default: 0] += 1 }
    }

    /// Gives the schedules back `freed` seats, in schedule order (the fixed lock order).
    private static func changeRemainingSeats(_ connection: PostgresConnection, by freed: [Int64: Int], logger: Logger) async throws {
        for (scheduleID, count) in freed.sorted(by: { $0.key < $1.key }) where count != 0 {
            try await connection.rows(
                """
                UPDATE schedule_seat_counts SET taken = taken - \(count)
                WHERE schedule_id = \(scheduleID) AND shard = \(unescaped: shardOfThisConnection)
                """, logger: logger)
        }
    }

    private static func lockedReservation(_ connection: PostgresConnection, id: Int64, userID: Int64, logger: Logger)
        async throws -> Reservation
    {
        guard
            let row = try await connection.rows(
                "\(unescaped: reservationColumns) WHERE id = \(id) AND user_id = \(userID) FOR UPDATE", logger: logger
            ).first
        else {
            throw StoreRefusal.reservationNotFound(id)
        }
        return try reservation(from: row)
    }

    private static let reservationColumns =
        "SELECT id, user_id, schedule_id, state, seat_numbers, total_price, hold_expires_at, created_at FROM reservations"

    private static func reservation(from row: PostgresRow) throws -> Reservation {
        let (id, userID, scheduleID, state, seats, totalPrice, expiresAt, createdAt) = try row.decode(
            (Int64, Int64, Int64, String, String, Int64, Int64, Int64).self)
        return try StoredValues.reservation(
            id: id, userID: userID, scheduleID: scheduleID, state: state, seatNumbers: seats, totalPrice: totalPrice,
            holdExpiresAt: expiresAt, createdAt: createdAt)
    }
}
