/// The waiting rooms' tables, one text for both databases but for how each makes its keys.
enum WaitingRoomSchema {
    /// `seqKey`: the column type of queue seqs, which never repeat; `serialKey`: an id the database numbers.
    static func tables(seqKey: String, serialKey: String) -> String {
        """
        -- A performance's waiting room: its settings (a NULL pace follows the service's QUEUE_*
        -- settings), its secret seed and published commitment, and its draw once it ran.
        CREATE TABLE rooms (
            performance_id BIGINT PRIMARY KEY REFERENCES performances(id),
            prequeue_opens_at BIGINT NOT NULL,
            starts_at BIGINT NOT NULL,
            admit_per_tick BIGINT,
            tick_ms BIGINT,
            max_active BIGINT,
            active_ttl_s BIGINT,
            active_per_seat_milli BIGINT NOT NULL,
            abandon_after_s BIGINT NOT NULL,
            paused BIGINT NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
            seed TEXT NOT NULL,
            commitment TEXT NOT NULL,
            drawn_at BIGINT,
            drawn_by TEXT,
            -- Draws in the order they ran, so that every instance can tell which ones it has not seen.
            draw_no BIGINT UNIQUE,
            -- The draw took the room's entries up to this seq: later ones queue behind it.
            draw_through_seq BIGINT,
            draw_entries BIGINT,
            next_admission_at BIGINT NOT NULL DEFAULT 0,
            admitted_total BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX rooms_awaiting_draw ON rooms(starts_at) WHERE drawn_at IS NULL;
        -- The published draw: entry ids in draw order, kept after the entries themselves end.
        CREATE TABLE room_draw_entries (
            performance_id BIGINT NOT NULL REFERENCES rooms(performance_id),
            draw_position BIGINT NOT NULL,
            entry_id TEXT NOT NULL,
            PRIMARY KEY (performance_id, draw_position)
        );
        -- A user's one live entry per room. It waits in `place` order: the draw's place (negative,
        -- ahead of everyone) or, for a join after the draw, its seq.
        CREATE TABLE queue_entries (
            seq \(seqKey),
            performance_id BIGINT NOT NULL REFERENCES rooms(performance_id),
            user_id BIGINT NOT NULL,
            entry_id TEXT NOT NULL UNIQUE,
            joined_at BIGINT NOT NULL,
            seen_at BIGINT NOT NULL,
            place BIGINT NOT NULL,
            active_until BIGINT, -- NULL while waiting
            abandoned_in BIGINT, -- the admission round that passed it over
            UNIQUE (performance_id, user_id)
        );
        CREATE INDEX queue_entries_waiting ON queue_entries(performance_id, place) WHERE active_until IS NULL AND abandoned_in IS NULL;
        CREATE INDEX queue_entries_active ON queue_entries(performance_id, active_until) WHERE active_until IS NOT NULL;
        CREATE INDEX queue_entries_abandoned ON queue_entries(abandoned_in) WHERE abandoned_in IS NOT NULL;
        -- Each admission round of a room: its entries waiting up to through_place became active
        -- until active_until, but for those it passed over (abandoned_in = id).
        CREATE TABLE queue_admissions (
            id \(serialKey),
            performance_id BIGINT NOT NULL REFERENCES rooms(performance_id),
            through_place BIGINT NOT NULL,
            active_until BIGINT NOT NULL,
            admitted_count BIGINT NOT NULL,
            abandoned_count BIGINT NOT NULL,
            admitted_by TEXT NOT NULL,
            admitted_at BIGINT NOT NULL
        )
        """
    }
}
