import Foundation
import GRDB

/// The embedded backend: one SQLite file in WAL mode. GRDB's pool gives concurrent readers
/// and one writer at a time, so each write transaction below runs alone; the unique index
/// over live seat claims still backs the seat rule.
public final class SQLiteStorage: Storage {
    let pool: DatabasePool
    /// Writes holds in batches (see `writeHolds`).
    let holdWrites: WriteBatcher<PendingHold, Result<Idempotent<Reservation>, any Error>>
    /// Writes queue joins in batches (see `writeJoins`).
    let joins: WriteBatcher<QueueJoin, Int64>

    /// Opens (creating if needed) the database file and brings its schema up to date.
    public init(path: String, busyTimeout: Duration = .seconds(10)) throws {
        var configuration = Configuration()
        // Writers queue for the lock rather than failing at once under bursts, for a bounded time.
        configuration.busyMode = .timeout(busyTimeout.seconds)
        let pool = try Self.openDurablePool(path: path, configuration: configuration)
        try SQLiteMigrations.migrator.migrate(pool)
        self.pool = pool
        holdWrites = WriteBatcher(maxBatch: 100) { batch in try await Self.writeHolds(batch, pool: pool) }
        joins = WriteBatcher(maxBatch: 1_000) { batch in try await Self.writeJoins(batch, pool: pool) }
    }

    /// A pool whose commits are durable: a confirmed payment survives a power cut, not just a
    /// crash (`synchronous = FULL`: the WAL is synced at every commit). GRDB sets NORMAL on the
    /// writer when it turns WAL mode on, after `prepareDatabase` has run, so FULL is set on the
    /// pool's one writer once the pool is open.
    public static func openDurablePool(path: String, configuration: Configuration) throws -> DatabasePool {
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }

    public func ping() async throws {
        _ = try await read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT 1")) }
    }

    public func close() async {
        try? pool.close()
    }

    /// The file is opened once; there is no connection to make anew.
    public func probe() async throws {
        try await ping()
    }

    public func reconnect() async {}

    public func countViolations(of check: IntegrityCheck) async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: check.countingSQL) ?? 0 }
    }

    // MARK: Helpers shared by the stores

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Self.translatingErrors { try await pool.read(body) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Self.translatingErrors { try await pool.write(body) }
    }

    static func translatingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
            throw ServiceError(.serviceUnavailable, "The database is busy; retry shortly.")
        }
    }

    /// Runs `body` once per idempotency key: a repeated key returns the recorded result.
    /// The record is written in the caller's transaction, so it commits with the change itself.
    static func idempotent<V: Codable & Sendable>(
        _ key: IdempotencyKey?, _ db: Database, now: Date, _ body: () throws -> V
    ) throws -> Idempotent<V> {
        guard let key else { return Idempotent(value: try body(), replayed: false) }
        if let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT fingerprint, result FROM idempotency_keys WHERE user_id = ? AND key = ?"),
            arguments: [key.userID, key.key])
        {
            guard row["fingerprint"] as String == key.fingerprint else {
                throw ServiceError(.idempotencyKeyReused, "This Idempotency-Key was used for a different request.")
            }
            return Idempotent(value: try JSONDecoder().decode(V.self, from: row["result"] as Data), replayed: true)
        }
        let value = try body()
        try db.cachedStatement(sql: "INSERT INTO idempotency_keys (user_id, key, fingerprint, result, created_at) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [key.userID, key.key, key.fingerprint, try JSONEncoder().encode(value), now.millis])
        return Idempotent(value: value, replayed: false)
    }
}

extension Row {
    func date(_ column: String) -> Date { Date(millis: self[column]) }
}
