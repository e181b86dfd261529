import Foundation
import Testing

@testable import ConcertService

extension ServerProcessTests {
    /// The admitter is killed in the middle of a room's draw: the draw was one transaction, so
    /// nothing of it is left, and the instance that takes over draws the room once, whole.
    @Suite struct DrawFailoverTests {
        static let entries = 300_000

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
                // A big pre-queue, written straight into the database, so that the draw takes long enough to be cut off.
                try await database.execute("""
                    WITH counter AS (UPDATE queue_counter SET last_seq = last_seq + \(Self.entries) RETURNING last_seq)
                    INSERT INTO queue_entries (seq, performance_id, user_id, entry_id, joined_at, seen_at, place)
                    SELECT counter.last_seq - \(Self.entries) + g, \(performance), 1000000 + g, md5(g::text || random()::text),
                        \(Date().millis), \(Date().millis), counter.last_seq - \(Self.entries) + g
                    FROM counter, generate_series(1, \(Self.entries)) g
                    """)
                // The sale starts now.
                try await database.execute("UPDATE rooms SET starts_at = \(Date().millis) WHERE performance_id = \(performance)")
                let drawing = try await eventually(within: .seconds(30), every: .milliseconds(5)) {
                    try await database.int("""
                        SELECT COUNT(*) FROM pg_stat_activity WHERE pid != pg_backend_pid() AND state = 'active'
                          AND query LIKE '%INSERT INTO room_draw_entries%'
                        """) == 1
                }
                #expect(drawing, "the draw was seen running")
                let admitter = try #require(try await database.string("SELECT holder FROM admitter_lease"))
                let killed = try #require(servers.instanceIDs.firstIndex(of: admitter))
                await servers.kill(killed)

                let survivor = servers.instanceIDs[1 - killed]
                let drawn = try await eventually(within: .seconds(60), every: .milliseconds(50)) {
                    try await database.int("SELECT COUNT(*) FROM rooms WHERE drawn_at IS NOT NULL") == 1
                }
                #expect(drawn, "the survivor drew the room")
                #expect(try await database.string("SELECT drawn_by FROM rooms WHERE performance_id = \(performance)") == survivor,
                        "the killed admitter's draw left nothing behind")
                #expect(try await database.int("SELECT draw_entries FROM rooms") == Self.entries)
                #expect(try await database.int("SELECT COUNT(*) FROM room_draw_entries") == Self.entries)
                #expect(try await database.int("SELECT COUNT(*) FROM queue_entries WHERE place >= 0") == 0, "every entry has its place")
                // The published order is the rule's, recomputed by the database.
                let outOfOrder = try await database.int("""
                    SELECT COUNT(*) FROM room_draw_entries d JOIN (
                        SELECT q.entry_id, ROW_NUMBER() OVER (ORDER BY encode(sha256(convert_to(r.seed || ':' || q.entry_id, 'UTF8')), 'hex')) AS rank
                        FROM queue_entries q JOIN rooms r ON r.performance_id = q.performance_id) rule ON rule.entry_id = d.entry_id
                    WHERE rule.rank != d.draw_position
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
