import Foundation

/// Where each live queue entry stands, room by room, kept in memory so that polling the queue
/// (the most frequent request of all) touches no database. The database stays the source of
/// truth: every instance rebuilds its board from it at start and follows it once per tick
/// (joins on any instance, draws, admission watermarks, entries passed over), and applies its
/// own joins and holds at once.
///
/// Events may arrive out of order (a join is applied after the admission round that already
/// admitted it), so each one is applied so that order does not matter. An entry costs the same
/// memory however many rooms there are: a room is its line and two maps.
public struct QueueBoard: Sendable {
    public enum Status: Sendable, Equatable {
        /// In a room whose draw has not run: no position yet.
        case prequeue
        case waiting(position: Int)
        case active(until: Date)
        /// The entry ended, and why.
        case gone(EndReason)

        /// In the pre-queue or the line.
        public var isWaiting: Bool {
            switch self {
            case .prequeue, .waiting: true
            case .active, .gone: false
            }
        }
    }

    /// Why a queue entry ended: what a client is told when it polls the entry's token.
    public enum EndReason: String, Sendable, Equatable {
        /// Its active window ran out (or the board never heard of it).
        case expired
        /// A hold spent it.
        case used
        /// The user joined the room again, with a new entry.
        case replaced
        /// It was not seen for too long when its turn came, and was passed over.
        case abandoned
    }

    fileprivate struct ActiveEntry: Sendable {
        var user: Int64
        var until: Date
    }

    fileprivate struct Room: Sendable {
        var drawn = false
        var line = WaitingLine()
        /// Each user's one live entry in the room (waiting or admitted): its seq, and its place
        /// if it waits.
        var entryByUser: [Int64: WaitingLine.Spot] = [:]
        /// The admitted entries, by seq.
        var active: [Int64: ActiveEntry] = [:]

        /// The user's live entry, if it is `seq`.
        func spot(user: Int64, seq: Int64) -> WaitingLine.Spot? {
            entryByUser[user].flatMap { $0.seq == seq ? $0 : nil }
        }
    }

    private var rooms: [Int64: Room] = [:]
    /// Why recent entries ended, so that their tokens' answers can say so.
    private var endings = RecentEndings()
    /// Every entry the database held up to this seq has been applied. A genuine token with a
    /// later seq is a join (on another instance) this board has not heard of yet.
    public private(set) var heardThrough: Int64 = 0

    public init() {}

    public func waitingCount(in room: Int64) -> Int { rooms[room]?.line.count ?? 0 }
    public func activeCount(in room: Int64) -> Int { rooms[room]?.active.count ?? 0 }
    /// When each active entry of the room ends.
    public func activeDeadlines(in room: Int64) -> [Date] { rooms[room]?.active.values.map(\.until) ?? [] }
    public var waitingCount: Int { rooms.values.reduce(0) { $0 + $1.line.count } }
    public var activeCount: Int { rooms.values.reduce(0) { $0 + $1.active.count } }
    public func isDrawn(_ room: Int64) -> Bool { rooms[room]?.drawn ?? false }

    /// An entry as the database holds it.
    public mutating func apply(_ entry: QueueEntry) {
        if entry.abandoned {
            guard adopt(entry) else { return }
            ended(room: entry.performanceID, user: entry.userID, seq: entry.seq, because: .abandoned)
        } else if let until = entry.activeUntil {
            admitted(entry, until: until)
        } else {
            joined(entry)
        }
    }

    /// A user joined; any older entry of theirs in the room is gone.
    public mutating func joined(_ entry: QueueEntry) {
        guard adopt(entry) else { return }
        rooms[entry.performanceID]?.insertWaiting(
            WaitingLine.Entry(place: entry.place, seq: entry.seq, user: entry.userID, reportedSeen: SeenClock.seconds(entry.seenAt)))
    }

    /// The entry was admitted until `until`.
    public mutating func admitted(_ entry: QueueEntry, until: Date) {
        guard adopt(entry) else { return }
        rooms[entry.performanceID]?.line.remove(WaitingLine.Spot(place: entry.place, seq: entry.seq))
        rooms[entry.performanceID]?.active[entry.seq] = ActiveEntry(user: entry.userID, until: until)
    }

    /// An admission round of `room`: every entry still waiting up to `place` is active until `until`.
    public mutating func admitted(in room: Int64, through place: Int64, until: Date) {
        rooms[room]?.admit(through: place, until: until)
    }

    /// The room's draw ran: its entries, which have waited in draw order since they joined, now
    /// have positions.
    public mutating func markDrawn(_ room: Int64) {
        rooms[room, default: Room()].drawn = true
    }

    /// The database has shown every entry up to `seq`.
    public mutating func heard(through seq: Int64) {
        heardThrough = max(heardThrough, seq)
    }

    /// The entry `seq` ended: spent on a hold, timed out or passed over.
    public mutating func ended(room: Int64, user: Int64, seq: Int64, because reason: EndReason) {
        rooms[room]?.end(seq, user: user)
        endings.record(seq, reason)
    }

    /// Forgets admitted entries whose time ran out, so the board does not grow without end.
    public mutating func removeTimedOut(at now: Date) {
        // Collected first: ending them while iterating `rooms` would copy every room.
        let timedOut = rooms.flatMap { id, room in
            room.active.filter { $0.value.until <= now }.map { (room: id, seq: $0.key, user: $0.value.user) }
        }
        for entry in timedOut { ended(room: entry.room, user: entry.user, seq: entry.seq, because: .expired) }
    }

    public func status(room id: Int64, user: Int64, seq: Int64, at now: Date) -> Status {
        let room = rooms[id]
        guard let current = room?.entryByUser[user], current.seq >= seq, let room else {
            if let reason = endings.reason(of: seq) { return .gone(reason) }
            guard seq > heardThrough else { return .gone(.expired) }
            // A join on another instance, not heard of yet: behind everyone known.
            return room?.drawn == true ? .waiting(position: room!.line.count + 1) : .prequeue
        }
        guard current.seq == seq else { return .gone(endings.reason(of: seq) ?? .replaced) }
        if let entry = room.active[seq] {
            return entry.until > now ? .active(until: entry.until) : .gone(.expired)
        }
        guard let position = room.line.position(of: current) else { return .gone(endings.reason(of: seq) ?? .expired) }
        return room.drawn ? .waiting(position: position) : .prequeue
    }

    /// Notes that a waiting entry was seen now; true if the database should hear of it, which
    /// is at most once per `every` seconds per entry and instance.
    public mutating func seen(room: Int64, user: Int64, seq: Int64, at now: Date, every seconds: Int) -> Bool {
        let nowSeconds = SeenClock.seconds(now)
        return rooms[room]?.seen(user: user, seq: seq, at: nowSeconds, every: Int32(clamping: seconds)) ?? false
    }

    /// Makes `entry` its user's entry in its room unless they already have a newer one; drops
    /// the older one.
    private mutating func adopt(_ entry: QueueEntry) -> Bool {
        guard let replaced = rooms[entry.performanceID, default: Room()].adopt(entry) else { return false }
        if let replaced { endings.record(replaced, .replaced) }
        return true
    }
}

// Every change goes through the room in place (`rooms[id]?.change()`): a copy of a room would
// copy its whole line.
extension QueueBoard.Room {
    fileprivate mutating func insertWaiting(_ entry: WaitingLine.Entry) {
        guard active[entry.seq] == nil else { return }
        line.insert(entry)
    }

    fileprivate mutating func admit(through place: Int64, until: Date) {
        for entry in line.removeFirst(through: place) {
            active[entry.seq] = QueueBoard.ActiveEntry(user: entry.user, until: until)
        }
    }

    fileprivate mutating func end(_ seq: Int64, user: Int64) {
        if let spot = spot(user: user, seq: seq) {
            line.remove(spot)
            entryByUser[user] = nil
        }
        active[seq] = nil
    }

    fileprivate mutating func seen(user: Int64, seq: Int64, at now: Int32, every seconds: Int32) -> Bool {
        guard let spot = spot(user: user, seq: seq) else { return false }
        return line.update(spot) { entry -> Bool in
            guard now - entry.reportedSeen >= seconds else { return false }
            entry.reportedSeen = now
            return true
        } ?? false
    }

    /// Makes `entry` the user's entry unless they have a newer one (then nil); answers the seq
    /// of the older entry it replaces, if any.
    fileprivate mutating func adopt(_ entry: QueueEntry) -> Int64?? {
        var replaced: Int64?
        if let current = entryByUser[entry.userID] {
            if current.seq > entry.seq { return nil }
            if current.seq < entry.seq {
                line.remove(current)
                active[current.seq] = nil
                replaced = current.seq
            }
        }
        entryByUser[entry.userID] = WaitingLine.Spot(place: entry.place, seq: entry.seq)
        return .some(replaced)
    }
}

/// Seen times in whole seconds, small enough to keep one per waiting entry.
enum SeenClock {
    static func seconds(_ date: Date) -> Int32 {
        Int32(clamping: Int64(date.timeIntervalSince1970) - 1_700_000_000)
    }
}

/// The admission pace and what follows from it.
public struct AdmissionPolicy: Sendable, Equatable {
    public var tick: Duration
    public var admitPerTick: Int
    /// Most active entries at once; 0 means no limit.
    public var maxActive: Int
    public var activeDuration: Duration

    public init(tick: Duration, admitPerTick: Int, maxActive: Int, activeDuration: Duration) {
        self.tick = tick
        self.admitPerTick = admitPerTick
        self.maxActive = maxActive
        self.activeDuration = activeDuration
    }

    /// How many waiting entries one tick may admit while `active` entries are live.
    public func admissions(whileActive active: Int) -> Int {
        guard maxActive > 0 else { return admitPerTick }
        return max(0, min(admitPerTick, maxActive - active))
    }

    /// Seconds until the entry at `position` is admitted at full pace (no cap on active users).
    public func estimatedWaitSeconds(position: Int) -> Int {
        let ticks = (position + admitPerTick - 1) / admitPerTick
        return Int((Double(ticks) * tick.seconds).rounded(.up))
    }

    /// The active slots under a cap, as the times each one is next free: a free slot now, an
    /// occupied one when its user's window ends. Empty without a cap. Worked out once per tick,
    /// since every poll of a waiting entry reads it.
    public func slots(activeUntil deadlines: [Date], now: Date) -> [Date] {
        guard maxActive > 0 else { return [] }
        let free = Array(repeating: now, count: max(0, maxActive - deadlines.count))
        // With more active entries than the cap (it was lowered), the earliest endings only
        // bring the count back under it.
        return Array((free + deadlines.sorted()).suffix(maxActive))
    }

    /// Seconds until the entry at `position` is admitted. Under a cap, the entries ahead take
    /// the slots in turn as they free up, each assumed to keep its slot for its whole window
    /// (a hold or a timeout may free it sooner), so the estimate errs on the long side.
    public func estimatedWaitSeconds(position: Int, slots: [Date], now: Date) -> Int {
        let atPace = estimatedWaitSeconds(position: position)
        guard !slots.isEmpty, position > 0 else { return atPace }
        let turn = position - 1
        let cycles = Double(turn / slots.count)
        let admittedAt = max(slots[turn % slots.count], now).addingTimeInterval(cycles * activeDuration.seconds)
        return max(atPace, Int(admittedAt.timeIntervalSince(now).rounded(.up)))
    }
}

/// Why recently ended queue entries ended, bounded in two generations: when the current one is
/// full it becomes the previous one and the oldest are forgotten (their tokens then answer
/// `expired`, which is true of any entry that old).
struct RecentEndings: Sendable {
    static let capacity = 100_000
    private var current: [Int64: QueueBoard.EndReason] = [:]
    private var previous: [Int64: QueueBoard.EndReason] = [:]

    mutating func record(_ seq: Int64, _ reason: QueueBoard.EndReason) {
        if current.count >= Self.capacity {
            previous = current
            current = [:]
        }
        current[seq] = reason
    }

    func reason(of seq: Int64) -> QueueBoard.EndReason? {
        current[seq] ?? previous[seq]
    }
}
