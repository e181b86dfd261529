import Foundation

/// Where each live queue entry stands, kept in memory so that polling the queue (the most
/// frequent request of all) touches no database. The database stays the source of truth:
/// every instance rebuilds its board from it at start and follows it once per tick (joins on
/// any instance, admission watermarks), and applies its own joins and holds at once.
///
/// Events may arrive out of order (a join is applied after the admission round that already
/// admitted it), so each one is applied so that order does not matter.
public struct QueueBoard: Sendable {
    public enum Status: Sendable, Equatable {
        case waiting(position: Int)
        case active(until: Date)
        /// The entry ended, and why.
        case gone(EndReason)
    }

    /// Why a queue entry ended: what a client is told when it polls the entry's token.
    public enum EndReason: String, Sendable, Equatable {
        /// Its active window ran out (or the board never heard of it).
        case expired
        /// A hold spent it.
        case used
        /// The user joined again, with a new entry.
        case replaced
    }

    private struct ActiveEntry: Sendable {
        var user: Int64
        var until: Date
    }

    private var line = WaitingLine()
    /// Each user's one live entry.
    private var seqByUser: [Int64: Int64] = [:]
    /// The admitted entries, by seq.
    private var active: [Int64: ActiveEntry] = [:]
    /// Why recent entries ended, so that their tokens' answers can say so.
    private var endings = RecentEndings()
    /// Every entry the database held up to this seq has been applied. A genuine token with a
    /// later seq is a join (on another instance) this board has not heard of yet.
    public private(set) var heardThrough: Int64 = 0

    public init() {}

    public var waitingCount: Int { line.count }
    public var activeCount: Int { active.count }
    /// When each active entry's window ends.
    public var activeDeadlines: [Date] { active.values.map(\.until) }

    /// A user joined with `seq`; any older entry of theirs is gone.
    public mutating func joined(user: Int64, seq: Int64) {
        guard adopt(user: user, seq: seq) else { return }
        if active[seq] == nil { line.insert(seq, user: user) }
    }

    /// The entry `seq` was admitted until `until`.
    public mutating func admitted(user: Int64, seq: Int64, until: Date) {
        guard adopt(user: user, seq: seq) else { return }
        line.remove(seq)
        active[seq] = ActiveEntry(user: user, until: until)
    }

    /// An admission round: every entry still waiting up to `seq` is active until `until`.
    public mutating func admitted(through seq: Int64, until: Date) {
        for entry in line.removeFirst(through: seq) {
            active[entry.seq] = ActiveEntry(user: entry.user, until: until)
        }
    }

    /// The database has shown every entry up to `seq`.
    public mutating func heard(through seq: Int64) {
        heardThrough = max(heardThrough, seq)
    }

    /// The entry `seq` ended: spent on a hold (`used`) or timed out (`expired`).
    public mutating func ended(user: Int64, seq: Int64, because reason: EndReason) {
        line.remove(seq)
        active[seq] = nil
        if seqByUser[user] == seq { seqByUser[user] = nil }
        endings.record(seq, reason)
    }

    /// Forgets admitted entries whose time ran out, so the board does not grow without end.
    public mutating func removeTimedOut(at now: Date) {
        for (seq, entry) in active.filter({ $0.value.until <= now }) {
            ended(user: entry.user, seq: seq, because: .expired)
        }
    }

    public func status(user: Int64, seq: Int64, at now: Date) -> Status {
        guard let current = seqByUser[user], current >= seq else {
            return seq > heardThrough ? .waiting(position: line.count + 1) : .gone(endings.reason(of: seq) ?? .expired)
        }
        guard current == seq else { return .gone(endings.reason(of: seq) ?? .replaced) }
        if let entry = active[seq] {
            return entry.until > now ? .active(until: entry.until) : .gone(.expired)
        }
        guard let position = line.position(of: seq) else { return .gone(endings.reason(of: seq) ?? .expired) }
        return .waiting(position: position)
    }

    /// Makes `seq` the user's entry unless they already have a newer one; drops the older one.
    private mutating func adopt(user: Int64, seq: Int64) -> Bool {
        if let current = seqByUser[user] {
            if current > seq { return false }
            if current < seq {
                line.remove(current)
                active[current] = nil
                endings.record(current, .replaced)
            }
        }
        seqByUser[user] = seq
        return true
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
