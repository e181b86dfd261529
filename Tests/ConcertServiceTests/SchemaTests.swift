import Foundation
import GRDB
import Logging
import Testing

@testable import ConcertService

/// The two backends keep the same data in the same shape: every table, view, column and
/// named index of one exists in the other, but for the few that belong to one database's
/// mechanics (named here, with why).
@Suite struct SchemaTests {
    /// PostgreSQL only: the queue's seq counter, whose row lock orders joins across instances
    /// (SQLite's one writer orders them), the sharded seat counts that spare concurrent holds
    /// one hot row, and its migration log. (Its unique constraints' own indexes, `*_key`, are
    /// SQLite's automatic ones, which are left out too.)
    static let postgresOnly: Set<String> = [
        "queue_counter", "queue_counter.id", "queue_counter.last_seq",
        "schedule_seat_counts", "schedule_seat_counts.schedule_id", "schedule_seat_counts.shard", "schedule_seat_counts.taken",
        "schema_migrations", "schema_migrations.version", "schema_migrations.applied_at",
    ]
    /// SQLite only: the remaining seats kept on the schedule row (PostgreSQL shards them),
    /// its sequence table and GRDB's migration log.
    static let sqliteOnly: Set<String> = [
        "schedules.remaining_seats", "sqlite_sequence", "sqlite_sequence.name", "sqlite_sequence.seq",
        "grdb_migrations", "grdb_migrations.identifier",
    ]

    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func bothBackendsHaveTheSameTablesColumnsAndIndexes() async throws {
        let sqlite = try await Self.migratedSchema(.sqlite)
        let postgres = try await Self.migratedSchema(.postgres)
        #expect(sqlite.subtracting(postgres).subtracting(Self.sqliteOnly).sorted() == [], "in SQLite only")
        #expect(postgres.subtracting(sqlite).subtracting(Self.postgresOnly).sorted() == [], "in PostgreSQL only")
        #expect(Self.sqliteOnly.subtracting(sqlite.subtracting(postgres)).sorted() == [], "an exception that is not one")
        #expect(Self.postgresOnly.subtracting(postgres.subtracting(sqlite)).sorted() == [], "an exception that is not one")
        #expect(sqlite.contains("seat_claims_one_live_per_seat"), "the names were read")
    }

    /// An entry waiting in a room not drawn yet when the service is upgraded takes its place in
    /// the draw, as a join does now; entries of a room already drawn keep theirs.
    @Test func upgradingGivesThePreQueueItsPlacesInTheDraw() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("upgrade-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pool = try SQLiteStorage.openDurablePool(path: path, configuration: Configuration())
        try SQLiteMigrations.migrator.migrate(pool, upTo: "v4-waiting-room-per-performance")
        let seed = FairDraw.newSeed()
        let entries = (1...3).map { _ in FairDraw.newEntryID() }
        try pool.write { db in
            try db.execute(sql: "INSERT INTO performances (id, title, performer, description, created_at) VALUES (1, 't', 'p', '', 0), (2, 'u', 'p', '', 0)")
            try db.execute(sql: """
                INSERT INTO rooms (performance_id, prequeue_opens_at, starts_at, active_per_seat_milli, abandon_after_s, seed, commitment, drawn_at)
                VALUES (1, 0, 0, 1000, 120, ?, 'c', NULL), (2, 0, 0, 1000, 120, ?, 'c', 5)
                """, arguments: [seed, seed])
            for (index, entry) in entries.enumerated() {
                try db.execute(
                    sql: "INSERT INTO queue_entries (performance_id, user_id, entry_id, joined_at, seen_at, place) VALUES (?, ?, ?, 0, 0, ?)",
                    arguments: [index < 2 ? 1 : 2, index, entry, index + 1])
            }
        }
        try SQLiteMigrations.migrator.migrate(pool)
        let places = try pool.read { db in try Int64.fetchAll(db, sql: "SELECT place FROM queue_entries ORDER BY seq") }
        #expect(places == [FairDraw.place(seed: seed, entryID: entries[0]), FairDraw.place(seed: seed, entryID: entries[1]), 3])
        let listed = try pool.read { db in try String.fetchAll(db, sql: "SELECT entry_id FROM room_draw_entries WHERE performance_id = 1 ORDER BY place") }
        #expect(listed == FairDraw.order(Array(entries[0...1]), seed: seed), "the pre-queue is listed in its draw")
        try pool.close()
    }

    /// Names of the tables and views, their columns ("table.column") and the named indexes.
    static func migratedSchema(_ backend: Backend) async throws -> Set<String> {
        let database = try await TestDatabase.create(backend)
        var config = AppConfiguration()
        database.configure(&config)
        let logger = Logger(label: "schema-test")
        try await ConcertSystem.openStorage(config, logger: logger).whileRunning(logger: logger) {}
        let listing = switch backend {
        case .sqlite:
            """
            SELECT group_concat(name, ' ') FROM (
                SELECT m.name FROM sqlite_master m WHERE m.type IN ('table', 'view')
                UNION ALL SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type IN ('table', 'view')
                UNION ALL SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%')
            """
        case .postgres:
            """
            SELECT string_agg(name, ' ') FROM (
                SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()
                UNION ALL SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = current_schema()
                UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key') names
            """
        }
        let names = try #require(try await database.string(listing))
        return Set(names.split(separator: " ").map(String.init))
    }
}
