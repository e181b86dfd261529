import Foundation
import GRDB

extension SQLiteStorage {
    public func hold(_ hold: NewHold, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await holdWrites.submit(PendingHold(hold: hold, now: now, idempotency: idempotency)).get()
    }

    /// Holds that arrive while others are being written share one transaction (SQLite has one
    /// writer, and a commit costs about the same for one hold as for a hundred). Each hold is all
    /// or nothing: a refused hold leaves nothing behind and the others commit.
    static func writeHolds(_ batch: [PendingHold], pool: DatabasePool) async throws -> [Result<Idempotent<Reservation>, any Error>] {
        do {
            return try await writeHolds(batch, pool: pool, everyHoldInSavepoint: false)
        } catch is UnfinishedHold {
            // A write that the checks before it should have made safe failed: the batch is
            // undone, and written again with every hold in a savepoint of its own.
            return try await writeHolds(batch, pool: pool, everyHoldInSavepoint: true)
        }
    }

    private static func writeHolds(
        _ batch: [PendingHold], pool: DatabasePool, everyHoldInSavepoint: Bool
    ) async throws -> [Result<Idempotent<Reservation>, any Error>] {
        try await translatingErrors {
            try await pool.write { db in
                var statements = try CachedHoldStatements(db)
                var outcomes: [Result<Idempotent<Reservation>, any Error>] = []
                for pending in batch {
                    do {
                        if everyHoldInSavepoint || pending.idempotency != nil {
                            // The idempotency record is written after the hold: both in one savepoint.
                            outcomes.append(
                                .success(
                                    try statements.inSavepoint {
                                        try idempotent(pending.idempotency, db, now: pending.now) {
                                            try write(pending, statements, inSavepoint: true, in: db)
                                        }
                                    }))
                        } else {
                            let reservation = try write(pending, statements, inSavepoint: false, in: db)
                            outcomes.append(.success(Idempotent(value: reservation, replayed: false)))
                        }
                    } catch let unfinished as UnfinishedHold {
                        throw unfinished
                    } catch {
                        outcomes.append(.failure(error))
                        // GRDB drops a statement that failed from its cache, and one kept here would
                        // throw that error again. A refusal failed no statement.
                        if error is DatabaseError { statements = try CachedHoldStatements(db) }
                    }
                }
                return outcomes
            }
        }
    }

    /// A hold outside a savepoint failed after its first write: only undoing the whole
    /// transaction takes that write back.
    private struct UnfinishedHold: Error {}

    /// The statements of a batch of holds, taken from the statement cache once per batch.
    private struct CachedHoldStatements {
        let savepoint, releaseSavepoint, rollbackToSavepoint: Statement
        let spendQueueEntry, claimsOfWantedSeats, insertReservation, insertClaim, countOffSeats: Statement

        init(_ db: Database) throws {
            savepoint = try db.cachedStatement(sql: "SAVEPOINT hold")
            releaseSavepoint = try db.cachedStatement(sql: "RELEASE SAVEPOINT hold")
            rollbackToSavepoint = try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT hold")
            spendQueueEntry = try db.cachedStatement(sql: "DELETE FROM queue_entries WHERE seq = ? AND user_id = ? AND active_until > ?")
            // The live claims of the wanted seats. SQLite has no array binding: the seats go in
            // as a JSON array, so the statement has fixed text; CROSS JOIN keeps the array the
            // outer loop (the planner would scan the schedule).
            claimsOfWantedSeats = try db.cachedStatement(sql: """
                SELECT c.seat_no, c.reservation_id FROM json_each(?) j
                CROSS JOIN seat_claims c ON c.schedule_id = ? AND c.seat_no = j.value AND c.live = 1
                """)
            insertReservation = try db.cachedStatement(sql: """
                INSERT INTO reservations (user_id, schedule_id, state, seat_numbers, seat_count, total_price,
                                          hold_expires_at, created_at, updated_at)
                VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)
                """)
            insertClaim = try db.cachedStatement(sql: "INSERT INTO seat_claims (reservation_id, schedule_id, seat_no) VALUES (?, ?, ?)")
            countOffSeats = try db.cachedStatement(sql: "UPDATE schedules SET remaining_seats = remaining_seats - ? WHERE id = ?")
        }

        /// `body` all or nothing within the batch's transaction, with cached statements: GRDB's
        /// `inSavepoint` prepares its SAVEPOINT and RELEASE anew each time, on every hold.
        func inSavepoint<T>(_ body: () throws -> T) throws -> T {
            try savepoint.execute()
            do {
                let value = try body()
                try releaseSavepoint.execute()
                return value
            } catch {
                try rollbackToSavepoint.execute()
                try releaseSavepoint.execute()
                throw error
            }
        }
    }

    /// One hold, in the caller's transaction. A hold whose wanted seats have no claim needs no
    /// check before its first write (which spends the queue entry, or finds it spent and
    /// changes nothing), so it needs no savepoint, and a write that fails anyway throws
    /// `UnfinishedHold`. One whose seats have a claim (taken, or a lapsed hold to release
    /// first) is written in a savepoint, its queue entry first, so a spent token answers
    /// before a taken seat.
    private static func write(_ pending: PendingHold, _ statements: CachedHoldStatements, inSavepoint: Bool, in db: Database) throws -> Reservation {
        let hold = pending.hold, selection = hold.selection, scheduleID = selection.scheduleID, now = pending.now
        let seatList = StoredValues.seatList(selection.seatNumbers)
        var claims: [SeatClaim] = []
        try statements.claimsOfWantedSeats.forEachRow(db, .text("[\(seatList)]"), .integer(scheduleID)) { row in
            claims.append(SeatClaim(seatNo: Int(row.integer(at: 0)), reservationID: row.integer(at: 1)))
        }

        func spendQueueEntry() throws {
            try statements.spendQueueEntry.run(db, .integer(hold.queueSeq), .integer(hold.userID), .integer(now.millis))
            guard db.changesCount == 1 else {
                throw StoreRefusal.queueEntryEnded
            }
        }
        func insert(inSavepoint: Bool) throws -> Reservation {
            do {
                try statements.insertReservation.run(
                    db, .integer(hold.userID), .integer(scheduleID), .text(seatList), .integer(Int64(selection.seatNumbers.count)),
                    .integer(hold.totalPrice), .integer(hold.holdExpiresAt.millis), .integer(now.millis), .integer(now.millis))
                let reservationID = db.lastInsertedRowID
                for seatNo in selection.seatNumbers {
                    try statements.insertClaim.run(db, .integer(reservationID), .integer(scheduleID), .integer(Int64(seatNo)))
                }
                try statements.countOffSeats.run(db, .integer(Int64(selection.seatNumbers.count)), .integer(scheduleID))
                return hold.storedReservation(id: reservationID, createdAt: now)
            } catch where !inSavepoint {
                throw UnfinishedHold()
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreRefusal.seatTaken(scheduleID: scheduleID, seatNo: nil)
            }
        }

        if claims.isEmpty {
            try spendQueueEntry()
            return try insert(inSavepoint: inSavepoint)
        }
        let claimedHold = {
            try spendQueueEntry()
            try requireFree(claimed: claims, in: db, scheduleID: scheduleID, now: now)
            return try insert(inSavepoint: true)
        }
        return try inSavepoint ? claimedHold() : statements.inSavepoint(claimedHold)
    }

    public func seatTakenByOthers(_ selection: SeatSelection, userID: Int64, now: Date) async throws -> TakenSeat? {
        let seatArray = "[\(StoredValues.seatList(selection.seatNumbers))]"
        return try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT c.seat_no, r.user_id, CASE WHEN r.state = 'pending' THEN r.hold_expires_at END AS held_until
                    FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
                    WHERE c.schedule_id = ? AND c.seat_no IN (SELECT value FROM json_each(?)) AND c.live = 1
                      AND r.user_id != ? AND (r.state = 'confirmed' OR r.hold_expires_at > ?)
                    ORDER BY c.seat_no LIMIT 1
                    """),
                arguments: [selection.scheduleID, seatArray, userID, now.millis]
            ).map { row in
                TakenSeat(seatNo: row["seat_no"], userID: row["user_id"], heldUntil: (row["held_until"] as Int64?).map(Date.init(millis:)))
            }
        }
    }

    public func pay(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await write { db in
            try Self.idempotent(idempotency, db, now: now) {
                let reservation = try Self.ownReservation(db, id: reservationID, userID: userID)
                let confirmed = try reservation.confirmed(by: userID, at: now)
                let movement = try Self.wallet(db, userID: userID).pay(reservation.totalPrice, for: reservation.id)
                try Self.setState(db, of: reservation, to: .confirmed, now: now)
                try Self.record(db, movement, userID: userID, now: now)
                return confirmed
            }
        }
    }

    public func cancel(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation>
    {
        try await write { db in
            try Self.idempotent(idempotency, db, now: now) {
                let reservation = try Self.ownReservation(db, id: reservationID, userID: userID)
                let startsAt = try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT starts_at FROM schedules WHERE id = ?"), arguments: [reservation.scheduleID])!
                let cancellation = try reservation.cancellation(by: userID, at: now, showStartsAt: Date(millis: startsAt))
                try Self.release(db, reservation, to: .cancelled, now: now)
                if case .refund(let amount) = cancellation {
                    let movement = try Self.wallet(db, userID: userID).refund(amount, for: reservation.id)
                    try Self.record(db, movement, userID: userID, now: now)
                }
                var cancelled = reservation
                cancelled.state = .cancelled
                return cancelled
            }
        }
    }

    public func reservations(userID: Int64) async throws -> [Reservation] {
        try await read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM reservations WHERE user_id = ? ORDER BY id DESC LIMIT 500"), arguments: [userID]
            ).map(Self.reservation(from:))
        }
    }

    public func reservation(id: Int64, userID: Int64) async throws -> Reservation? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM reservations WHERE id = ? AND user_id = ?"), arguments: [id, userID])
                .map(Self.reservation(from:))
        }
    }

    public func releaseLapsedHolds(now: Date, limit: Int) async throws -> Int {
        try await write { db in
            let lapsed = try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT * FROM reservations WHERE state = 'pending' AND hold_expires_at <= ? ORDER BY hold_expires_at LIMIT ?"),
                arguments: [now.millis, limit]
            ).map(Self.reservation(from:))
            for reservation in lapsed {
                try Self.release(db, reservation, to: .expired, now: now)
            }
            return lapsed.count
        }
    }

    public func recordedResult(of key: IdempotencyKey) async throws -> IdempotencyKey.Record? {
        try await read { db in try Self.recordedResult(of: key, db) }
    }

    public func forgetIdempotencyKeys(before cutoff: Date) async throws {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM idempotency_keys WHERE created_at < ?").execute(arguments: [cutoff.millis])
        }
    }

    // MARK: Steps of the transactions above

    /// A wanted seat's live claim: the reservation that has the seat.
    private struct SeatClaim {
        var seatNo: Int
        var reservationID: Int64
    }

    /// Each claimed wanted seat must belong to a hold past its deadline, which no longer counts
    /// (a lapsed hold): it is expired here, before the sweeper gets to it, and its seats are free again.
    private static func requireFree(claimed claims: [SeatClaim], in db: Database, scheduleID: Int64, now: Date) throws {
        var lapsed: [Int64: Reservation] = [:]
        for claim in claims.sorted(by: { $0.seatNo < $1.seatNo }) where lapsed[claim.reservationID] == nil {
            let claimant = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM reservations WHERE id = ?"), arguments: [claim.reservationID]
            ).map(reservation(from:))
            guard let claimant, claimant.isLapsed(at: now) else {
                throw StoreRefusal.seatTaken(scheduleID: scheduleID, seatNo: claim.seatNo)
            }
            lapsed[claimant.id] = claimant
        }
        for reservation in lapsed.values.sorted(by: { $0.id < $1.id }) {
            try release(db, reservation, to: .expired, now: now)
        }
    }

    /// Ends a live reservation and gives its seats back to the schedule.
    private static func release(_ db: Database, _ reservation: Reservation, to state: Reservation.State, now: Date) throws {
        try setState(db, of: reservation, to: state, now: now)
        try db.cachedStatement(sql: "UPDATE seat_claims SET live = 0 WHERE reservation_id = ? AND live = 1").execute(arguments: [
            reservation.id
        ])
        try db.cachedStatement(sql: "UPDATE schedules SET remaining_seats = remaining_seats + ? WHERE id = ?").execute(arguments: [
            db.changesCount, reservation.scheduleID,
        ])
    }

    /// Moves a reservation on from the state it was read in; anything else is a bug.
    private static func setState(_ db: Database, of reservation: Reservation, to state: Reservation.State, now: Date) throws {
        try db.cachedStatement(sql: "UPDATE reservations SET state = ?, updated_at = ? WHERE id = ? AND state = ?").execute(arguments: [
            state.rawValue, now.millis, reservation.id, reservation.state.rawValue,
        ])
        guard db.changesCount == 1 else {
            throw StoreRefusal.reservationChanged(reservation.id)
        }
    }

    private static func ownReservation(_ db: Database, id: Int64, userID: Int64) throws -> Reservation {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM reservations WHERE id = ? AND user_id = ?"), arguments: [id, userID])
        else {
            throw StoreRefusal.reservationNotFound(id)
        }
        return try reservation(from: row)
    }

    static func reservation(from row: Row) throws -> Reservation {
        try StoredValues.reservation(
            id: row["id"], userID: row["user_id"], scheduleID: row["schedule_id"], state: row["state"], seatNumbers: row["seat_numbers"],
            totalPrice: row["total_price"], holdExpiresAt: row["hold_expires_at"], createdAt: row["created_at"])
    }
}

