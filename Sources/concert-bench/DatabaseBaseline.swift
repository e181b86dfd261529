import ConcertService
import Foundation
import GRDB
import Logging
import PostgresNIO
import Synchronization

/// The database's own limit for a hold's write work, measured without the service: one
/// transaction per seat that locks and updates that seat's row, at the benchmark's concurrency
/// and with the server's number of connections. The update is prepared once per connection,
/// as the service's hold statements are, so the baseline is not slowed by planning.
enum DatabaseBaseline {
    static func postgres(url: String, poolSize: Int, seats: Int, concurrency: Int) async throws -> Double {
        var configuration = try PostgresURL.parse(url)
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = poolSize
        let client = PostgresClient(configuration: configuration)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        let logger = Logger(label: "baseline")
        _ = try await client.query("DROP TABLE IF EXISTS baseline_seats").collect()
        _ = try await client.query("CREATE TABLE baseline_seats (seat_no BIGINT PRIMARY KEY, holder BIGINT)").collect()
        _ = try await client.query("INSERT INTO baseline_seats SELECT g, NULL FROM generate_series(1, \(seats)) g").collect()
        return try await perSecond(count: seats, concurrency: concurrency) { seat in
            try await client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: logger).collect()
                let updated = try await connection.execute(ClaimSeat(seat: seat), logger: logger).reduce(0) { count, _ in count + 1 }
                _ = try await connection.query("COMMIT", logger: logger).collect()
                guard updated == 1 else { throw BenchError("baseline: seat \(seat) was not free") }
            }
        }
    }

    /// The same on a SQLite file in WAL mode, through GRDB's single writer: with the server's
    /// durability (synchronous = FULL, an fsync of the WAL at every commit), or, for reference
    /// only, with GRDB's default (NORMAL: no fsync at commit, so a power cut may lose the last ones).
    static func sqlite(path: String, seats: Int, concurrency: Int, durable: Bool) async throws -> Double {
        let configuration = ScenarioDatabase.sqliteConfiguration
        let pool =
            durable
            ? try SQLiteStorage.openDurablePool(path: path, configuration: configuration)
            : try DatabasePool(path: path, configuration: configuration)
        try await pool.write { db in
            try db.execute(sql: "CREATE TABLE baseline_seats (seat_no INTEGER PRIMARY KEY, holder INTEGER)")
            try db.execute(sql: """
                WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < \(seats))
                INSERT INTO baseline_seats SELECT n, NULL FROM g
                """)
        }
        return try await perSecond(count: seats, concurrency: concurrency) { seat in
            try await pool.write { db in
                try db.cachedStatement(sql: "UPDATE baseline_seats SET holder = ? WHERE seat_no = ? AND holder IS NULL")
                    .execute(arguments: [seat, seat])
                guard db.changesCount == 1 else { throw BenchError("baseline: seat \(seat) was not free") }
            }
        }
    }

    /// The service's own holds, called on its storage without HTTP (batched as the service
    /// batches them): how far the holds over HTTP are from their database work, which is more
    /// than the one-row update above (the reservation, the seat claims, the seat count, the
    /// spent queue entry).
    static func holdsWithoutHTTP(_ store: any ReservationStore, _ holds: [NewHold], concurrency: Int) async throws -> Double {
        try await perSecond(count: holds.count, concurrency: concurrency) { seat in
            _ = try await store.hold(holds[seat - 1], now: Date(), idempotency: nil)
        }
    }

    /// The baseline's one statement on PostgreSQL.
    private struct ClaimSeat: PostgresPreparedStatement {
        static let sql = "UPDATE baseline_seats SET holder = $1 WHERE seat_no = $1 AND holder IS NULL RETURNING seat_no"
        typealias Row = Int

        var seat: Int

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(seat)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
    }

    /// Runs `work(1...count)` from `concurrency` tasks; transactions per second.
    private static func perSecond(count: Int, concurrency: Int, _ work: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
        let next = Ticket(from: 1)
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let seat = next.take()
                        guard seat <= count else { return }
                        try await work(seat)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(count) / (clock.now - start).seconds
    }
}
