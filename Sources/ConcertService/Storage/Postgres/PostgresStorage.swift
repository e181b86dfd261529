import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// The scale-out backend: one PostgreSQL database shared by any number of instances, through
/// PostgresNIO's connection pool.
///
/// Transactions run at READ COMMITTED. Rows that decide an outcome are taken with conditional
/// single statements or `FOR UPDATE`, always in the same order: reservations (by id), then
/// seat claims (by seat), then seat-count rows (by schedule id), then wallets. Every connection
/// has a `lock_timeout`, so a long wait becomes a retryable `CONTENDED` error instead of a stall.
public final class PostgresStorage: StorageBackend {
    /// Serves requests.
    var client: PostgresClient { pools.current.requests }
    /// Serves the background tasks (admitter, queue sync, sweeper) with connections of their
    /// own, so the admission pace holds however many requests wait for the main pool.
    var background: PostgresClient { pools.current.background }
    private let pools: PoolsInUse
    /// Writes queue joins in batches (see `joinQueue`).
    let joins: WriteBatcher<QueueJoin, QueueJoin.Written>
    /// Writes holds without an idempotency key in batches (see `hold`).
    let holdWrites: WriteBatcher<PendingHold, Int64?>
    let logger: Logger
    /// How a connection outside the pools connects: the availability probe's (see `probe`) and
    /// the seat-change listener's.
    let singleConnection: PostgresConnection.Configuration

    /// Up to `poolSize` connections to `url` for requests and 2 for background tasks, once `run`
    /// has started.
    public init(url: String, poolSize: Int, lockTimeout: Duration, logger: Logger) throws {
        var configuration = try PostgresURL.parse(url)
        singleConnection = try PostgresURL.connection(url)
        configuration.options.additionalStartupParameters.append(("lock_timeout", "\(Int(lockTimeout.seconds * 1000))"))
        var backgroundConfiguration = configuration
        backgroundConfiguration.options.maximumConnections = 2
        // Requests run statements keyed by ids, over and over. PostgreSQL plans a prepared
        // statement anew for each execution while that looks cheaper than its one generic
        // plan; for the hold's `Context` it always did (the generic plan counts on 10 seats in
        // an array, a fresh one on the 1 or 2 given). The generic plans use the same indexes.
        // The background tasks keep fresh plans: their ranges (`seq > $1`,
        // `hold_expires_at <= $1`) are selective only for the values at hand.
        configuration.options.additionalStartupParameters.append(("plan_cache_mode", "force_generic_plan"))
        configuration.options.maximumConnections = poolSize
        let pools = PoolsInUse(Pools(requests: configuration, background: backgroundConfiguration, logger: logger))
        self.pools = pools
        self.logger = logger
        joins = WriteBatcher(maxBatch: 1_000) { batch in try await Self.writeJoins(batch, client: pools.current.requests, logger: logger) }
        // A quarter of the pool writes hold batches: enough statements in flight to keep the
        // database busy, and the rest of the pool for everything else.
        holdWrites = WriteBatcher(maxBatch: 100, maxWriters: max(1, poolSize / 4)) { batch in
            try await Self.writeHolds(batch, client: pools.current.requests, logger: logger)
        }
    }

    /// Runs the pools until the batchers have written their last batch at graceful shutdown.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.pools.run() }
            await withDiscardingTaskGroup { batchers in
                batchers.addTask { await self.joins.run() }
                batchers.addTask { await self.holdWrites.run() }
            }
            group.cancelAll()
        }
    }

    public func migrate() async throws {
        try await pools.current.running.wait()
        try await transaction { connection in try await PostgresMigrations.migrate(connection, logger: logger) }
    }

    /// On the background pool: a request pool that is busy is not a database that is down.
    public func ping() async throws {
        try await rows("SELECT 1", on: background)
    }

    /// On a connection of its own: while the database is away the pools wait longer and longer
    /// between their attempts to connect (up to a minute), which must not hide its return.
    public func probe() async throws {
        let connection = try await PostgresConnection.connect(configuration: singleConnection, id: 0, logger: logger)
        do {
            try await connection.rows("SELECT 1", logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    /// New pools, which connect at once, in place of the ones that were backing off.
    public func reconnect() async {
        await pools.replace()
    }

    public func countViolations(of check: IntegrityCheck) async throws -> Int {
        try await rows(PostgresQuery(unsafeSQL: check.countingSQL))[0].decode(Int.self)
    }

    /// The pools requests use now. Replaced pools keep running for a while, for the calls
    /// already waiting on them.
    private final class PoolsInUse: Sendable {
        private enum Change {
            case start(Pools)
            case retire(Pools)
        }

        private let state: Mutex<Pools>
        private let changes: AsyncStream<Change>
        private let change: AsyncStream<Change>.Continuation

        init(_ pools: Pools) {
            state = Mutex(pools)
            (changes, change) = AsyncStream.makeStream()
            change.yield(.start(pools))
        }

        var current: Pools { state.withLock { $0 } }

        /// Runs every pool started, until cancelled.
        func run() async {
            await withDiscardingTaskGroup { group in
                for await change in changes {
                    switch change {
                    case .start(let pools):
                        group.addTask { await pools.run() }
                    case .retire(let pools):
                        // No request waits for the database longer than `DATABASE_TIMEOUT_MS`,
                        // at most a minute: then nothing uses the old pools any more.
                        group.addTask {
                            try? await Task.sleep(for: .seconds(60))
                            pools.retire()
                        }
                    }
                }
                group.cancelAll()
            }
        }

        /// New pools take over once their `run` has started, so no call waits on pools that are
        /// not running yet.
        func replace() async {
            let new = Pools(reusing: current)
            change.yield(.start(new))
            guard (try? await new.running.wait()) != nil else { return }
            let old = state.withLock { current in
                defer { current = new }
                return current
            }
            change.yield(.retire(old))
        }
    }

    /// The request pool and the background pool, running from `run` until retired.
    private final class Pools: Sendable {
        let requests: PostgresClient
        let background: PostgresClient
        private let configurations: (requests: PostgresClient.Configuration, background: PostgresClient.Configuration)
        private let logger: Logger
        /// Opens once `run` has started the pools.
        let running = StartupGate()
        private let retirement: AsyncStream<Void>
        private let retirementSignal: AsyncStream<Void>.Continuation

        init(requests: PostgresClient.Configuration, background: PostgresClient.Configuration, logger: Logger) {
            // The pools log every failed attempt to connect at info; while the database is away
            // that is a line every few hundred milliseconds, and the availability monitor says
            // once that it is lost. Debug and trace keep them.
            var poolLogger = logger
            if poolLogger.logLevel > .debug { poolLogger.logLevel = max(poolLogger.logLevel, .warning) }
            let requestPool = PostgresClient(configuration: requests, backgroundLogger: poolLogger)
            let backgroundPool = PostgresClient(configuration: background, backgroundLogger: poolLogger)
            self.requests = requestPool
            self.background = backgroundPool
            configurations = (requests, background)
            self.logger = logger
            (retirement, retirementSignal) = AsyncStream.makeStream()
        }

        convenience init(reusing pools: Pools) {
            self.init(requests: pools.configurations.requests, background: pools.configurations.background, logger: pools.logger)
        }

        /// Runs both pools until retired or cancelled.
        func run() async {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.requests.run() }
                group.addTask {
                    self.running.open()
                    await self.background.run()
                }
                for await _ in retirement {}
                group.cancelAll()
            }
        }

        func retire() {
            retirementSignal.finish()
        }
    }

    // MARK: Helpers shared by the stores

    /// Rows per schedule in `schedule_seat_counts` (migration v3 allows up to 16).
    static let seatCountShards = 16
    /// The shard a transaction changes: its connection's own, so the connections of a pool
    /// mostly write to different rows.
    static let shardOfThisConnection = "pg_backend_pid() % \(seatCountShards)"

    /// Runs `body` in one transaction on one pooled connection (of `pool`, the request pool by
    /// default); any error rolls it back.
    func transaction<T: Sendable>(
        on pool: PostgresClient? = nil, begin: PostgresQuery = "BEGIN", _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await Self.translatingErrors {
            try await (pool ?? client).withConnection { connection in
                try await connection.rows(begin, logger: logger)
                do {
                    let value = try await body(connection)
                    try await connection.rows("COMMIT", logger: logger)
                    return value
                } catch {
                    _ = try? await connection.rows("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// Runs `body` on one pooled connection, outside a transaction (reads that need no lock).
    func reading<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.translatingErrors { try await client.withConnection { try await body($0) } }
    }

    /// One statement, outside a transaction (on `pool`, the request pool by default).
    @discardableResult
    func rows(_ query: PostgresQuery, on pool: PostgresClient? = nil) async throws -> [PostgresRow] {
        try await Self.translatingErrors { try await (pool ?? client).query(query, logger: logger).collect() }
    }

    @discardableResult
    static func translatingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError {
            throw Self.serviceError(for: error) ?? error
        }
    }

    /// Lock waits, deadlocks and a database that cannot be reached are the client's to retry.
    static func serviceError(for error: PSQLError) -> ServiceError? {
        guard let state = error.serverInfo?[.sqlState] else {
            // No answer from the server at all: it is down or unreachable.
            return ServiceError(.serviceUnavailable, "The database cannot be reached; retry shortly.")
        }
        switch state {
        case "55P03", "40P01", "40001":  // lock_not_available, deadlock_detected, serialization_failure
            return ServiceError(.contended, "Too many requests want the same rows right now; retry shortly.")
        case "57014", "57P01", "53300":  // query_canceled, admin_shutdown, too_many_connections
            return ServiceError(.serviceUnavailable, "The database is busy; retry shortly.")
        default:
            return nil
        }
    }

    public func recordedResult(of key: IdempotencyKey) async throws -> IdempotencyKey.Record? {
        try await reading { connection in try await Self.recordedResult(of: key, connection, logger: logger) }
    }

    private static func recordedResult(of key: IdempotencyKey, _ connection: PostgresConnection, logger: Logger) async throws
        -> IdempotencyKey.Record?
    {
        try await connection.rows(
            "SELECT fingerprint, result FROM idempotency_keys WHERE user_id = \(key.userID) AND key = \(key.key)", logger: logger
        ).first.map { row in
            let (fingerprint, result) = try row.decode((String, String).self)
            return IdempotencyKey.Record(fingerprint: fingerprint, result: Data(result.utf8))
        }
    }

    /// Runs `body` once per idempotency key (`IdempotencyKey.replay`), in the caller's
    /// transaction. A transaction-scoped advisory lock makes a concurrent request with the same
    /// key wait for the first one and then read its record.
    static func idempotent<V: Codable & Sendable>(
        _ key: IdempotencyKey?, _ connection: PostgresConnection, now: Date, logger: Logger,
        _ body: () async throws -> V
    ) async throws -> Idempotent<V> {
        guard let key else { return Idempotent(value: try await body(), replayed: false) }
        let scope = "\(key.userID):\(key.key)"
        try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended(\(scope), 0))", logger: logger)
        if let replay = try key.replay(try await recordedResult(of: key, connection, logger: logger), as: V.self) { return replay }
        let value = try await body()
        let record = try key.record(of: value)
        try await connection.rows(
            """
            INSERT INTO idempotency_keys (user_id, key, fingerprint, result, created_at)
            VALUES (\(key.userID), \(key.key), \(record.fingerprint), \(String(decoding: record.result, as: UTF8.self)), \(now.millis))
            """,
            logger: logger)
        return Idempotent(value: value, replayed: false)
    }
}

extension PostgresConnection {
    /// All rows of one statement. Always read them: a statement's error can arrive after its
    /// first rows, so a result that is dropped unread can hide a failure.
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}

/// `postgres://user:password@host:port/database?sslmode=disable&options=-c%20search_path%3Dname`,
/// with libpq's names for the query parameters that are supported.
public enum PostgresURL {
    /// The pool's configuration.
    public static func parse(_ text: String) throws -> PostgresClient.Configuration {
        let url = try Parts(text)
        let tls: PostgresClient.Configuration.TLS = switch url.sslMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        configuration.options.additionalStartupParameters = url.startupParameters
        return configuration
    }

    /// The configuration of one connection outside the pool (the availability probe).
    static func connection(_ text: String) throws -> PostgresConnection.Configuration {
        let url = try Parts(text)
        let tls: PostgresConnection.Configuration.TLS = switch url.sslMode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        configuration.options.additionalStartupParameters = url.startupParameters
        return configuration
    }

    private struct Parts {
        enum SSLMode { case disable, prefer, require }

        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var sslMode: SSLMode
        var startupParameters: [(String, String)] = []

        init(_ text: String) throws {
            guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""),
                let host = url.host, !host.isEmpty
            else {
                throw ConfigurationError("DATABASE_URL must look like postgres://user:password@host:5432/database.")
            }
            let parameters = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
            switch parameters["sslmode"] ?? "prefer" {
            case "disable": sslMode = .disable
            case "prefer", "allow": sslMode = .prefer
            case "require", "verify-ca", "verify-full": sslMode = .require
            case let mode: throw ConfigurationError("DATABASE_URL: sslmode \(mode) is not supported.")
            }
            let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
            self.host = host
            port = url.port ?? 5432
            username = url.user ?? "postgres"
            password = url.password
            self.database = database.isEmpty ? nil : database
            if let options = parameters["options"] { startupParameters.append(("options", options)) }
        }
    }
}
