import Foundation
import GRDB

/// The embedded backend: one SQLite file in WAL mode. GRDB's pool gives concurrent readers
/// and one writer at a time, so each write transaction below runs alone; the unique index
/// over live seat claims still backs the seat rule.
public final class SQLiteStorage: StorageBackend {
    let pool: DatabasePool
    /// Writes holds in batches (see `writeHolds`).
    let holdWrites: WriteBatcher<PendingHold, Result<Idempotent<Reservation>, any Error>>
    /// Writes queue joins in batches (see `writeJoins`).
    let joins: WriteBatcher<QueueJoin, QueueJoin.Written>

    /// Opens (creating if needed) the database file.
    public init(path: String, busyTimeout: Duration = .seconds(10)) throws {
        var configuration = Configuration()
        // Writers queue for the lock rather than failing at once under bursts, for a bounded time.
        configuration.busyMode = .timeout(busyTimeout.seconds)
        let pool = try Self.openDurablePool(path: path, configuration: configuration)
        self.pool = pool
        holdWrites = WriteBatcher(maxBatch: 100) { batch in try await Self.writeHolds(batch, pool: pool) }
        joins = WriteBatcher(maxBatch: 1_000) { batch in try await Self.writeJoins(batch, pool: pool) }
    }

    /// A pool whose commits are durable: a confirmed payment survives a power cut, not just a
    /// crash (`synchronous = FULL`: the WAL is synced at every commit). GRDB sets NORMAL on the
    /// writer when it turns WAL mode on, after `prepareDatabase` has run, so FULL is set on the
    /// pool's one writer once the pool is open.
    public static func openDurablePool(path: String, configuration: Configuration) throws -> DatabasePool {
        var configuration = configuration
        configuration.prepareDatabase { db in db.add(function: drawPlace) }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }

    /// An entry's place in its room's draw, as PostgreSQL's `draw_place` function computes it
    /// (see `FairDraw.place`).
    static let drawPlace = DatabaseFunction("draw_place", argumentCount: 2, pure: true) { values in
        guard let seed = String.fromDatabaseValue(values[0]), let entryID = String.fromDatabaseValue(values[1]) else { return nil }
        return FairDraw.place(seed: seed, entryID: entryID)
    }

    public func ping() async throws {
        _ = try await read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT 1")) }
    }

    /// Runs the write batchers; the file closes once they have written their last batch at
    /// graceful shutdown.
    public func run() async {
        await withDiscardingTaskGroup { batchers in
            batchers.addTask { await self.holdWrites.run() }
            batchers.addTask { await self.joins.run() }
        }
        try? pool.close()
    }

    public func migrate() async throws {
        try SQLiteMigrations.migrator.migrate(pool)
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

    static func recordedResult(of key: IdempotencyKey, _ db: Database) throws -> IdempotencyKey.Record? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT fingerprint, result FROM idempotency_keys WHERE user_id = ? AND key = ?"),
            arguments: [key.userID, key.key]
        ).map { IdempotencyKey.Record(fingerprint: $0["fingerprint"], result: $0["result"]) }
    }

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

    /// Runs `body` once per idempotency key (`IdempotencyKey.replay`), in the caller's
    /// transaction: SQLite's one writer makes a concurrent request with the same key wait.
    static func idempotent<V: Codable & Sendable>(
        _ key: IdempotencyKey?, _ db: Database, now: Date, _ body: () throws -> V
    ) throws -> Idempotent<V> {
        guard let key else { return Idempotent(value: try body(), replayed: false) }
        if let replay = try key.replay(try recordedResult(of: key, db), as: V.self) { return replay }
        let value = try body()
        let record = try key.record(of: value)
        try db.cachedStatement(sql: "INSERT INTO idempotency_keys (user_id, key, fingerprint, result, created_at) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [key.userID, key.key, record.fingerprint, record.result, now.millis])
        return Idempotent(value: value, replayed: false)
    }
}

extension Row {
    func date(_ column: String) -> Date { Date(millis: self[column]) }
}
