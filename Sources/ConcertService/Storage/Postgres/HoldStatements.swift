import Foundation
import PostgresNIO

/// The statements of a hold, the busiest write of an on-sale minute, as prepared statements:
/// each connection parses and plans them once (the generic plans of `PostgresStorage.init`)
/// instead of once per hold, which was half of the database's work. Every seat lookup leads
/// with the seat (see migration v3), so the plan PostgreSQL keeps for all values cannot turn
/// into a scan of the schedule.
enum HoldStatements {
    /// What the transaction needs before it claims, in one round trip: whether the queue entry
    /// was spent (it is deleted here) and the holds past their deadline on these seats (locked).
    struct Context: PostgresPreparedStatement {
        static let sql = """
            WITH spent AS (
                DELETE FROM queue_entries WHERE seq = $1 AND user_id = $2 AND active_until > $3 RETURNING seq
            ), lapsed AS (
                SELECT r.id FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
                WHERE c.seat_no = ANY($5) AND c.schedule_id = $4 AND c.live = 1
                  AND r.state = 'pending' AND r.hold_expires_at <= $3
                ORDER BY r.id FOR UPDATE OF r
            )
            SELECT (SELECT COUNT(*) FROM spent), ARRAY(SELECT id FROM lapsed)
            """
        typealias Row = (spent: Int64, lapsed: [Int64])

        var queueSeq: Int64
        var userID: Int64
        var now: Int64
        var scheduleID: Int64
        var seatNumbers: [Int64]

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(queueSeq)
            bindings.append(userID)
            bindings.append(now)
            bindings.append(scheduleID)
            bindings.append(seatNumbers)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let (spent, lapsed) = try row.decode((Int64, [Int64]).self)
            return (spent, lapsed)
        }
    }

    /// The claim. Seats are inserted in seat order, so two holds that want the same seats wait
    /// for each other in one order, never in a cycle; the unique index over live claims turns a
    /// taken seat into "no row". The taken-seat count changes last, on this connection's own
    /// shard, so concurrent holds of one schedule rarely wait for each other's commit there.
    /// Answers the claimed (reservation id, seat) pairs; fewer than wanted means a seat was taken.
    struct Claim: PostgresPreparedStatement {
        static let sql = """
            WITH reservation AS (
                INSERT INTO reservations (user_id, schedule_id, state, seat_numbers, seat_count, total_price,
                                          hold_expires_at, created_at, updated_at)
                VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $7)
                RETURNING id
            ), claimed AS (
                INSERT INTO seat_claims (reservation_id, schedule_id, seat_no)
                SELECT reservation.id, $2, seat_no FROM reservation, unnest($8::bigint[]) AS seat_no ORDER BY seat_no
                ON CONFLICT (schedule_id, seat_no) WHERE live = 1 DO NOTHING
                RETURNING reservation_id, seat_no
            ), counted AS (  -- a data-modifying CTE runs to completion even unread
                UPDATE schedule_seat_counts SET taken = taken + (SELECT COUNT(*) FROM claimed) - $9
                WHERE schedule_id = $2 AND shard = \(PostgresStorage.shardOfThisConnection)
                  AND (SELECT COUNT(*) FROM claimed) = $4
            )
            SELECT reservation_id, seat_no FROM claimed
            """
        typealias Row = (reservationID: Int64, seatNo: Int64)

        var userID: Int64
        var scheduleID: Int64
        var seatNumbers: [Int64]
        var totalPrice: Int64
        var holdExpiresAt: Int64
        var now: Int64
        /// Seats of this schedule that lapsed holds gave back in this transaction.
        var freed: Int64

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 9)
            bindings.append(userID)
            bindings.append(scheduleID)
            bindings.append(StoredValues.seatList(seatNumbers))
            bindings.append(Int64(seatNumbers.count))
            bindings.append(totalPrice)
            bindings.append(holdExpiresAt)
            bindings.append(now)
            bindings.append(seatNumbers)
            bindings.append(freed)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let (reservationID, seatNo) = try row.decode((Int64, Int64).self)
            return (reservationID, seatNo)
        }
    }

    /// Whole holds, a batch in one statement outside a transaction: each spends its queue
    /// entry, inserts its reservation and claims, and counts its seats. A hold that would need
    /// a decision (a seat with a live claim, even a lapsed one; an entry spent or run out)
    /// writes nothing and comes back without a row, for the transaction to decide. A seat
    /// claimed by a concurrent statement fails the claims' unique index, which undoes the whole
    /// batch. Answers (user id, reservation id) per hold written; one hold per user.
    struct HoldBatch: PostgresPreparedStatement {
        static let sql = """
            WITH hold AS (
                SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[],
                                     $7::bigint[], $8::bigint[])
                    AS h (seq, user_id, at, schedule_id, seat_numbers, seat_count, total_price, hold_expires_at)
            ), wanted AS (
                SELECT * FROM unnest($9::bigint[], $10::bigint[]) AS w (user_id, seat_no)
            ), free AS (  -- LIMIT keeps each lookup by seat, however few claims the plan was made for
                SELECT * FROM hold h WHERE NOT EXISTS (
                    SELECT 1 FROM wanted w, LATERAL (
                        SELECT 1 FROM seat_claims c
                        WHERE c.seat_no = w.seat_no AND c.schedule_id = h.schedule_id AND c.live = 1 LIMIT 1
                    ) claim
                    WHERE w.user_id = h.user_id)
            ), spent AS (
                DELETE FROM queue_entries q USING free h
                WHERE q.seq = h.seq AND q.user_id = h.user_id AND q.active_until > h.at
                RETURNING h.*
            ), reservation AS (
                INSERT INTO reservations (user_id, schedule_id, state, seat_numbers, seat_count, total_price,
                                          hold_expires_at, created_at, updated_at)
                SELECT user_id, schedule_id, 'pending', seat_numbers, seat_count, total_price, hold_expires_at, at, at FROM spent
                RETURNING id, user_id, schedule_id
            ), claimed AS (
                INSERT INTO seat_claims (reservation_id, schedule_id, seat_no)
                SELECT r.id, r.schedule_id, w.seat_no FROM reservation r JOIN wanted w ON w.user_id = r.user_id
                ORDER BY r.schedule_id, w.seat_no
                RETURNING schedule_id
            ), counted AS (  -- last, after the claims (see `Claim`)
                UPDATE schedule_seat_counts c SET taken = c.taken + n.seats
                FROM (SELECT schedule_id, COUNT(*) AS seats FROM claimed GROUP BY schedule_id) n
                WHERE c.schedule_id = n.schedule_id AND c.shard = \(PostgresStorage.shardOfThisConnection)
            )
            SELECT user_id, id FROM reservation
            """
        typealias Row = (userID: Int64, reservationID: Int64)

        var holds: [PendingHold]

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 10)
            let seats = holds.map { $0.hold.selection.seatNumbers }
            bindings.append(holds.map(\.hold.queueSeq))
            bindings.append(holds.map(\.hold.userID))
            bindings.append(holds.map(\.now.millis))
            bindings.append(holds.map(\.hold.selection.scheduleID))
            bindings.append(seats.map { StoredValues.seatList($0) })
            bindings.append(seats.map { Int64($0.count) })
            bindings.append(holds.map(\.hold.totalPrice))
            bindings.append(holds.map(\.hold.holdExpiresAt.millis))
            bindings.append(zip(holds, seats).flatMap { quick, seats in seats.map { _ in quick.hold.userID } })
            bindings.append(seats.joined().map(Int64.init))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let (userID, reservationID) = try row.decode((Int64, Int64).self)
            return (userID, reservationID)
        }
    }

    /// The first seat of a selection that another user's live reservation has now; no locks.
    struct SeatTakenByOthers: PostgresPreparedStatement {
        static let sql = """
            SELECT c.seat_no, r.user_id, CASE WHEN r.state = 'pending' THEN r.hold_expires_at END
            FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
            WHERE c.seat_no = ANY($2) AND c.schedule_id = $1 AND c.live = 1
              AND r.user_id != $3 AND (r.state = 'confirmed' OR r.hold_expires_at > $4)
            ORDER BY c.seat_no LIMIT 1
            """
        typealias Row = TakenSeat

        var scheduleID: Int64
        var seatNumbers: [Int64]
        var userID: Int64
        var now: Int64

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(scheduleID)
            bindings.append(seatNumbers)
            bindings.append(userID)
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> TakenSeat {
            let (seatNo, userID, heldUntil) = try row.decode((Int64, Int64, Int64?).self)
            return TakenSeat(seatNo: Int(seatNo), userID: userID, heldUntil: heldUntil.map(Date.init(millis:)))
        }
    }
}

extension AsyncSequence {
    /// Every element, in order.
    func collected() async throws -> [Element] {
        try await reduce(into: []) { $0.append($1) }
    }
}
