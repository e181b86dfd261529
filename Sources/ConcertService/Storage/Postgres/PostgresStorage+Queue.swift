import Foundation
import PostgresNIO

extension PostgresStorage {
    public func joinQueue(_ join: QueueJoin) async throws -> QueueJoin.Written {
        try await joins.submit(join)
    }

    /// One statement for a batch of joins: the counter's row lock is held until commit, so
    /// joins from all instances commit in seq order. Re-joining a room moves the user's one entry
    /// there to the back, as a new entry; a user twice in the batch gets one entry, the later.
    ///
    /// A join to a room not drawn yet takes its place in the draw and is listed in it (a user's
    /// earlier entry leaves the list), and holds a share lock on the room's row until it commits:
    /// a draw starting meanwhile waits for it, and a join that finds the room locked by a draw
    /// waits for the draw, then finds it drawn and queues behind. Rooms are locked in id order, as
    /// the admitter draws them, so that the two never deadlock.
    static func writeJoins(_ batch: [QueueJoin], client: PostgresClient, logger: Logger) async throws -> [QueueJoin.Written] {
        let joins = QueueJoin.lastOfEach(batch)
        let written: [QueueJoin.Key: QueueJoin.Written] = try await translatingErrors {
            try await client.query(
                """
                WITH batch AS (
                    SELECT * FROM unnest(
                        \(joins.map(\.performanceID))::bigint[], \(joins.map(\.userID))::bigint[],
                        \(joins.map(\.entryID))::text[], \(joins.map(\.joinedAt.millis))::bigint[]
                    ) WITH ORDINALITY AS joined (performance_id, user_id, entry_id, joined_at, ordinal)
                ), undrawn AS MATERIALIZED (
                    SELECT performance_id, seed FROM rooms
                    WHERE performance_id IN (SELECT performance_id FROM batch) AND drawn_at IS NULL
                    ORDER BY performance_id FOR SHARE
                ), next AS (
                    UPDATE queue_counter SET last_seq = last_seq + \(Int64(joins.count)) WHERE id = 1 RETURNING last_seq
                ), numbered AS (
                    SELECT next.last_seq - \(Int64(joins.count)) + batch.ordinal AS seq, batch.*,
                        (SELECT draw_place(u.seed, batch.entry_id) FROM undrawn u WHERE u.performance_id = batch.performance_id) AS drawn_place
                    FROM next, batch
                ), unlisted AS (
                    DELETE FROM room_draw_entries d USING queue_entries q, batch b, undrawn u
                    WHERE q.performance_id = b.performance_id AND q.user_id = b.user_id AND u.performance_id = q.performance_id
                      AND d.performance_id = q.performance_id AND d.place = q.place AND d.entry_id = q.entry_id
                ), written AS (
                    INSERT INTO queue_entries (seq, performance_id, user_id, entry_id, joined_at, seen_at, place)
                    SELECT seq, performance_id, user_id, entry_id, joined_at, joined_at, COALESCE(drawn_place, seq) FROM numbered
                    ON CONFLICT (performance_id, user_id) DO UPDATE SET seq = excluded.seq, entry_id = excluded.entry_id,
                        joined_at = excluded.joined_at, seen_at = excluded.seen_at, place = excluded.place, active_until = NULL,
                        abandoned_in = NULL
                    RETURNING performance_id, user_id, seq, entry_id, place
                ), listed AS (
                    INSERT INTO room_draw_entries (performance_id, place, entry_id) SELECT performance_id, place, entry_id FROM written WHERE place < 0
                )
                SELECT performance_id, user_id, seq, entry_id, place FROM written
                """, logger: logger
            ).collect().reduce(into: [:]) { written, row in
                let (performanceID, userID, seq, entryID, place) = try row.decode((Int64, Int64, Int64, String, Int64).self)
                written[QueueJoin.Key(performanceID: performanceID, userID: userID)] = QueueJoin.Written(
                    seq: seq, entryID: entryID, place: place)
            }
        }
        return try QueueJoin.entries(of: batch, written: written)
    }

    public func admit(now: Date, defaults: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionOutcome {
        try await transaction(on: background) { connection in
            try await AdmissionRound.run(now: now, defaults: defaults, lease: lease) { statement in
                try await Self.rows(of: statement, on: connection, logger: logger).map { $0.map(\.integer) }
            }
        }
    }

    public func queueChanges(after cursor: QueueCursor?, now: Date) async throws -> QueueChanges {
        let statements = QueueReads.changes(after: cursor, now: now, lastSeq: "SELECT last_seq FROM queue_counter")
        // One snapshot for all the reads.
        let results = try await transaction(on: background, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { connection in
            var results: [[[StoredColumn]]] = []
            for statement in statements { results.append(try await Self.rows(of: statement, on: connection, logger: logger)) }
            return results
        }
        return try QueueReads.decodeChanges(results)
    }

    public func rooms(now: Date) async throws -> [RoomRecord] {
        let statement = QueueReads.rooms(now: now)
        return try QueueReads.decodeRooms(try await reading { try await Self.rows(of: statement, on: $0, logger: logger) })
    }

    public func updateRoom(performanceID: Int64, settings: RoomSettings) async throws -> Bool {
        let statement = QueueReads.updateRoom(performanceID: performanceID, settings: settings)
        return try await reading { try await !Self.rows(of: statement, on: $0, logger: logger).isEmpty }
    }

    public func recordSeen(_ seqs: [Int64], at now: Date) async throws {
        guard !seqs.isEmpty else { return }
        let statement = QueueReads.recordSeen(seqs, at: now)
        try await transaction(on: background) { connection in _ = try await Self.rows(of: statement, on: connection, logger: logger) }
    }

    public func drawnEntries(performanceID: Int64) async throws -> [String]? {
        let statements = QueueReads.drawnEntries(performanceID: performanceID)
        let results = try await transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { connection in
            var results: [[[StoredColumn]]] = []
            for statement in statements { results.append(try await Self.rows(of: statement, on: connection, logger: logger)) }
            return results
        }
        return QueueReads.decodeDrawnEntries(results)
    }

    /// Runs a statement written for both backends.
    static func rows(of statement: SQLStatement, on connection: PostgresConnection, logger: Logger) async throws -> [[StoredColumn]] {
        var bindings = PostgresBindings()
        for argument in statement.arguments {
            switch argument {
            case .integer(let value): bindings.append(value)
            case .text(let value): bindings.append(value)
            }
        }
        return try await connection.rows(PostgresQuery(unsafeSQL: statement.numberedSQL, binds: bindings), logger: logger).map { row in
            try row.makeRandomAccess().map { cell in
                guard cell.bytes != nil else { return .null }
                switch cell.dataType {
                case .text, .varchar, .name: return .text(try cell.decode(String.self))
                default: return .integer(try cell.decode(Int64.self))
                }
            }
        }
    }
}
