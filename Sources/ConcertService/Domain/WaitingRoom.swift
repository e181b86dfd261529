import Crypto
import Foundation

/// How one performance's waiting room runs: when it takes joins, when its draw is, and its
/// admission pace. A pace field left nil follows the service's QUEUE_* setting.
public struct RoomSettings: Sendable, Equatable {
    public static let maxAdmitPerTick = 1_000_000
    public static let maxTickMillis = 3_600_000
    public static let maxActiveTTLSeconds = 86_400
    public static let maxActivePerSeatMillis = 1_000_000
    public static let maxAbandonAfterSeconds = 86_400

    public var prequeueOpensAt: Date
    public var startsAt: Date
    public var admitPerTick: Int?
    public var tickMillis: Int?
    public var maxActive: Int?
    public var activeTTLSeconds: Int?
    /// Active users per available seat, in thousandths; 0 turns the cap off. Thousandths keep
    /// the stored value an integer on both databases.
    public var activePerSeatMillis: Int = 1000
    public var abandonAfterSeconds: Int = 120
    public var paused = false

    public init(prequeueOpensAt: Date, startsAt: Date) {
        self.prequeueOpensAt = prequeueOpensAt
        self.startsAt = startsAt
    }

    /// The room's pace, its unset fields taken from the service's.
    public func policy(defaults: AdmissionPolicy) -> AdmissionPolicy {
        AdmissionPolicy(
            tick: tickMillis.map { .milliseconds($0) } ?? defaults.tick,
            admitPerTick: admitPerTick ?? defaults.admitPerTick,
            maxActive: maxActive ?? defaults.maxActive,
            activeDuration: activeTTLSeconds.map { .seconds($0) } ?? defaults.activeDuration)
    }

    /// Throws unless the settings make a room: the draw no earlier than the pre-queue opens,
    /// every number in its range.
    public func validated() throws -> RoomSettings {
        func check(_ value: Int?, _ field: String, _ range: ClosedRange<Int>) throws {
            if let value, !range.contains(value) {
                throw ServiceError(.invalidRoom, "\(field) must be from \(range.lowerBound) to \(range.upperBound).")
            }
        }
        guard prequeueOpensAt <= startsAt else {
            throw ServiceError(.invalidRoom, "prequeue_opens_at must not be after starts_at.")
        }
        try check(admitPerTick, "admit_per_tick", 1...Self.maxAdmitPerTick)
        try check(tickMillis, "tick_ms", 1...Self.maxTickMillis)
        try check(maxActive, "max_active", 0...Self.maxAdmitPerTick)
        try check(activeTTLSeconds, "active_ttl_s", 1...Self.maxActiveTTLSeconds)
        try check(activePerSeatMillis, "active_per_seat", 0...Self.maxActivePerSeatMillis)
        try check(abandonAfterSeconds, "abandon_after_s", 1...Self.maxAbandonAfterSeconds)
        return self
    }
}

/// Where a room's sale stands, as the public room view and every poll say it.
public enum RoomState: String, Sendable, Equatable {
    /// Before the pre-queue opens: joins are refused.
    case scheduled
    /// Joins are taken; nobody has a position until the draw.
    case prequeue
    /// Admitting in order.
    case open
    /// An organiser paused admission; positions hold.
    case paused
    /// No seat is left to sell and no hold may give one back.
    case soldOut = "sold_out"

    /// The state of a room with `settings`, drawn or not, whose schedules have `seats`.
    public init(settings: RoomSettings, drawn: Bool, seats: RoomSeats, at now: Date) {
        if now < settings.prequeueOpensAt {
            self = .scheduled
        } else if !drawn {
            self = .prequeue
        } else if seats.schedules > 0 && seats.remaining == 0 && !seats.holdsPending {
            self = .soldOut
        } else {
            self = settings.paused ? .paused : .open
        }
    }
}

/// The seats behind a room: those of its performance's schedules whose sale has not closed.
public struct RoomSeats: Sendable, Equatable {
    public var remaining: Int
    /// Whether a hold not yet past its deadline may still give seats back.
    public var holdsPending: Bool
    /// How many schedules there are: a room with none has nothing to sell yet, rather than
    /// nothing left.
    public var schedules: Int

    public init(remaining: Int, holdsPending: Bool, schedules: Int = 1) {
        self.remaining = remaining
        self.holdsPending = holdsPending
        self.schedules = schedules
    }

    /// Most active users the room may have at once under `activePerSeatMillis`; nil without a cap.
    public func activeCap(activePerSeatMillis: Int) -> Int? {
        guard activePerSeatMillis > 0 else { return nil }
        return remaining * activePerSeatMillis / 1000
    }
}

/// The draw of a room's pre-queue, which anyone can check. The service commits to a secret
/// seed when the room is created by publishing its SHA-256; at the sale's start it orders the
/// pre-queue entries by SHA-256 of `seed:entry_id` and publishes the seed, so that a fan can
/// recompute both the commitment and the order. Entry ids are random, so nobody can choose a
/// good one, and the seed is secret until the entries are fixed, so nobody could aim for it.
public enum FairDraw {
    /// 64 lowercase hex characters.
    public static func newSeed() -> String { randomHex(bytes: 32) }

    /// 32 lowercase hex characters, random and unrelated to the user.
    public static func newEntryID() -> String { randomHex(bytes: 16) }

    /// The lowercase hex SHA-256 of the seed's ASCII characters: `printf '%s' SEED | sha256sum`.
    public static func commitment(of seed: String) -> String {
        hex(SHA256.hash(data: Data(seed.utf8)))
    }

    /// What an entry is ordered by: the SHA-256 of `seed:entry_id`. Comparing digests byte by byte
    /// orders them as their lowercase hex does.
    public static func key(seed: String, entryID: String) -> [UInt8] {
        Array(SHA256.hash(data: Data("\(seed):\(entryID)".utf8)))
    }

    /// An entry's place in its room's line while the room awaits its draw, fixed at the join so
    /// that the draw itself only has to publish the order: the key's first 62 bits, shifted below
    /// zero so that every place is ahead of the joins after the draw (placed by their seq).
    /// Places order as the keys do; two entries of a room share one only if their keys share 62
    /// bits (about n² / 2⁶³ for n entries), and then the line orders them by seq.
    public static func place(seed: String, entryID: String) -> Int64 {
        let prefix = key(seed: seed, entryID: entryID).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int64(prefix >> 2) - (1 << 62)
    }

    /// The entries in draw order.
    public static func order(_ entryIDs: [String], seed: String) -> [String] {
        entryIDs.map { (key: key(seed: seed, entryID: $0), id: $0) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            .map(\.id)
    }

    public static func isEntryID(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    private static func randomHex(bytes: Int) -> String {
        hex(SymmetricKey(size: SymmetricKeySize(bitCount: bytes * 8)).withUnsafeBytes { Array($0) })
    }
}
