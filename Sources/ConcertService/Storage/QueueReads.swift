import Foundation

/// The reads of the queue, written once for both backends: each backend runs a list of these
/// statements in one snapshot and hands back the rows, and the decoding lives here.
enum QueueReads {
    private static let entryColumns = "seq, performance_id, user_id, place, seen_at, active_until, abandoned_in"

    /// Every room (or one), as `decodeRooms` reads it.
    static func rooms(now: Date, only performanceID: Int64? = nil) -> SQLStatement {
        SQLStatement(
            """
            SELECT r.performance_id, r.prequeue_opens_at, r.starts_at, r.admit_per_tick, r.tick_ms, r.max_active, r.active_ttl_s,
                r.active_per_seat_milli, r.abandon_after_s, r.paused, r.commitment,
                CASE WHEN r.drawn_at IS NULL THEN NULL ELSE r.seed END, r.drawn_at, r.draw_entries, r.admitted_total,
                \(AdmissionRound.remainingSeatsSQL),
                (SELECT COUNT(*) FROM reservations h JOIN schedules s ON s.id = h.schedule_id
                 WHERE s.performance_id = r.performance_id AND h.state = 'pending' AND h.hold_expires_at > ?),
                (SELECT COUNT(*) FROM schedules s WHERE s.performance_id = r.performance_id AND s.sale_closes_at > ?)
            FROM rooms r \(performanceID == nil ? "" : "WHERE r.performance_id = ?") ORDER BY r.performance_id
            """,
            [.integer(now.millis), .integer(now.millis), .integer(now.millis)] + (performanceID.map { [.integer($0)] } ?? []))
    }

    /// What `changes` reads after `cursor`, in order; `lastSeq` is the backend's statement for the
    /// last seq handed out (entries already spent included).
    static func changes(after cursor: QueueCursor?, now: Date, lastSeq: String) -> [SQLStatement] {
        // At start the entries carry their own state: no abandonment or admission to replay. A
        // draw changes no entry (each waits at its place from the join on): the rooms say which
        // ones ran.
        let fresh = cursor == nil
        return [
            rooms(now: now),
            SQLStatement("SELECT \(entryColumns) FROM queue_entries WHERE seq > ? ORDER BY seq", [.integer(cursor?.seq ?? 0)]),
            SQLStatement(
                "SELECT \(entryColumns) FROM queue_entries WHERE abandoned_in > ? ORDER BY seq", [.integer(fresh ? .max : cursor?.admission ?? 0)]),
            SQLStatement(
                "SELECT id, performance_id, through_place, active_until FROM queue_admissions WHERE id > ? ORDER BY id",
                [.integer(fresh ? .max : cursor?.admission ?? 0)]),
            SQLStatement("SELECT (\(lastSeq)), (SELECT COALESCE(MAX(id), 0) FROM queue_admissions)"),
        ]
    }

    /// The rows of `changes`' statements, decoded.
    static func decodeChanges(_ results: [[[StoredColumn]]]) throws -> QueueChanges {
        guard results.count == 5, let last = results[4].first, last.count == 2 else { throw UnknownStoredValue(column: "queue changes", value: "missing") }
        return QueueChanges(
            entries: try results[1].map(entry),
            abandoned: try results[2].map(entry),
            admissions: try results[3].map { row in
                Admission(
                    id: try int(row, 0), performanceID: try int(row, 1), throughPlace: try int(row, 2),
                    activeUntil: Date(millis: try int(row, 3)))
            },
            rooms: try decodeRooms(results[0]),
            cursor: QueueCursor(seq: last[0].integer ?? 0, admission: last[1].integer ?? 0))
    }

    static func decodeRooms(_ rows: [[StoredColumn]]) throws -> [RoomRecord] {
        try rows.map { row in
            var settings = RoomSettings(prequeueOpensAt: Date(millis: try int(row, 1)), startsAt: Date(millis: try int(row, 2)))
            settings.admitPerTick = row[3].integer.map(Int.init)
            settings.tickMillis = row[4].integer.map(Int.init)
            settings.maxActive = row[5].integer.map(Int.init)
            settings.activeTTLSeconds = row[6].integer.map(Int.init)
            settings.activePerSeatMillis = Int(try int(row, 7))
            settings.abandonAfterSeconds = Int(try int(row, 8))
            settings.paused = try int(row, 9) == 1
            guard let commitment = row[10].text else { throw UnknownStoredValue(column: "room commitment", value: "missing") }
            var draw: DrawSummary?
            if let seed = row[11].text {
                draw = DrawSummary(seed: seed, drawnAt: Date(millis: try int(row, 12)), entries: Int(row[13].integer ?? 0))
            }
            return RoomRecord(
                performanceID: try int(row, 0), settings: settings, commitment: commitment, draw: draw,
                admittedTotal: Int(try int(row, 14)),
                seats: RoomSeats(remaining: Int(try int(row, 15)), holdsPending: try int(row, 16) > 0, schedules: Int(try int(row, 17))))
        }
    }

    static func updateRoom(performanceID: Int64, settings: RoomSettings) -> SQLStatement {
        func optional(_ value: Int?) -> String { value.map(String.init) ?? "NULL" }
        // The optional pace fields go in as literals (integers the service validated): a NULL
        // bind would need a type on PostgreSQL.
        return SQLStatement(
            """
            UPDATE rooms SET prequeue_opens_at = ?, starts_at = ?, admit_per_tick = \(optional(settings.admitPerTick)),
                tick_ms = \(optional(settings.tickMillis)), max_active = \(optional(settings.maxActive)),
                active_ttl_s = \(optional(settings.activeTTLSeconds)), active_per_seat_milli = ?, abandon_after_s = ?, paused = ?
            WHERE performance_id = ? RETURNING performance_id
            """,
            [
                .integer(settings.prequeueOpensAt.millis), .integer(settings.startsAt.millis), .integer(Int64(settings.activePerSeatMillis)),
                .integer(Int64(settings.abandonAfterSeconds)), .integer(settings.paused ? 1 : 0), .integer(performanceID),
            ])
    }

    static func createRoom(performanceID: Int64, room: NewRoom) -> SQLStatement {
        let settings = room.settings
        func optional(_ value: Int?) -> String { value.map(String.init) ?? "NULL" }
        return SQLStatement(
            """
            INSERT INTO rooms (performance_id, prequeue_opens_at, starts_at, admit_per_tick, tick_ms, max_active, active_ttl_s,
                active_per_seat_milli, abandon_after_s, paused, seed, commitment)
            VALUES (?, ?, ?, \(optional(settings.admitPerTick)), \(optional(settings.tickMillis)), \(optional(settings.maxActive)),
                \(optional(settings.activeTTLSeconds)), ?, ?, ?, ?, ?)
            """,
            [
                .integer(performanceID), .integer(settings.prequeueOpensAt.millis), .integer(settings.startsAt.millis),
                .integer(Int64(settings.activePerSeatMillis)), .integer(Int64(settings.abandonAfterSeconds)),
                .integer(settings.paused ? 1 : 0), .text(room.seed), .text(room.commitment),
            ])
    }

    static func drawnEntries(performanceID: Int64) -> [SQLStatement] {
        [
            SQLStatement("SELECT CASE WHEN drawn_at IS NULL THEN 0 ELSE 1 END FROM rooms WHERE performance_id = ?", [.integer(performanceID)]),
            SQLStatement(
                "SELECT entry_id FROM room_draw_entries WHERE performance_id = ? ORDER BY place, entry_id", [.integer(performanceID)]),
        ]
    }

    static func decodeDrawnEntries(_ results: [[[StoredColumn]]]) -> [String]? {
        guard results.first?.first?.first?.integer == 1 else { return nil }
        return results[1].compactMap { $0.first?.text }
    }

    /// One statement per batch of seen entries; the lists are integers the board produced.
    static func recordSeen(_ seqs: [Int64], at now: Date) -> SQLStatement {
        SQLStatement(
            "UPDATE queue_entries SET seen_at = ? WHERE seen_at < ? AND seq IN (\(seqs.map(String.init).joined(separator: ",")))",
            [.integer(now.millis), .integer(now.millis)])
    }

    private static func entry(_ row: [StoredColumn]) throws -> QueueEntry {
        QueueEntry(
            seq: try int(row, 0), performanceID: try int(row, 1), userID: try int(row, 2), place: try int(row, 3),
            seenAt: Date(millis: try int(row, 4)), activeUntil: row[5].integer.map(Date.init(millis:)), abandoned: row[6] != .null)
    }

    private static func int(_ row: [StoredColumn], _ column: Int) throws -> Int64 {
        guard column < row.count, let value = row[column].integer else { throw UnknownStoredValue(column: "column \(column)", value: "missing") }
        return value
    }
}
