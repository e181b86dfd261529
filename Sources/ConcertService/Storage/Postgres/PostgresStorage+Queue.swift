import Foundation
import PostgresNIO

extension PostgresStorage {
    public func joinQueue(_ join: QueueJoin) async throws -> QueueJoin.Written {
        try await joins.submit(join)
    }

    /// One statement for a batch of joins: the counter's row lock is held until commit, so
    /// joins from all instances commit in seq order. Re-joining a room moves the user's one entry
    /// there to the back, as a new entry; a user twice in the batch gets one entry, the later.
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
                ), next AS (
                    UPDATE queue_counter SET last_seq = last_seq + \(Int64(joins.count)) WHERE id = 1 RETURNING last_seq
                )
                INSERT INTO queue_entries (seq, performance_id, user_id, entry_id, joined_at, seen_at, place)
                SELECT next.last_seq - \(Int64(joins.count)) + batch.ordinal, batch.performance_id, batch.user_id, batch.entry_id,
                    batch.joined_at, batch.joined_at, next.last_seq - \(Int64(joins.count)) + batch.ordinal
                FROM next, batch
                ON CONFLICT (performance_id, user_id) DO UPDATE SET seq = excluded.seq, entry_id = excluded.entry_id,
                    joined_at = excluded.joined_at, seen_at = excluded.seen_at, place = excluded.place, active_until = NULL,
                    abandoned_in = NULL
                RETURNING performance_id, user_id, seq, entry_id
                """, logger: logger
            ).collect().reduce(into: [:]) { written, row in
                let (performanceID, userID, seq, entryID) = try row.decode((Int64, Int64, Int64, String).self)
                written[QueueJoin.Key(performanceID: performanceID, userID: userID)] = QueueJoin.Written(seq: seq, entryID: entryID)
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
