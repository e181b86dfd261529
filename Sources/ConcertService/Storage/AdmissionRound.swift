import Foundation

/// One admission round, written once for both backends as the statements it runs and the
/// decisions between them. A backend runs it in one transaction with `run`, giving only how to
/// execute one statement and read its rows back (integer columns only).
///
/// The steps: take or renew the admitter lease (anyone else gets no row and the round ends);
/// remove active entries whose window has ended; find the rooms with work; then, room by room,
/// draw the pre-queue of a room whose sale has started, and admit as many waiting entries as
/// its pace, its active entries and its seats allow, in place order up to a watermark, passing
/// over entries not seen for too long. Each room's round is recorded, so every instance learns
/// the watermark. On PostgreSQL the lease row stays locked until commit, so two rounds never
/// overlap, and a draw is all or nothing: a draw cut off by a crash is run again by the next
/// admitter.
struct AdmissionRound {
    /// How many entries one room's round may pass over besides those it admits, so that a long
    /// run of abandoned entries is worked through over several ticks.
    static let passOverLimit = 10_000

    typealias Statement = SQLStatement

    enum Step {
        case run(Statement)
        case done(AdmissionOutcome)
    }

    /// The round on SQLite, whose transactions are synchronous closures.
    static func run(
        now: Date, defaults: AdmissionPolicy, lease: AdmitterLease, executing execute: (Statement) throws -> [[Int64?]]
    ) throws -> AdmissionOutcome {
        var round = AdmissionRound(now: now, defaults: defaults, lease: lease)
        var rows: [[Int64?]]?
        while true {
            switch round.next(rows) {
            case .done(let outcome): return outcome
            case .run(let statement): rows = try execute(statement)
            }
        }
    }

    /// The round on PostgreSQL, whose statements are awaited.
    static func run(
        now: Date, defaults: AdmissionPolicy, lease: AdmitterLease, executing execute: (Statement) async throws -> [[Int64?]]
    ) async throws -> AdmissionOutcome {
        var round = AdmissionRound(now: now, defaults: defaults, lease: lease)
        var rows: [[Int64?]]?
        while true {
            switch round.next(rows) {
            case .done(let outcome): return outcome
            case .run(let statement): rows = try await execute(statement)
            }
        }
    }

    /// A room with work this round, as `findRooms` reads it.
    struct DueRoom: Equatable {
        var performanceID: Int64
        var undrawn: Bool
        var paused: Bool
        var policy: AdmissionPolicy
        var activePerSeatMillis: Int
        var abandonAfterMillis: Int64
        var active: Int
        var remainingSeats: Int

        init(row: [Int64?], defaults: AdmissionPolicy) {
            func int(_ column: Int) -> Int64 { row.indices.contains(column) ? row[column] ?? 0 : 0 }
            performanceID = int(0)
            undrawn = int(1) == 1
            paused = int(2) == 1
            policy = AdmissionPolicy(
                tick: .milliseconds(int(4)), admitPerTick: Int(int(3)), maxActive: Int(int(5)), activeDuration: .seconds(int(6)))
            activePerSeatMillis = Int(int(7))
            abandonAfterMillis = int(8) * 1000
            active = Int(int(9))
            remainingSeats = Int(int(10))
        }

        /// How many waiting entries the room may admit now: its pace, under its cap on active
        /// entries and its cap from the seats left.
        var slots: Int {
            guard !paused else { return 0 }
            let slots = policy.admissions(whileActive: active)
            guard let cap = RoomSeats(remaining: remainingSeats, holdsPending: false).activeCap(activePerSeatMillis: activePerSeatMillis)
            else { return slots }
            return min(slots, max(0, cap - active))
        }
    }

    /// What a room's round does with the entries at the front of its line.
    struct Decision: Equatable {
        /// The last place the round decides on.
        var through: Int64
        var admitting: Int
        var passingOver: Int

        /// From the front rows (place, 1 if not seen for too long), in place order: admit up to
        /// `slots` entries, passing over the stale ones before the last of them.
        init?(front rows: [[Int64?]], slots: Int) {
            var through: Int64?
            var admitting = 0, passingOver = 0
            for row in rows {
                guard admitting < slots, let place = row.first ?? nil else { break }
                if row.count > 1, row[1] == 1 { passingOver += 1 } else { admitting += 1 }
                through = place
            }
            guard let through else { return nil }
            self.through = through
            self.admitting = admitting
            self.passingOver = passingOver
        }
    }

    private enum Stage {
        case renewLease, removeTimedOut, findRooms
        case countDraw(room: Int), admitRoom(room: Int)
        case scan(room: Int), record(room: Int, Decision), passOver(room: Int, Decision, round: Int64)
        case admit(room: Int, Decision, round: Int64), recordCount(room: Int, round: Int64, admitted: Int), nextRoom(Int)
        case finished
    }

    private let now: Int64
    private let defaults: AdmissionPolicy
    private let lease: AdmitterLease
    private var stage = Stage.renewLease
    private var rooms: [DueRoom] = []
    private var admitted = 0
    private var drawn = 0

    init(now: Date, defaults: AdmissionPolicy, lease: AdmitterLease) {
        self.now = now.millis
        self.defaults = defaults
        self.lease = lease
    }

    /// The next statement, given the rows of the one before (nil at the start).
    mutating func next(_ rows: [[Int64?]]?) -> Step {
        switch stage {
        case .renewLease:
            stage = .removeTimedOut
            return .run(
                Statement(
                    sql: """
                        INSERT INTO admitter_lease (id, holder, expires_at) VALUES (1, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                        WHERE admitter_lease.holder = excluded.holder OR admitter_lease.expires_at <= ?
                        RETURNING 1
                        """,
                    arguments: [.text(lease.holder), .integer(now + lease.duration.millis), .integer(now)]))
        case .removeTimedOut:
            guard rows?.isEmpty == false else { return finish(.notAdmitter) }
            stage = .findRooms
            // Entries passed over are kept a day, so that their tokens can still say why.
            return .run(
                Statement(
                    sql: """
                        DELETE FROM queue_entries WHERE (active_until IS NOT NULL AND active_until <= ?)
                        OR (abandoned_in IS NOT NULL AND seen_at < ?)
                        """,
                    arguments: [.integer(now), .integer(now - 86_400_000)]))
        case .findRooms:
            stage = .admitRoom(room: -1)
            return .run(
                Statement(
                    sql: """
                        SELECT r.performance_id, CASE WHEN r.drawn_at IS NULL THEN 1 ELSE 0 END, r.paused,
                            COALESCE(r.admit_per_tick, ?), COALESCE(r.tick_ms, ?), COALESCE(r.max_active, ?), COALESCE(r.active_ttl_s, ?),
                            r.active_per_seat_milli, r.abandon_after_s,
                            (SELECT COUNT(*) FROM queue_entries q WHERE q.performance_id = r.performance_id AND q.active_until IS NOT NULL),
                            \(Self.remainingSeatsSQL)
                        FROM rooms r
                        WHERE (r.drawn_at IS NULL AND r.starts_at <= ?)
                           OR (r.drawn_at IS NOT NULL AND r.paused = 0 AND r.next_admission_at <= ? AND EXISTS (
                               SELECT 1 FROM queue_entries q WHERE q.performance_id = r.performance_id
                               AND q.active_until IS NULL AND q.abandoned_in IS NULL))
                        ORDER BY r.performance_id
                        """,
                    arguments: [
                        .integer(Int64(defaults.admitPerTick)), .integer(defaults.tick.millis), .integer(Int64(defaults.maxActive)),
                        .integer(Int64((defaults.activeDuration.seconds).rounded(.up))), .integer(now), .integer(now), .integer(now),
                    ]))
        case .admitRoom(let room) where room < 0:
            rooms = (rows ?? []).map { DueRoom(row: $0, defaults: defaults) }
            return startRoom(0)
        case .admitRoom(let room):
            // The draw, if it just ran, left nothing to read: admit.
            return scanOrNext(room)
        case .countDraw(let room):
            guard rows?.isEmpty == false else { return scanOrNext(room) }
            drawn += 1
            stage = .admitRoom(room: room)
            let id = rooms[room].performanceID
            return .run(
                Statement(
                    sql: "UPDATE rooms SET draw_entries = (SELECT COUNT(*) FROM room_draw_entries WHERE performance_id = ?) WHERE performance_id = ?",
                    arguments: [.integer(id), .integer(id)]))
        case .scan(let room):
            guard let decision = Decision(front: rows ?? [], slots: rooms[room].slots) else { return startRoom(room + 1) }
            stage = .record(room: room, decision)
            return .run(
                Statement(
                    sql: """
                        INSERT INTO queue_admissions
                            (performance_id, through_place, active_until, admitted_count, abandoned_count, admitted_by, admitted_at)
                        VALUES (?, ?, ?, 0, ?, ?, ?) RETURNING id
                        """,
                    arguments: [
                        .integer(rooms[room].performanceID), .integer(decision.through), .integer(activeUntil(rooms[room])),
                        .integer(Int64(decision.passingOver)), .text(lease.holder), .integer(now),
                    ]))
        case .record(let room, let decision):
            guard let round = rows?.first?.first ?? nil else { return startRoom(room + 1) }
            stage = .passOver(room: room, decision, round: round)
            return .run(
                Statement(
                    sql: """
                        UPDATE queue_entries SET abandoned_in = ?
                        WHERE performance_id = ? AND active_until IS NULL AND abandoned_in IS NULL AND place <= ? AND seen_at < ?
                        """,
                    arguments: [.integer(round), .integer(rooms[room].performanceID), .integer(decision.through), .integer(staleBefore(rooms[room]))]))
        case .passOver(let room, let decision, let round):
            stage = .admit(room: room, decision, round: round)
            // Everything still waiting up to the watermark: a user who re-joined meanwhile has a
            // later place and keeps waiting.
            return .run(
                Statement(
                    sql: """
                        UPDATE queue_entries SET active_until = ?
                        WHERE performance_id = ? AND active_until IS NULL AND abandoned_in IS NULL AND place <= ? RETURNING seq
                        """,
                    arguments: [.integer(activeUntil(rooms[room])), .integer(rooms[room].performanceID), .integer(decision.through)]))
        case .admit(let room, _, let round):
            let count = rows?.count ?? 0
            admitted += count
            stage = .recordCount(room: room, round: round, admitted: count)
            return .run(
                Statement(
                    sql: "UPDATE queue_admissions SET admitted_count = ? WHERE id = ?", arguments: [.integer(Int64(count)), .integer(round)]))
        case .recordCount(let room, _, let count):
            stage = .nextRoom(room + 1)
            return .run(
                Statement(
                    sql: "UPDATE rooms SET next_admission_at = ?, admitted_total = admitted_total + ? WHERE performance_id = ?",
                    arguments: [.integer(now + rooms[room].policy.tick.millis), .integer(Int64(count)), .integer(rooms[room].performanceID)]))
        case .nextRoom(let room):
            return startRoom(room)
        case .finished:
            return .done(.admitted(count: admitted, drawn: drawn))
        }
    }

    /// Remaining seats of the room's performance in schedules whose sale has not closed (one
    /// `?`: now), as one integer column.
    static let remainingSeatsSQL = """
        (SELECT CAST(COALESCE(SUM(v.remaining_seats), 0) AS BIGINT) FROM schedules s
         JOIN schedule_remaining_seats v ON v.schedule_id = s.id WHERE s.performance_id = r.performance_id AND s.sale_closes_at > ?)
        """

    /// Room `index`'s first statement: its draw if its sale has started, else its admission.
    private mutating func startRoom(_ index: Int) -> Step {
        guard index < rooms.count else { return finish(.admitted(count: admitted, drawn: drawn)) }
        guard rooms[index].undrawn else { return scanOrNext(index) }
        stage = .countDraw(room: index)
        let id = rooms[index].performanceID
        // The pre-queue already waits in draw order, and is listed in room_draw_entries, since
        // each join took its place from the seed: the draw marks the room drawn and counts the
        // list. The room's row lock, held until commit, makes this the room's only draw. A join
        // that took its place in the draw holds a share lock on the row until it commits, so the
        // draw waits for it and then counts it; a join after this waits and then queues behind.
        return .run(
            Statement(
                sql: """
                    UPDATE rooms SET drawn_at = ?, drawn_by = ?, draw_no = (SELECT COALESCE(MAX(draw_no), 0) + 1 FROM rooms)
                    WHERE performance_id = ? AND drawn_at IS NULL RETURNING performance_id
                    """,
                arguments: [.integer(now), .text(lease.holder), .integer(id)]))
    }

    /// Reads the front of room `index`'s line if it may admit anyone, else goes to the next room.
    private mutating func scanOrNext(_ index: Int) -> Step {
        let slots = rooms[index].slots
        guard slots > 0 else { return startRoom(index + 1) }
        stage = .scan(room: index)
        return .run(
            Statement(
                sql: """
                    SELECT place, CASE WHEN seen_at < ? THEN 1 ELSE 0 END FROM queue_entries
                    WHERE performance_id = ? AND active_until IS NULL AND abandoned_in IS NULL ORDER BY place LIMIT ?
                    """,
                arguments: [.integer(staleBefore(rooms[index])), .integer(rooms[index].performanceID), .integer(Int64(slots + Self.passOverLimit))]))
    }

    private func activeUntil(_ room: DueRoom) -> Int64 { now + room.policy.activeDuration.millis }
    private func staleBefore(_ room: DueRoom) -> Int64 { now - room.abandonAfterMillis }

    private mutating func finish(_ outcome: AdmissionOutcome) -> Step {
        stage = .finished
        return .done(outcome)
    }
}

extension Duration {
    /// Whole milliseconds, as times are stored.
    var millis: Int64 { Int64((seconds * 1000).rounded(.down)) }
}
