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
public final class PostgresStorage: Storage {
    /// Serves requests.
    var client: PostgresClient { pools.current.requests }
    /// Serves the background tasks (admitter, queue sync, sweeper) with connections of their
    /// own, so the admission pace holds however many requests wait for the main pool.
    var background: PostgresClient { pools.current.background }
    private let pools: PoolsInUse
    /// Writes queue joins in batches (see `joinQueue`).
    let joins: WriteBatcher<QueueJoin, Int64>
    /// What holds check before the database, and the batches that write them (see `quickHold`).
    let layouts = SaleLayouts()
    let holdWrites: WriteBatcher<HoldStatements.QuickHold, Int64?>
    let logger: Logger
    /// How the availability probe connects (see `probe`).
    private let probeConfiguration: PostgresConnection.Configuration

    /// Connects to `url`, and brings the schema up to date. Opens up to `poolSize` connections
    /// for requests and 2 for background tasks.
    public init(url: String, poolSize: Int, lockTimeout: Duration, logger: Logger) async throws {
        var configuration = try PostgresURL.parse(url)
        probeConfiguration = try PostgresURL.connection(url)
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
            try await Self.writeQuickHolds(batch, client: pools.current.requests, logger: logger)
        }
        do {
            try await transaction { connection in try await PostgresMigrations.migrate(connection, logger: logger) }
        } catch {
            await close()
            throw error
        }
    }

    /// On the background pool: a request pool that is busy is not a database that is down.
    public func ping() async throws {
        try await rows("SELECT 1", on: background)
    }

    /// On a connection of its own: while the database is away the pools wait longer and longer
    /// between their attempts to connect (up to a minute), which must not hide its return.
    public func probe() async throws {
        let connection = try await PostgresConnection.connect(configuration: probeConfiguration, id: 0, logger: logger)
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

    public func close() async {
        await pools.shutDown()
    }

    /// The pools requests use now, and those being shut down after being replaced.
    private final class PoolsInUse: Sendable {
        private let state: Mutex<(current: Pools, retiring: [Pools])>

        init(_ pools: Pools) {
            state = Mutex((pools, []))
        }

        var current: Pools { state.withLock(\.current) }

        /// Calls already waiting on the old pools keep them until every one has been answered
        /// (no request waits for the database longer than `DATABASE_TIMEOUT_MS`, at most a
        /// minute); then they are shut down.
        func replace() async {
            let retired = state.withLock { state in
                let retired = state.current
                state = (Pools(reusing: retired), state.retiring + [retired])
                return retired
            }
            Task {
                try? await Task.sleep(for: .seconds(60))
                await retired.shutDown()
                self.state.withLock { $0.retiring.removeAll { $0 === retired } }
            }
        }

        func shutDown() async {
            for pools in state.withLock({ [$0.current] + $0.retiring }) { await pools.shutDown() }
        }
    }

    /// The request pool and the background pool, each running until shut down.
    private final class Pools: Sendable {
        let requests: PostgresClient
        let background: PostgresClient
        private let configurations: (requests: PostgresClient.Configuration, background: PostgresClient.Configuration)
        private let logger: Logger
        private let running: Task<Void, Never>

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
            running = Task {
                await withDiscardingTaskGroup { group in
                    group.addTask { await requestPool.run() }
                    group.addTask { await backgroundPool.run() }
                }
            }
        }

        convenience init(reusing pools: Pools) {
            self.init(requests: pools.configurations.requests, background: pools.configurations.background, logger: pools.logger)
        }

        func shutDown() async {
            running.cancel()
            await running.value
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

    /// Runs `body` once per idempotency key: a repeated key returns the recorded result. A
    /// transaction-scoped advisory lock makes a concurrent request with the same key wait for
    /// the first one and then read its record.
    static func idempotent<V: Codable & Sendable>(
        _ key: IdempotencyKey?, _ connection: PostgresConnection, now: Date, logger: Logger,
        _ body: () async throws -> V
    ) async throws -> Idempotent<V> {
        guard let key else { return Idempotent(value: try await body(), replayed: false) }
        let scope = "\(key.userID):\(key.key)"
        try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended(\(scope), 0))", logger: logger)
        let recorded = try await connection.rows(
            "SELECT fingerprint, result FROM idempotency_keys WHERE user_id = \(key.userID) AND key = \(key.key)",
            logger: logger
        ).first
        if let recorded {
            let (fingerprint, result) = try recorded.decode((String, String).self)
            guard fingerprint == key.fingerprint else {
                throw ServiceError(.idempotencyKeyReused, "This Idempotency-Key was used for a different request.")
            }
            return Idempotent(value: try JSONDecoder().decode(V.self, from: Data(result.utf8)), replayed: true)
        }
        let value = try await body()
        let result = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        try await connection.rows(
            """
            INSERT INTO idempotency_keys (user_id, key, fingerprint, result, created_at)
            VALUES (\(key.userID), \(key.key), \(key.fingerprint), \(result), \(now.millis))
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
