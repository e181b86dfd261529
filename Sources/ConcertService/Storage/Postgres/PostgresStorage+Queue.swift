import Foundation
import PostgresNIO

extension PostgresStorage {
    public func joinQueue(userID: Int64, now: Date) async throws -> QueueEntry {
        QueueEntry(seq: try await joins.submit(QueueJoin(userID: userID, joinedAt: now)), userID: userID, activeUntil: nil)
    }

    /// One statement for a batch of joins: the counter's row lock is held until commit, so
    /// joins from all instances commit in seq order. Re-joining moves the user's one entry to
    /// the back; a user twice in the batch gets one entry, at the later place.
    static func writeJoins(_ batch: [QueueJoin], client: PostgresClient, logger: Logger) async throws -> [Int64] {
        var seen = Set<Int64>()
        let joins = Array(batch.reversed().filter { seen.insert($0.userID).inserted }.reversed())
        let seqs: [Int64: Int64] = try await translatingErrors {
            try await client.query(
                """
                WITH batch AS (
                    SELECT * FROM unnest(\(joins.map(\.userID))::bigint[], \(joins.map(\.joinedAt.millis))::bigint[])
                        WITH ORDINALITY AS joined (user_id, joined_at, place)
                ), next AS (
                    UPDATE queue_counter SET last_seq = last_seq + \(Int64(joins.count)) WHERE id = 1 RETURNING last_seq
                )
                INSERT INTO queue_entries (seq, user_id, joined_at)
                SELECT next.last_seq - \(Int64(joins.count)) + batch.place, batch.user_id, batch.joined_at FROM next, batch
                ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq, joined_at = excluded.joined_at, active_until = NULL
                RETURNING user_id, seq
                """, logger: logger
            ).collect().reduce(into: [:]) { seqs, row in
                let (userID, seq) = try row.decode((Int64, Int64).self)
                seqs[userID] = seq
            }
        }
        return try QueueJoin.seqs(of: batch, written: seqs)
    }

    public func admit(now: Date, policy: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionOutcome {
        try await transaction(on: background) { connection in
            try await AdmissionRound.run(now: now, policy: policy, lease: lease) { statement in
                var bindings = PostgresBindings()
                for argument in statement.arguments {
                    switch argument {
                    case .integer(let value): bindings.append(value)
                    case .text(let value): bindings.append(value)
                    }
                }
                return try await connection.rows(PostgresQuery(unsafeSQL: statement.numberedSQL, binds: bindings), logger: logger)
                    .map { row in try row.makeRandomAccess().map { try $0.decode(Int64?.self) } }
            }
        }
    }

    public func queueChanges(after cursor: QueueCursor?) async throws -> QueueChanges {
        // One snapshot for all three reads.
        try await transaction(on: background, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { connection in
            let entries = try await connection.rows(
                "SELECT seq, user_id, active_until FROM queue_entries WHERE seq > \(cursor?.seq ?? 0) ORDER BY seq",
                logger: logger
            ).map { row in
                let (seq, userID, activeUntil) = try row.decode((Int64, Int64, Int64?).self)
                return QueueEntry(seq: seq, userID: userID, activeUntil: activeUntil.map(Date.init(millis:)))
            }
            // At start the entries carry their own state; only the position in the log matters.
            let admissions = try await connection.rows(
                """
                SELECT id, through_seq, active_until FROM queue_admissions WHERE id > \(cursor?.admission ?? Int64.max) ORDER BY id
                """, logger: logger
            ).map { row in
                let (id, through, until) = try row.decode((Int64, Int64, Int64).self)
                return Admission(id: id, throughSeq: through, activeUntil: Date(millis: until))
            }
            let (lastSeq, lastAdmission) = try await connection.rows(
                "SELECT last_seq, (SELECT COALESCE(max(id), 0) FROM queue_admissions) FROM queue_counter", logger: logger
            )[0].decode((Int64, Int64).self)
            return QueueChanges(entries: entries, admissions: admissions, cursor: QueueCursor(seq: lastSeq, admission: lastAdmission))
        }
    }
}
