import GRDB

/// Versioned schema of the SQLite backend. Append migrations; never edit a shipped one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial-schema") { db in
            try db.execute(sql: """
                CREATE TABLE performances (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    title TEXT NOT NULL,
                    performer TEXT NOT NULL,
                    description TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE schedules (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    performance_id INTEGER NOT NULL REFERENCES performances(id),
                    starts_at INTEGER NOT NULL,
                    sale_opens_at INTEGER NOT NULL,
                    sale_closes_at INTEGER NOT NULL,
                    total_seats INTEGER NOT NULL CHECK (total_seats > 0),
                    -- seats minus seats in live claims, kept in the same transactions as the claims
                    remaining_seats INTEGER NOT NULL CHECK (remaining_seats BETWEEN 0 AND total_seats)
                );
                CREATE INDEX schedules_by_start ON schedules(starts_at);
                CREATE INDEX schedules_by_performance ON schedules(performance_id, starts_at);
                CREATE TABLE seats (
                    schedule_id INTEGER NOT NULL REFERENCES schedules(id),
                    seat_no INTEGER NOT NULL CHECK (seat_no > 0),
                    grade TEXT NOT NULL,
                    price INTEGER NOT NULL CHECK (price > 0),
                    PRIMARY KEY (schedule_id, seat_no)
                ) WITHOUT ROWID;
                CREATE TABLE reservations (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER NOT NULL,
                    schedule_id INTEGER NOT NULL REFERENCES schedules(id),
                    state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'expired', 'cancelled')),
                    seat_numbers TEXT NOT NULL,
                    seat_count INTEGER NOT NULL CHECK (seat_count > 0),
                    total_price INTEGER NOT NULL CHECK (total_price >= 0),
                    hold_expires_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX reservations_by_user ON reservations(user_id, id);
                CREATE INDEX reservations_pending_by_schedule ON reservations(schedule_id, hold_expires_at)
                    WHERE state = 'pending';
                CREATE INDEX reservations_pending_by_deadline ON reservations(hold_expires_at)
                    WHERE state = 'pending';
                CREATE TABLE seat_claims (
                    reservation_id INTEGER NOT NULL REFERENCES reservations(id),
                    schedule_id INTEGER NOT NULL,
                    seat_no INTEGER NOT NULL,
                    live INTEGER NOT NULL DEFAULT 1 CHECK (live IN (0, 1)),
                    PRIMARY KEY (reservation_id, seat_no),
                    FOREIGN KEY (schedule_id, seat_no) REFERENCES seats(schedule_id, seat_no)
                ) WITHOUT ROWID;
                -- The database's guarantee that no seat is in two live reservations.
                CREATE UNIQUE INDEX seat_claims_one_live_per_seat ON seat_claims(schedule_id, seat_no) WHERE live = 1;
                CREATE TABLE wallets (
                    user_id INTEGER PRIMARY KEY,
                    balance INTEGER NOT NULL CHECK (balance >= 0),
                    updated_at INTEGER NOT NULL
                );
                CREATE TABLE wallet_entries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('charge', 'payment', 'refund')),
                    amount INTEGER NOT NULL,
                    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
                    reservation_id INTEGER REFERENCES reservations(id),
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX wallet_entries_by_user ON wallet_entries(user_id, id);
                -- A reservation is paid at most once and refunded at most once.
                CREATE UNIQUE INDEX wallet_entries_once_per_reservation ON wallet_entries(reservation_id, kind)
                    WHERE reservation_id IS NOT NULL;
                CREATE TABLE queue_entries (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER NOT NULL UNIQUE,
                    joined_at INTEGER NOT NULL,
                    active_until INTEGER -- NULL while waiting
                );
                CREATE INDEX queue_entries_waiting ON queue_entries(seq) WHERE active_until IS NULL;
                CREATE INDEX queue_entries_active ON queue_entries(active_until) WHERE active_until IS NOT NULL;
                CREATE TABLE idempotency_keys (
                    user_id INTEGER NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    result BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (user_id, key)
                ) WITHOUT ROWID;
                CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
                """)
        }
        migrator.registerMigration("v2-admission-rounds") { db in
            try db.execute(sql: """
                -- Each admission round: entries waiting up to through_seq became active until active_until.
                CREATE TABLE queue_admissions (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    through_seq INTEGER NOT NULL,
                    active_until INTEGER NOT NULL,
                    admitted_count INTEGER NOT NULL,
                    admitted_by TEXT NOT NULL,
                    admitted_at INTEGER NOT NULL
                );
                -- One row: which instance admits, until when.
                CREATE TABLE admitter_lease (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    holder TEXT NOT NULL,
                    expires_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v3-remaining-seats-view") { db in
            // Remaining seats per schedule under the name PostgreSQL uses (it keeps them in shards).
            try db.execute(sql: """
                CREATE VIEW schedule_remaining_seats AS SELECT id AS schedule_id, remaining_seats FROM schedules
                """)
        }
        migrator.registerMigration("v4-waiting-room-per-performance") { db in
            // The service-wide queue gives way to a room per performance. Its entries cannot be
            // placed in a room, so they are dropped: the users they belonged to join again.
            try db.execute(sql: """
                DROP TABLE queue_entries;
                DROP TABLE queue_admissions;
                \(WaitingRoomSchema.tables(seqKey: "INTEGER PRIMARY KEY AUTOINCREMENT", serialKey: "INTEGER PRIMARY KEY AUTOINCREMENT"))
                """)
            // Every existing performance gets a room that opens at once, with its own secret seed.
            for (id, createdAt) in try Row.fetchAll(db, sql: "SELECT id, created_at FROM performances").map({ ($0[0] as Int64, $0[1] as Int64) }) {
                let seed = FairDraw.newSeed()
                try db.execute(
                    sql: """
                        INSERT INTO rooms (performance_id, prequeue_opens_at, starts_at, active_per_seat_milli, abandon_after_s, seed, commitment)
                        VALUES (?, ?, ?, 1000, 120, ?, ?)
                        """,
                    arguments: [id, createdAt, createdAt, seed, FairDraw.commitment(of: seed)])
            }
        }
        migrator.registerMigration("v5-draw-places-at-join") { db in
            // An entry takes its place in the draw when it joins (see `FairDraw.place`) and is listed
            // in room_draw_entries at once, so that the draw only has to count the list and publish
            // it. The list is kept in place order (the places of earlier draws are their positions).
            try db.execute(sql: """
                UPDATE queue_entries SET place = (SELECT draw_place(r.seed, queue_entries.entry_id) FROM rooms r
                                                  WHERE r.performance_id = queue_entries.performance_id)
                WHERE performance_id IN (SELECT performance_id FROM rooms WHERE drawn_at IS NULL);
                ALTER TABLE rooms DROP COLUMN draw_through_seq;
                CREATE TABLE room_draw_entries_v5 (
                    performance_id INTEGER NOT NULL,
                    place INTEGER NOT NULL,
                    entry_id TEXT NOT NULL,
                    PRIMARY KEY (performance_id, place, entry_id)
                );
                INSERT INTO room_draw_entries_v5 SELECT performance_id, draw_position, entry_id FROM room_draw_entries;
                INSERT INTO room_draw_entries_v5 SELECT q.performance_id, q.place, q.entry_id FROM queue_entries q
                WHERE q.performance_id IN (SELECT performance_id FROM rooms WHERE drawn_at IS NULL);
                DROP TABLE room_draw_entries;
                ALTER TABLE room_draw_entries_v5 RENAME TO room_draw_entries;
                """)
        }
        return migrator
    }
}
