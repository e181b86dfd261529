import Foundation
import PostgresNIO

extension PostgresStorage {
    public func createPerformance(_ performance: NewPerformance, room: NewRoom, now: Date) async throws -> Performance {
        let id = try await transaction { connection in
            let id = try await connection.rows(
                """
                INSERT INTO performances (title, performer, description, created_at)
                VALUES (\(performance.title), \(performance.performer), \(performance.description), \(now.millis)) RETURNING id
                """, logger: logger
            )[0].decode(Int64.self)
            try await Self.rows(of: QueueReads.createRoom(performanceID: id, room: room), on: connection, logger: logger)
            return id
        }
        return Performance(id: id, title: performance.title, performer: performance.performer, description: performance.description)
    }

    public func createSchedule(_ schedule: NewSchedule, performanceID: Int64, now: Date) async throws -> Schedule {
        try await transaction { connection in
            guard try await Self.performance(connection, id: performanceID, logger: logger) != nil else {
                throw StoreRefusal.performanceNotFound(performanceID)
            }
            let seats = schedule.seats
            let scheduleID = try await connection.rows(
                """
                WITH schedule AS (
                    INSERT INTO schedules (performance_id, starts_at, sale_opens_at, sale_closes_at, total_seats)
                    VALUES (\(performanceID), \(schedule.startsAt.millis), \(schedule.saleOpensAt.millis),
                            \(schedule.saleClosesAt.millis), \(seats.count))
                    RETURNING id
                ), counts AS (
                    INSERT INTO schedule_seat_counts (schedule_id, shard, taken)
                    SELECT schedule.id, shard, 0 FROM schedule, generate_series(0, \(Int64(Self.seatCountShards - 1))) AS shard
                )
                SELECT id FROM schedule
                """, logger: logger
            )[0].decode(Int64.self)
            // One statement for the whole seat map, however large.
            try await connection.rows(
                """
                INSERT INTO seats (schedule_id, seat_no, grade, price)
                SELECT \(scheduleID), * FROM unnest(\(seats.map { Int64($0.seatNo) })::bigint[], \(seats.map(\.grade))::text[],
                                                    \(seats.map(\.price))::bigint[])
                """, logger: logger)
            return Schedule(
                id: scheduleID, performanceID: performanceID, startsAt: schedule.startsAt,
                saleOpensAt: schedule.saleOpensAt, saleClosesAt: schedule.saleClosesAt,
                totalSeats: seats.count, remainingSeats: seats.count)
        }
    }

    public func performances(startingIn range: Range<Date>, now: Date) async throws -> [PerformanceListing] {
        try await reading { connection in
            let schedules = try await Self.schedules(
                connection, now: now, logger: logger,
                where: "s.starts_at >= $2 AND s.starts_at < $3", range.lowerBound.millis, range.upperBound.millis)
            var listings: [PerformanceListing] = []
            for (performanceID, schedules) in groupedByPerformance(schedules) {
                if let performance = try await Self.performance(connection, id: performanceID, logger: logger) {
                    listings.append(PerformanceListing(performance: performance, schedules: schedules))
                }
            }
            return listings
        }
    }

    public func performance(id: Int64, now: Date) async throws -> PerformanceListing? {
        try await reading { connection in
            guard let performance = try await Self.performance(connection, id: id, logger: logger) else { return nil }
            let schedules = try await Self.schedules(connection, now: now, logger: logger, where: "s.performance_id = $2", id)
            return PerformanceListing(performance: performance, schedules: schedules)
        }
    }

    public func seatMap(scheduleID: Int64, now: Date) async throws -> SeatMap? {
        try await reading { connection in
            guard let schedule = try await Self.schedules(connection, now: now, logger: logger, where: "s.id = $2", scheduleID).first
            else { return nil }
            let rows = try await connection.rows(
                """
                SELECT st.seat_no, st.grade, st.price, r.state, r.hold_expires_at
                FROM seats st
                LEFT JOIN seat_claims c ON c.schedule_id = st.schedule_id AND c.seat_no = st.seat_no AND c.live = 1
                LEFT JOIN reservations r ON r.id = c.reservation_id
                WHERE st.schedule_id = \(scheduleID)
                ORDER BY st.seat_no
                """, logger: logger)
            let seats = try rows.map { row in
                let (seatNo, grade, price, state, deadline) = try row.decode((Int64, String, Int64, String?, Int64?).self)
                return (
                    seat: Seat(seatNo: Int(seatNo), grade: grade, price: price),
                    status: SeatStatus(
                        claim: try state.map(StoredValues.reservationState), holdExpiresAt: deadline.map(Date.init(millis:)),
                        at: now)
                )
            }
            return SeatMap(schedule: schedule, seats: seats)
        }
    }

    public func sales(performanceID: Int64, now: Date) async throws -> [ScheduleSales]? {
        try await reading { connection in
            guard try await Self.performance(connection, id: performanceID, logger: logger) != nil else { return nil }
            var sales: [ScheduleSales] = []
            for schedule in try await Self.schedules(connection, now: now, logger: logger, where: "s.performance_id = $2", performanceID) {
                let (sold, held, revenue) = try await connection.rows(
                    """
                    SELECT
                        COALESCE(SUM(seat_count) FILTER (WHERE state = 'confirmed'), 0)::bigint,
                        COALESCE(SUM(seat_count) FILTER (WHERE state = 'pending' AND hold_expires_at > \(now.millis)), 0)::bigint,
                        COALESCE(SUM(total_price) FILTER (WHERE state = 'confirmed'), 0)::bigint
                    FROM reservations WHERE schedule_id = \(schedule.id)
                    """, logger: logger
                )[0].decode((Int64, Int64, Int64).self)
                sales.append(ScheduleSales(schedule: schedule, soldSeats: Int(sold), heldSeats: Int(held), revenue: revenue))
            }
            return sales
        }
    }

    public func saleLayout(of scheduleID: Int64) async throws -> SaleLayout? {
        try await reading { connection in
            // The schedule as stored: a layout never reads its remaining seats.
            guard
                let schedule = try await connection.rows(
                    """
                    \(unescaped: Self.scheduleColumns), v.remaining_seats
                    FROM schedules s JOIN schedule_remaining_seats v ON v.schedule_id = s.id WHERE s.id = \(scheduleID)
                    """, logger: logger
                ).first.map(Self.schedule(from:))
            else { return nil }
            let seats = try await connection.rows(
                "SELECT seat_no, grade, price FROM seats WHERE schedule_id = \(scheduleID) ORDER BY seat_no", logger: logger
            ).map { row in
                let (seatNo, grade, price) = try row.decode((Int64, String, Int64).self)
                return Seat(seatNo: Int(seatNo), grade: grade, price: price)
            }
            let performance = try await connection.rows(
                "SELECT title, performer FROM performances WHERE id = \(schedule.performanceID)", logger: logger
            ).first.map { try $0.decode((String, String).self) }
            return SaleLayout(schedule: schedule, title: performance?.0 ?? "", performer: performance?.1 ?? "", seats: seats)
        }
    }

    public func catalogueIsEmpty() async throws -> Bool {
        try await rows("SELECT NOT EXISTS (SELECT 1 FROM performances)")[0].decode(Bool.self)
    }

    // MARK: Rows

    static func performance(_ connection: PostgresConnection, id: Int64, logger: Logger) async throws -> Performance? {
        try await connection.rows("SELECT id, title, performer, description FROM performances WHERE id = \(id)", logger: logger)
            .first.map { row in
                let (id, title, performer, description) = try row.decode((Int64, String, String, String).self)
                return Performance(id: id, title: title, performer: performer, description: description)
            }
    }

    /// Schedules with the remaining seats a client may observe now: holds past their deadline
    /// count as free even before the sweeper releases them. `condition` refers to the values
    /// that follow as $2, $3 ($1 is now).
    static func schedules(
        _ connection: PostgresConnection, now: Date, logger: Logger, where condition: String, _ values: Int64...
    ) async throws -> [Schedule] {
        var bindings = PostgresBindings()
        bindings.append(now.millis)
        for value in values { bindings.append(value) }
        let query = PostgresQuery(
            unsafeSQL: """
                \(scheduleColumns), v.remaining_seats + (
                    SELECT COALESCE(SUM(r.seat_count), 0)::bigint FROM reservations r
                    WHERE r.schedule_id = s.id AND r.state = 'pending' AND r.hold_expires_at <= $1
                ) FROM schedules s JOIN schedule_remaining_seats v ON v.schedule_id = s.id
                WHERE \(condition) ORDER BY s.starts_at, s.id
                """,
            binds: bindings)
        return try await connection.rows(query, logger: logger).map(schedule(from:))
    }

    private static let scheduleColumns =
        "SELECT s.id, s.performance_id, s.starts_at, s.sale_opens_at, s.sale_closes_at, s.total_seats"

    private static func schedule(from row: PostgresRow) throws -> Schedule {
        let (id, performanceID, startsAt, opensAt, closesAt, total, remaining) = try row.decode(
            (Int64, Int64, Int64, Int64, Int64, Int64, Int64).self)
        return Schedule(
            id: id, performanceID: performanceID, startsAt: Date(millis: startsAt), saleOpensAt: Date(millis: opensAt),
            saleClosesAt: Date(millis: closesAt), totalSeats: Int(total), remainingSeats: Int(remaining))
    }
}
