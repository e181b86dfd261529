import Foundation
import GRDB

extension SQLiteStorage {
    public func joinQueue(_ join: QueueJoin) async throws -> QueueJoin.Written {
        try await joins.submit(join)
    }

    /// One transaction for a batch of joins (see `QueueJoin`), in the order they arrived.
    static func writeJoins(_ batch: [QueueJoin], pool: DatabasePool) async throws -> [QueueJoin.Written] {
        try await translatingErrors {
            try await pool.write { db in
                // One live entry per user and room: re-joining goes to the back, or before the draw
                // takes a new place in it (the old entry leaves the draw's list).
                let unlist = try db.cachedStatement(
                    sql: """
                        DELETE FROM room_draw_entries WHERE (performance_id, place, entry_id) IN (
                            SELECT q.performance_id, q.place, q.entry_id FROM queue_entries q JOIN rooms r ON r.performance_id = q.performance_id
                            WHERE q.performance_id = ? AND q.user_id = ? AND r.drawn_at IS NULL)
                        """)
                let leave = try db.cachedStatement(sql: "DELETE FROM queue_entries WHERE performance_id = ? AND user_id = ?")
                let list = try db.cachedStatement(sql: "INSERT INTO room_draw_entries (performance_id, place, entry_id) VALUES (?, ?, ?)")
                let enter = try db.cachedStatement(
                    sql: "INSERT INTO queue_entries (performance_id, user_id, entry_id, joined_at, seen_at, place) VALUES (?, ?, ?, ?, ?, 0)")
                // A place in the draw while the room awaits it, else behind everyone (at its seq).
                let place = try db.cachedStatement(
                    sql: """
                        UPDATE queue_entries SET place = COALESCE(
                            (SELECT draw_place(r.seed, queue_entries.entry_id) FROM rooms r
                             WHERE r.performance_id = queue_entries.performance_id AND r.drawn_at IS NULL), seq)
                        WHERE seq = ? RETURNING place
                        """)
                var written: [QueueJoin.Key: QueueJoin.Written] = [:]
                for join in batch {
                    try unlist.execute(arguments: [join.performanceID, join.userID])
                    try leave.execute(arguments: [join.performanceID, join.userID])
                    try enter.execute(arguments: [join.performanceID, join.userID, join.entryID, join.joinedAt.millis, join.joinedAt.millis])
                    let seq = db.lastInsertedRowID
                    guard let entryPlace = try Int64.fetchOne(place, arguments: [seq]) else { throw QueueJoin.Unwritten(userID: join.userID) }
                    if entryPlace < 0 { try list.execute(arguments: [join.performanceID, entryPlace, join.entryID]) }
                    written[join.key] = QueueJoin.Written(seq: seq, entryID: join.entryID, place: entryPlace)
                }
                return try QueueJoin.entries(of: batch, written: written)
            }
        }
    }

    public func admit(now: Date, defaults: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionOutcome {
        try await write { db in
            try AdmissionRound.run(now: now, defaults: defaults, lease: lease) { statement in
                try Self.rows(of: statement, in: db).map { $0.map(\.integer) }
            }
        }
    }

    public func queueChanges(after cursor: QueueCursor?, now: Date) async throws -> QueueChanges {
        // The last seq handed out, including entries already spent: every token up to it is
        // accounted for by this read.
        let statements = QueueReads.changes(
            after: cursor, now: now, lastSeq: "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'queue_entries'")
        return try QueueReads.decodeChanges(try await read { db in try statements.map { try Self.rows(of: $0, in: db) } })
    }

    public func rooms(now: Date) async throws -> [RoomRecord] {
        let statement = QueueReads.rooms(now: now)
        return try QueueReads.decodeRooms(try await read { db in try Self.rows(of: statement, in: db) })
    }

    public func updateRoom(performanceID: Int64, settings: RoomSettings) async throws -> Bool {
        let statement = QueueReads.updateRoom(performanceID: performanceID, settings: settings)
        return try await write { db in try !Self.rows(of: statement, in: db).isEmpty }
    }

    public func recordSeen(_ seqs: [Int64], at now: Date) async throws {
        guard !seqs.isEmpty else { return }
        let statement = QueueReads.recordSeen(seqs, at: now)
        try await write { db in _ = try Self.rows(of: statement, in: db, cached: false) }
    }

    public func drawnEntries(performanceID: Int64) async throws -> [String]? {
        let statements = QueueReads.drawnEntries(performanceID: performanceID)
        return QueueReads.decodeDrawnEntries(try await read { db in try statements.map { try Self.rows(of: $0, in: db) } })
    }

    /// Runs a statement written for both backends.
    /// `cached: false` for a text that varies (a list of values), which would fill the cache.
    static func rows(of statement: SQLStatement, in db: Database, cached: Bool = true) throws -> [[StoredColumn]] {
        let arguments = statement.arguments.map { argument -> any DatabaseValueConvertible in
            switch argument {
            case .integer(let value): value
            case .text(let value): value
            }
        }
        let prepared = cached ? try db.cachedStatement(sql: statement.sql) : try db.makeStatement(sql: statement.sql)
        return try Row.fetchAll(prepared, arguments: StatementArguments(arguments)).map { row in
            row.databaseValues.map { value in
                switch value.storage {
                case .int64(let integer): .integer(integer)
                case .string(let text): .text(text)
                case .double(let double): .integer(Int64(double))
                case .null, .blob: .null
                }
            }
        }
    }
}
