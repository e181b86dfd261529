import Foundation
import PostgresNIO
import Testing

@testable import ConcertService

extension ServerProcessTests {
    /// The admitter is killed in the middle of a room's draw: the draw was one transaction, so
    /// nothing of it is left, and the instance that takes over draws the room once, whole.
    @Suite struct DrawFailoverTests {
        static let entries = 100_000

        @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
        func theAdmitterDyingDuringADrawLeavesACompleteDrawAfterFailover() async throws {
            let database = try await TestDatabase.create(.postgres)
            var config = AppConfiguration()
            database.configure(&config)
            let servers = try ServerProcesses(count: 2, environment: [
                "DATABASE_URL": config.databaseURL ?? "", "AUTH_JWT_SECRET": TestService.secret, "QUEUE_TICK_MS": "100",
                "LOG_LEVEL": "critical",
            ])
            let client = SaleClient(ports: servers.ports)
            do {
                try await servers.waitUntilReady(client)
                let start = Date().addingTimeInterval(3600)
                let created = try await client.send(
                    .post, "/v1/admin/performances", user: 1, admin: true,
                    body: #"{"title": "Draw", "performer": "P", "sale": {"starts_at": "\#(iso(start))"}}"#)
                let performance = try #require(created.int("id"))
                // A big pre-queue, written straight into the database as joins leave it: each entry
                // at its place in the draw and in the draw's list.
                try await database.execute("""
                    WITH counter AS (UPDATE queue_counter SET last_seq = last_seq + \(Self.entries) RETURNING last_seq),
                    entries AS (SELECT g, md5(g::text || random()::text) AS entry_id FROM generate_series(1, \(Self.entries)) g),
                    written AS (
                        INSERT INTO queue_entries (seq, performance_id, user_id, entry_id, joined_at, seen_at, place)
                        SELECT counter.last_seq - \(Self.entries) + g, \(performance), 1000000 + g, entry_id,
                            \(Date().millis), \(Date().millis), draw_place(r.seed, entry_id)
                        FROM counter, entries, rooms r WHERE r.performance_id = \(performance) RETURNING performance_id, place, entry_id)
                    INSERT INTO room_draw_entries (performance_id, place, entry_id) SELECT * FROM written
                    """)
                // The sale starts in two seconds. Meanwhile the test takes a share lock on the room's
                // row (as a join does), so that the admitter's draw waits in the middle of its
                // transaction: there it is killed.
                try await database.execute("UPDATE rooms SET starts_at = \(Date().addingTimeInterval(2).millis) WHERE performance_id = \(performance)")
                let schema = try #require(database.postgresSchema)
                let killed = try await TestPostgres.shared.withConnection { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: TestPostgres.logger)
                    try await connection.query("BEGIN", logger: TestPostgres.logger)
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT 1 FROM rooms WHERE performance_id = \(performance) FOR SHARE"), logger: TestPostgres.logger)
                    let drawing = try await eventually(within: .seconds(30), every: .milliseconds(20)) {
                        try await database.int("""
                            SELECT COUNT(*) FROM pg_stat_activity WHERE pid != pg_backend_pid() AND wait_event_type = 'Lock'
                              AND query LIKE '%UPDATE rooms SET drawn_at%'
                            """) == 1
                    }
                    #expect(drawing, "the draw was seen waiting in its transaction")
                    let admitter = try #require(try await database.string("SELECT holder FROM admitter_lease"))
                    let killed = try #require(servers.instanceIDs.firstIndex(of: admitter))
                    await servers.kill(killed)
                    try await connection.query("COMMIT", logger: TestPostgres.logger)
                    try await connection.query("RESET search_path", logger: TestPostgres.logger)
                    return killed
                }

                let survivor = servers.instanceIDs[1 - killed]
                let drawn = try await eventually(within: .seconds(60), every: .milliseconds(50)) {
                    try await database.int("SELECT COUNT(*) FROM rooms WHERE drawn_at IS NOT NULL") == 1
                }
                #expect(drawn, "the survivor drew the room")
                #expect(try await database.string("SELECT drawn_by FROM rooms WHERE performance_id = \(performance)") == survivor,
                        "the killed admitter's draw left nothing behind")
                #expect(try await database.int("SELECT draw_entries FROM rooms") == Self.entries)
                #expect(try await database.int("SELECT COUNT(*) FROM room_draw_entries") == Self.entries)
                // The published order is the rule's, recomputed by the database.
                let outOfOrder = try await database.int("""
                    SELECT COUNT(*) FROM (
                        SELECT entry_id, ROW_NUMBER() OVER (ORDER BY place, entry_id) AS position FROM room_draw_entries) published
                    JOIN (
                        SELECT q.entry_id, ROW_NUMBER() OVER (ORDER BY encode(sha256(convert_to(r.seed || ':' || q.entry_id, 'UTF8')), 'hex')) AS rank
                        FROM queue_entries q JOIN rooms r ON r.performance_id = q.performance_id) rule USING (entry_id)
                    WHERE rule.rank != published.position
                    """)
                #expect(outOfOrder == 0)
                // The survivor shows it once its board has read it.
                #expect(try await eventually(within: .seconds(30)) {
                    let view = try await client.send(.get, "/v1/performances/\(performance)/room", instance: 1 - killed)
                    return (view.json["draw"] as? [String: Any])?["entries"] as? Int == Self.entries
                })
                try await checkInvariants(database)
            } catch {
                servers.printLogs()
                throw error
            }
            await servers.stop()
            try await client.shutdown()
        }
    }
}
