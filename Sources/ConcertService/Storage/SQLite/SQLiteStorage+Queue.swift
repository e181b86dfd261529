import Foundation
import GRDB

extension SQLiteStorage {
    public func joinQueue(userID: Int64, now: Date) async throws -> QueueEntry {
        QueueEntry(seq: try await joins.submit(QueueJoin(userID: userID, joinedAt: now)), userID: userID, activeUntil: nil)
    }

    /// One transaction for a batch of joins (see `QueueJoin`), in the order they arrived.
    static func writeJoins(_ batch: [QueueJoin], pool: DatabasePool) async throws -> [Int64] {
        try await translatingErrors {
            try await pool.write { db in
                // One live entry per user (a unique column): re-joining goes to the back.
                let leave = try db.cachedStatement(sql: "DELETE FROM queue_entries WHERE user_id = ?")
                let enter = try db.cachedStatement(sql: "INSERT INTO queue_entries (user_id, joined_at) VALUES (?, ?)")
                var seqs: [Int64: Int64] = [:]
                for join in batch {
                    try leave.execute(arguments: [join.userID])
                    try enter.execute(arguments: [join.userID, join.joinedAt.millis])
                    seqs[join.userID] = db.lastInsertedRowID
                }
                return try QueueJoin.seqs(of: batch, written: seqs)
            }
        }
    }

    public func admit(now: Date, policy: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionOutcome {
        try await write { db in
            try AdmissionRound.run(now: now, policy: policy, lease: lease) { statement in
                let arguments = statement.arguments.map { argument -> any DatabaseValueConvertible in
                    switch argument {
                    case .integer(let value): value
                    case .text(let value): value
                    }
                }
                return try Row.fetchAll(db.cachedStatement(sql: statement.sql), arguments: StatementArguments(arguments)).map { row in
                    (0..<row.count).map { row[$0] as Int64? }
                }
            }
        }
    }

    public func queueChanges(after cursor: QueueCursor?) async throws -> QueueChanges {
        try await read { db in
            let entries = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT seq, user_id, active_until FROM queue_entries WHERE seq > ? ORDER BY seq"),
                arguments: [cursor?.seq ?? 0]
            ).map { row in
                QueueEntry(seq: row["seq"], userID: row["user_id"], activeUntil: (row["active_until"] as Int64?).map(Date.init(millis:)))
            }
            // At start the entries carry their own state; only the position in the log matters.
            let admissions = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT id, through_seq, active_until FROM queue_admissions WHERE id > ? ORDER BY id"),
                arguments: [cursor?.admission ?? Int64.max]
            ).map { Admission(id: $0["id"], throughSeq: $0["through_seq"], activeUntil: $0.date("active_until")) }
            let lastAdmission = try Int64.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(id), 0) FROM queue_admissions")) ?? 0
            // The last seq handed out, including entries already spent: every token up to it
            // is accounted for by this read.
            let lastSeq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'queue_entries'")) ?? 0
            return QueueChanges(
                entries: entries, admissions: admissions, cursor: QueueCursor(seq: lastSeq, admission: lastAdmission))
        }
    }
}
