import Foundation
import GRDB

extension SQLiteStorage {
    public func createPerformance(_ performance: NewPerformance, room: NewRoom, now: Date) async throws -> Performance {
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO performances (title, performer, description, created_at) VALUES (?, ?, ?, ?)").execute(
                arguments: [performance.title, performance.performer, performance.description, now.millis])
            let id = db.lastInsertedRowID
            _ = try Self.rows(of: QueueReads.createRoom(performanceID: id, room: room), in: db, cached: false)
            return Performance(id: id, title: performance.title, performer: performance.performer, description: performance.description)
        }
    }

    public func createSchedule(_ schedule: NewSchedule, performanceID: Int64, now: Date) async throws -> Schedule {
        try await write { db in
            guard try Self.performance(db, id: performanceID) != nil else {
                throw StoreRefusal.performanceNotFound(performanceID)
            }
            try db.cachedStatement(
                sql: """
                    INSERT INTO schedules (performance_id, starts_at, sale_opens_at, sale_closes_at, total_seats, remaining_seats)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                performanceID, schedule.startsAt.millis, schedule.saleOpensAt.millis, schedule.saleClosesAt.millis,
                schedule.seats.count, schedule.seats.count,
            ])
            let scheduleID = db.lastInsertedRowID
            let insert = try db.makeStatement(sql: "INSERT INTO seats (schedule_id, seat_no, grade, price) VALUES (?, ?, ?, ?)")
            for seat in schedule.seats {
                try insert.execute(arguments: [scheduleID, seat.seatNo, seat.grade, seat.price])
            }
            return Schedule(
                id: scheduleID, performanceID: performanceID, startsAt: schedule.startsAt,
                saleOpensAt: schedule.saleOpensAt, saleClosesAt: schedule.saleClosesAt,
                totalSeats: schedule.seats.count, remainingSeats: schedule.seats.count)
        }
    }

    public func performances(startingIn range: Range<Date>, now: Date) async throws -> [PerformanceListing] {
        try await read { db in
            let schedules = try Self.schedules(
                db, where: "s.starts_at >= ? AND s.starts_at < ?",
                arguments: [range.lowerBound.millis, range.upperBound.millis], now: now)
            return try groupedByPerformance(schedules).compactMap { id, schedules in
                try Self.performance(db, id: id).map { PerformanceListing(performance: $0, schedules: schedules) }
            }
        }
    }

    public func performance(id: Int64, now: Date) async throws -> PerformanceListing? {
        try await read { db in
            guard let performance = try Self.performance(db, id: id) else { return nil }
            let schedules = try Self.schedules(db, where: "s.performance_id = ?", arguments: [id], now: now)
            return PerformanceListing(performance: performance, schedules: schedules)
        }
    }

    public func seatMap(scheduleID: Int64, now: Date) async throws -> SeatMap? {
        try await read { db in
            guard let schedule = try Self.schedules(db, where: "s.id = ?", arguments: [scheduleID], now: now).first else {
                return nil
            }
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT st.seat_no, st.grade, st.price, r.state, r.hold_expires_at
                        FROM seats st
                        LEFT JOIN seat_claims c ON c.schedule_id = st.schedule_id AND c.seat_no = st.seat_no AND c.live = 1
                        LEFT JOIN reservations r ON r.id = c.reservation_id
                        WHERE st.schedule_id = ?
                        ORDER BY st.seat_no
                        """), arguments: [scheduleID])
            let seats = try rows.map { row in
                let claim = try (row["state"] as String?).map(StoredValues.reservationState)
                let deadline = (row["hold_expires_at"] as Int64?).map(Date.init(millis:))
                return (
                    seat: Seat(seatNo: row["seat_no"], grade: row["grade"], price: row["price"]),
                    status: SeatStatus(claim: claim, holdExpiresAt: deadline, at: now)
                )
            }
            return SeatMap(schedule: schedule, seats: seats)
        }
    }

    public func sales(performanceID: Int64, now: Date) async throws -> [ScheduleSales]? {
        try await read { db in
            guard try Self.performance(db, id: performanceID) != nil else { return nil }
            return try Self.schedules(db, where: "s.performance_id = ?", arguments: [performanceID], now: now).map { schedule in
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT
                                COALESCE(SUM(CASE WHEN state = 'confirmed' THEN seat_count END), 0) AS sold,
                                COALESCE(SUM(CASE WHEN state = 'pending' AND hold_expires_at > ? THEN seat_count END), 0) AS held,
                                COALESCE(SUM(CASE WHEN state = 'confirmed' THEN total_price END), 0) AS revenue
                            FROM reservations WHERE schedule_id = ?
                            """), arguments: [now.millis, schedule.id])!
                return ScheduleSales(schedule: schedule, soldSeats: row["sold"], heldSeats: row["held"], revenue: row["revenue"])
            }
        }
    }

    public func saleLayout(of scheduleID: Int64) async throws -> SaleLayout? {
        try await read { db in
            guard let schedule = try Self.storedSchedule(db, id: scheduleID) else { return nil }
            let seats = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT seat_no, grade, price FROM seats WHERE schedule_id = ? ORDER BY seat_no"), arguments: [scheduleID]
            ).map { Seat(seatNo: $0["seat_no"], grade: $0["grade"], price: $0["price"]) }
            let performance = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT title, performer FROM performances WHERE id = ?"), arguments: [schedule.performanceID])
            return SaleLayout(schedule: schedule, title: performance?["title"] ?? "", performer: performance?["performer"] ?? "", seats: seats)
        }
    }

    public func catalogueIsEmpty() async throws -> Bool {
        try await read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM performances")) == 0 }
    }

    // MARK: Rows

    static func performance(_ db: Database, id: Int64) throws -> Performance? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, title, performer, description FROM performances WHERE id = ?"), arguments: [id]
        )
        .map { Performance(id: $0["id"], title: $0["title"], performer: $0["performer"], description: $0["description"]) }
    }

    /// A schedule as stored: its `remainingSeats` still counts lapsed holds.
    static func storedSchedule(_ db: Database, id: Int64) throws -> Schedule? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM schedules WHERE id = ?"), arguments: [id]).map {
            schedule(from: $0, remaining: "remaining_seats")
        }
    }

    /// Schedules with the remaining seats a client may observe now: holds past their deadline
    /// count as free even before the sweeper releases them.
    static func schedules(_ db: Database, where condition: String, arguments: StatementArguments, now: Date) throws -> [Schedule] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT s.*, s.remaining_seats + (
                    SELECT COALESCE(SUM(r.seat_count), 0) FROM reservations r
                    WHERE r.schedule_id = s.id AND r.state = 'pending' AND r.hold_expires_at <= ?
                ) AS remaining_now
                FROM schedules s WHERE \(condition) ORDER BY s.starts_at, s.id
                """,
            arguments: [now.millis] + arguments)
        return rows.map { schedule(from: $0, remaining: "remaining_now") }
    }

    private static func schedule(from row: Row, remaining column: String) -> Schedule {
        Schedule(
            id: row["id"], performanceID: row["performance_id"], startsAt: row.date("starts_at"),
            saleOpensAt: row.date("sale_opens_at"), saleClosesAt: row.date("sale_closes_at"),
            totalSeats: row["total_seats"], remainingSeats: row[column])
    }
}
