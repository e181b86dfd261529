import Foundation
import GRDB

extension SQLiteStorage {
    public func joinQueue(userID: Int64, now: Date) async throws -> QueueEntry {
        try await write { db in
            // One live entry per user (a unique column): re-joining goes to the back.
            try db.execute(sql: "DELETE FROM queue_entries WHERE user_id = ?", arguments: [userID])
            try db.execute(sql: "INSERT INTO queue_entries (user_id, joined_at) VALUES (?, ?)", arguments: [userID, now.millis])
            return QueueEntry(seq: db.lastInsertedRowID, userID: userID, activeUntil: nil)
        }
    }

    public func admit(now: Date, policy: AdmissionPolicy) async throws -> AdmissionTick {
        try await write { db in
            let timedOut = try Row.fetchAll(
                db,
                sql: "DELETE FROM queue_entries WHERE active_until IS NOT NULL AND active_until <= ? RETURNING seq, user_id",
                arguments: [now.millis]
            ).map { QueueEntry(seq: $0["seq"], userID: $0["user_id"], activeUntil: nil) }
            let active = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM queue_entries WHERE active_until IS NOT NULL") ?? 0
            let slots = policy.admissions(whileActive: active)
            guard slots > 0 else { return AdmissionTick(admitted: [], timedOut: timedOut) }
            let until = now.addingTimeInterval(policy.activeDuration.seconds).millis
            let admitted = try Row.fetchAll(
                db,
                sql: """
                    UPDATE queue_entries SET active_until = ?
                    WHERE seq IN (SELECT seq FROM queue_entries WHERE active_until IS NULL ORDER BY seq LIMIT ?)
                    RETURNING seq, user_id
                    """,
                arguments: [until, slots]
            ).map { QueueEntry(seq: $0["seq"], userID: $0["user_id"], activeUntil: Date(millis: until)) }
            return AdmissionTick(admitted: admitted, timedOut: timedOut)
        }
    }

    public func liveQueueEntries() async throws -> [QueueEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT seq, user_id, active_until FROM queue_entries ORDER BY seq").map { row in
                QueueEntry(seq: row["seq"], userID: row["user_id"], activeUntil: (row["active_until"] as Int64?).map(Date.init(millis:)))
            }
        }
    }
}
