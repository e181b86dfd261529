import Foundation
import PostgresNIO

extension PostgresStorage {
    public func hold(_ request: HoldRequest, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        if idempotency == nil, let reservation = try await quickHold(request, now: now) {
            return Idempotent(value: reservation, replayed: false)
        }
        return try await transaction { connection in
            try await Self.idempotent(idempotency, connection, now: now, logger: logger) {
                let selection = request.selection
                let seatNumbers = selection.seatNumbers.map(Int64.init)
                let context = HoldStatements.Context(
                    queueSeq: request.queueSeq, userID: request.userID, now: now.millis, scheduleID: selection.scheduleID,
                    seatNumbers: seatNumbers)
                guard let row = try await connection.execute(context, logger: logger).collected().first else {
                    throw ServiceError(.scheduleNotFound, "Schedule \(selection.scheduleID) not found.")
                }
                let (schedule, spent, lapsed, seats) = try Self.holdContext(from: row)
                try schedule.checkHold(of: selection, at: now)
                guard spent == 1 else {
                    throw ServiceError(.queueTokenExpired, "The queue token is no longer active; join the queue again.")
                }
                let hold = try NewHold(
                    userID: request.userID, selection: selection, seats: seats, now: now, holdDuration: request.holdDuration)
                // Holds past their deadline on these seats end first, so their seats count as free (flow 7).
                let freed = try await Self.end(connection, reservations: lapsed, as: .expired, now: now, logger: logger)

                let claim = HoldStatements.Claim(
                    userID: hold.userID, scheduleID: schedule.id, seatNumbers: seatNumbers, totalPrice: hold.totalPrice,
                    holdExpiresAt: hold.holdExpiresAt.millis, now: now.millis, freed: Int64(freed[schedule.id, default: 0]))
                let claimed = try await connection.execute(claim, logger: logger).collected()
                guard claimed.count == seatNumbers.count, let reservationID = claimed.first?.reservationID else {
                    let taken = seatNumbers.first { seat in !claimed.contains { $0.seatNo == seat } } ?? seatNumbers[0]
                    throw ServiceError(.seatUnavailable, "Seat \(taken) of schedule \(schedule.id) is already held or sold.")
                }
                return hold.storedReservation(id: reservationID, createdAt: now)
            }
        }
    }

    /// The common hold, free seats and an active queue entry: its rules checked against the
    /// schedule's sale layout in memory, then written with the holds that arrive meanwhile in
    /// one statement (`writeQuickHolds`), instead of a transaction of four round trips each.
    /// Nil when it could not tell: the rules refuse the hold, a seat has a claim (perhaps a
    /// lapsed one), or the entry is gone; the transaction then decides, and names the reason.
    /// Holds with an idempotency key always take the transaction, which records their result.
    private func quickHold(_ request: HoldRequest, now: Date) async throws -> Reservation? {
        let selection = request.selection
        guard
            let layout = try await layouts.layout(of: selection.scheduleID, load: { [self] in
                try await saleLayout(of: selection.scheduleID)
            }),
            (try? layout.schedule.checkHold(of: selection, at: now)) != nil,
            let hold = try? NewHold(
                userID: request.userID, selection: selection, seats: layout.seats(selection.seatNumbers), now: now,
                holdDuration: request.holdDuration)
        else { return nil }
        let reservationID = try await holdWrites.submit(HoldStatements.QuickHold(queueSeq: request.queueSeq, hold: hold, now: now))
        return reservationID.map { hold.storedReservation(id: $0, createdAt: now) }
    }

    /// Writes a batch of quick holds (`HoldStatements.QuickHolds`); answers each hold's
    /// reservation id, or nil for the transaction to decide. A user's second hold in a batch,
    /// and every hold of a batch that lost a seat to a concurrent one, go to the transaction.
    static func writeQuickHolds(_ batch: [HoldStatements.QuickHold], client: PostgresClient, logger: Logger) async throws -> [Int64?] {
        var users = Set<Int64>()
        let firstOfItsUser = batch.map { users.insert($0.hold.userID).inserted }
        let holds = zip(batch, firstOfItsUser).filter(\.1).map(\.0)
        let written: [Int64: Int64]? = try await translatingErrors {
            do {
                return try await client.execute(HoldStatements.QuickHolds(holds: holds), logger: logger).collected()
                    .reduce(into: [:]) { written, row in written[row.userID] = row.reservationID }
            } catch let error as PSQLError where ["23505", "23503", "40P01"].contains(error.serverInfo?[.sqlState]) {
                return nil  // unique_violation, foreign_key_violation, deadlock_detected
            }
        }
        return zip(batch, firstOfItsUser).map { quick, first in first ? written?[quick.hold.userID] : nil }
    }

    /// A schedule's sale layout: the schedule as the catalogue reads it, and its seats in order.
    private func saleLayout(of scheduleID: Int64) async throws -> SaleLayout? {
        try await reading { connection in
            guard let schedule = try await Self.schedules(connection, now: Date(), logger: logger, where: "s.id = $2", scheduleID).first
            else { return nil }
            let seats = try await connection.rows(
                "SELECT seat_no, grade, price FROM seats WHERE schedule_id = \(scheduleID) ORDER BY seat_no", logger: logger
            ).map { row in
                let (seatNo, grade, price) = try row.decode((Int64, String, Int64).self)
                return Seat(seatNo: Int(seatNo), grade: grade, price: price)
            }
            return SaleLayout(schedule: schedule, seats: seats)
        }
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

    /// The schedule, whether the queue entry was spent, the lapsed holds locked, and the wanted
    /// seats, from `HoldStatements.Context`.
    private static func holdContext(from row: PostgresRow) throws -> (Schedule, spent: Int64, lapsed: [Int64], seats: [Seat]) {
        let cells = row.makeRandomAccess()
        let schedule = Schedule(
            id: try cells[0].decode(Int64.self), performanceID: try cells[1].decode(Int64.self),
            startsAt: Date(millis: try cells[2].decode(Int64.self)), saleOpensAt: Date(millis: try cells[3].decode(Int64.self)),
            saleClosesAt: Date(millis: try cells[4].decode(Int64.self)), totalSeats: Int(try cells[5].decode(Int64.self)),
            remainingSeats: Int(try cells[6].decode(Int64.self)))
        let seatNumbers = try cells[9].decode([Int64].self)
        let grades = try cells[10].decode([String].self)
        let prices = try cells[11].decode([Int64].self)
        let seats = seatNumbers.indices.map { Seat(seatNo: Int(seatNumbers[$0]), grade: grades[$0], price: prices[$0]) }
        return (schedule, try cells[7].decode(Int64.self), try cells[8].decode([Int64].self), seats)
    }

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
            throw ServiceError(.reservationNotFound, "Reservation \(id) not found.")
        }
        return try reservation(from: row)
    }

    private static let reservationColumns =
        "SELECT id, user_id, schedule_id, state, seat_numbers, total_price, hold_expires_at, created_at FROM reservations"

    private static func reservation(from row: PostgresRow) throws -> Reservation {
        let (id, userID, scheduleID, state, seats, totalPrice, expiresAt, createdAt) = try row.decode(
            (Int64, Int64, Int64, String, String, Int64, Int64, Int64).self)
        return Reservation(
            id: id, userID: userID, scheduleID: scheduleID, seatNumbers: seats.split(separator: ",").compactMap { Int($0) },
            state: Reservation.State(rawValue: state) ?? .expired, totalPrice: totalPrice,
            holdExpiresAt: Date(millis: expiresAt), createdAt: Date(millis: createdAt))
    }
}
