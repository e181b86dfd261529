import Foundation
import Metrics
import Synchronization

/// A user's view of their entry in a room.
public struct QueuePass: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable {
        case prequeue, waiting, active
        case soldOut = "sold_out"
    }

    public var token: String
    public var ticket: QueueTicket
    public var status: Status
    /// Nil before the draw; 0 when active.
    public var position: Int?
    public var waitingTotal: Int
    /// Nil before the draw and when sold out.
    public var estimatedWaitSeconds: Int?
    public var activeUntil: Date?
    public var drawAt: Date
}

/// A room as the public sees it, and its settings for its organisers.
public struct RoomView: Sendable, Equatable {
    public var performanceID: Int64
    public var state: RoomState
    public var settings: RoomSettings
    /// The pace the room runs at, its unset settings filled in from the service's.
    public var policy: AdmissionPolicy
    public var commitment: String
    public var draw: DrawSummary?
    public var waitingTotal: Int
    public var activeTotal: Int
    public var admittedTotal: Int
    public var admissionPerMinute: Int
    public var remainingSeats: Int
}

/// The published draw of a room.
public struct DrawResult: Sendable, Equatable {
    public var commitment: String
    public var summary: DrawSummary
    public var entryIDs: [String]
}

/// The waiting rooms, one per performance: joins go to the database, polls are answered from
/// the in-memory board. Every tick, the instance holding the admitter lease draws the rooms
/// whose sale starts and moves users to active, and every instance reads what changed in the
/// database into its board and tells the database which entries it saw polling.
public final class QueueService: Sendable {
    /// Most seen entries one statement reports.
    static let seenBatch = 10_000

    private let store: any QueueStore
    /// The same database for the ticks' work, which may read a whole room at once (a draw, a
    /// restart), so it waits longer than a request would.
    private let background: any QueueStore
    private let codec: QueueTokenCodec
    /// Every poll and hold sends its token; its signature is checked once.
    private let verifiedTokens = RecentlyVerified<QueueTicket>(capacity: 20_000)
    /// The service's pace, for rooms that set none of their own.
    public let policy: AdmissionPolicy
    private let limits: RateLimits
    private let lease: AdmitterLease
    private let board = Mutex(QueueBoard())
    /// Fired after every tick, whether or not it could read the database: the queue's event
    /// streams look again then.
    public let ticked = TickSignal()
    /// Each room as last read from the database, with what follows from it for polls.
    private let rooms = Mutex<[Int64: RoomInfo]>([:])
    /// How far the board has read the database; nil until `restore`.
    private let cursor = Mutex<QueueCursor?>(nil)
    /// When the board last read the database.
    private let followedAt = Mutex<Date>(.distantPast)
    /// Waiting entries polled on this instance that the database is to hear of at the next tick.
    private let seen = Mutex<[Int64]>([])
    /// How long the board may go without reading the database before its "waiting" answers
    /// to the gate are no longer trusted (the user may have been admitted meanwhile).
    private let staleAfter: TimeInterval
    private let waitingGauge = Gauge(label: "concert_queue_waiting")
    private let activeGauge = Gauge(label: "concert_queue_active")
    private let admittedCounter = Counter(label: "concert_queue_admitted_total")

    /// A room as the board's last read left it.
    private struct RoomInfo: Sendable {
        var record: RoomRecord
        var policy: AdmissionPolicy
        var pace = AdmissionPace()
        /// The active slots under a cap, worked out once per tick (see `AdmissionPolicy.slots`).
        var slots: [Date] = []

        func state(at now: Date) -> RoomState {
            RoomState(settings: record.settings, drawn: record.draw != nil, seats: record.seats, at: now)
        }

        /// How often one instance reports a polling entry seen: often enough that an entry that
        /// keeps polling is never taken for abandoned.
        var seenEvery: Int { max(1, record.settings.abandonAfterSeconds / 4) }
    }

    /// `instanceID` names this instance in the admitter lease.
    public init(
        store: any QueueStore, background: (any QueueStore)? = nil, codec: QueueTokenCodec, policy: AdmissionPolicy, instanceID: String,
        limits: RateLimits = RateLimits(.off)
    ) {
        self.store = store
        self.background = background ?? store
        self.codec = codec
        self.policy = policy
        self.limits = limits
        // Renewed every tick; another instance takes over after three missed ticks (and at
        // least a second, so a busy but live admitter keeps it).
        lease = AdmitterLease(holder: instanceID, duration: max(policy.tick * 3, .seconds(1)))
        staleAfter = max(policy.tick * 3, .seconds(2)).seconds
    }

    /// Rebuilds the board from the database (at start: the database is the source of truth).
    public func restore(now: Date) async throws {
        board.withLock { $0 = QueueBoard() }
        cursor.withLock { $0 = nil }
        try await follow(now: now)
    }

    /// Reads the rooms, joins, draws and admissions since the last call into the board (every
    /// instance, every tick).
    public func follow(now: Date) async throws {
        let last = cursor.withLock { $0 }
        let changes = try await background.queueChanges(after: last, now: now)
        board.withLock { board in
            for room in changes.rooms where room.draw != nil { board.markDrawn(room.performanceID) }
            for entry in changes.entries { board.apply(entry) }
            for entry in changes.abandoned { board.apply(entry) }
            for admission in changes.admissions {
                board.admitted(in: admission.performanceID, through: admission.throughPlace, until: admission.activeUntil)
            }
            board.heard(through: changes.cursor.seq)
            board.removeTimedOut(at: now)
        }
        cursor.withLock { $0 = changes.cursor }
        learn(changes.rooms, now: now)
        followedAt.withLock { $0 = now }
        let (waiting, active) = board.withLock { ($0.waitingCount, $0.activeCount) }
        waitingGauge.record(waiting)
        activeGauge.record(active)
    }

    /// Joins a room: a new entry at the back (or in the draw, before it); the user's earlier
    /// token for the room stops working.
    public func join(userID: Int64, performanceID: Int64, now: Date) async throws -> QueuePass {
        try limits.checkWrite(userID: userID, at: now)
        let room = try await info(of: performanceID, now: now)
        switch room.state(at: now) {
        case .scheduled:
            throw ServiceError(
                .roomNotOpen,
                "The waiting room of performance \(performanceID) opens at \(room.record.settings.prequeueOpensAt.formatted(.iso8601)).")
        case .soldOut:
            throw ServiceError(.soldOut, "Performance \(performanceID) is sold out.")
        case .prequeue, .open, .paused:
            break
        }
        let join = QueueJoin(performanceID: performanceID, userID: userID, entryID: FairDraw.newEntryID(), joinedAt: now)
        let written = try await store.joinQueue(join)
        board.withLock { $0.joined(join.entry(written)) }
        let ticket = QueueTicket(userID: userID, performanceID: performanceID, seq: written.seq, entryID: written.entryID)
        return try pass(for: ticket, token: codec.encode(ticket), now: now, joining: true)
    }

    /// Where a token stands, for its event stream: as a poll, but without the polls' rate limit
    /// (a stream asks once per tick, whatever its client does).
    public func watch(token: String?, now: Date) throws -> QueuePass {
        let ticket = try ticket(from: token, now: now)
        return try pass(for: ticket, token: token ?? "", now: now, seen: true)
    }

    /// Where a token stands. Verifies the signature and reads memory only.
    public func poll(token: String?, now: Date) throws -> QueuePass {
        let ticket = try ticket(from: token, now: now)
        try limits.checkPoll(seq: ticket.seq, at: now)
        // The client's own token is already genuine: echo it rather than signing it again.
        return try pass(for: ticket, token: token ?? "", now: now, seen: true)
    }

    /// The caller's own, genuine queue token, without checking whether it is active.
    public func ownTicket(token: String?, userID: Int64, now: Date) throws -> QueueTicket {
        let ticket = try ticket(from: token, now: now)
        guard ticket.userID == userID else {
            throw ServiceError(.queueTokenNotYours, "This queue token belongs to another user.")
        }
        return ticket
    }

    /// Throws unless `ticket` belongs to the room of `performanceID`.
    public static func checkRoom(of ticket: QueueTicket, is performanceID: Int64) throws {
        guard ticket.performanceID == performanceID else {
            throw ServiceError(
                .queueTokenWrongPerformance,
                "This queue token is for the waiting room of performance \(ticket.performanceID), not of performance \(performanceID).")
        }
    }

    /// Why `ticket` may not act now, or nil if it is active in its room.
    public func refusal(for ticket: QueueTicket, now: Date) -> ServiceError? {
        let status = status(of: ticket, now: now)
        if status.isWaiting, isStale(at: now) {
            // The admissions of the last ticks are unknown here: the user may well be active.
            return ServiceError(.serviceUnavailable, "The queue cannot be read from the database right now; retry shortly.")
        }
        switch status {
        case .active: return nil
        case .waiting(let position):
            return ServiceError(.queueTokenWaiting, "You are number \(position) in the queue; wait until you are admitted.", position: position)
        case .prequeue:
            return ServiceError(.queueTokenWaiting, "The draw for places in the queue has not run yet; wait until you are admitted.")
        case .gone(let reason):
            return Self.ended(reason)
        }
    }

    /// Whether the board has gone too long without reading the database (it is unreachable).
    public func isStale(at now: Date) -> Bool {
        now.timeIntervalSince(followedAt.withLock { $0 }) > staleAfter
    }

    /// A hold used the entry: it ends here as it did in the database.
    public func spent(_ ticket: QueueTicket) {
        board.withLock { $0.ended(room: ticket.performanceID, user: ticket.userID, seq: ticket.seq, because: .used) }
    }

    /// One tick: report the entries seen here; if this instance is the admitter, draw, time out
    /// and admit; then learn what changed, whoever admitted.
    public func tick(now: Date) async throws {
        defer { ticked.fire() }
        let seqs = seen.withLock { seen in
            defer { seen = [] }
            return seen
        }
        for start in stride(from: 0, to: seqs.count, by: Self.seenBatch) {
            try await background.recordSeen(Array(seqs[start..<min(start + Self.seenBatch, seqs.count)]), at: now)
        }
        if case .admitted(let count, _) = try await background.admit(now: now, defaults: policy, lease: lease), count > 0 {
            admittedCounter.increment(by: count)
        }
        try await follow(now: now)
    }

    /// The room of a performance as the public sees it.
    public func room(_ performanceID: Int64, now: Date) async throws -> RoomView {
        let room = try await info(of: performanceID, now: now)
        let (waiting, active) = board.withLock { ($0.waitingCount(in: performanceID), $0.activeCount(in: performanceID)) }
        let record = room.record
        return RoomView(
            performanceID: performanceID, state: room.state(at: now), settings: record.settings, policy: room.policy,
            commitment: record.commitment, draw: record.draw, waitingTotal: waiting, activeTotal: active,
            admittedTotal: record.admittedTotal, admissionPerMinute: room.pace.perMinute, remainingSeats: record.seats.remaining)
    }

    /// The room's published draw; `DRAW_PENDING` before it.
    public func draw(_ performanceID: Int64, now: Date) async throws -> DrawResult {
        var room = try await info(of: performanceID, now: now)
        let pending = ServiceError(
            .drawPending, "The draw of performance \(performanceID) runs at \(room.record.settings.startsAt.formatted(.iso8601)).")
        guard let entryIDs = try await store.drawnEntries(performanceID: performanceID) else { throw pending }
        // Drawn since this instance's last tick: read the room again for its seed.
        if room.record.draw == nil { room = try await info(of: performanceID, now: now, refresh: true) }
        guard let summary = room.record.draw else { throw pending }
        return DrawResult(commitment: room.record.commitment, summary: summary, entryIDs: entryIDs)
    }

    /// Changes a room's pace or pauses it; every instance follows at its next tick.
    public func updateRoom(_ performanceID: Int64, _ change: (inout RoomSettings) throws -> Void, now: Date) async throws -> RoomView {
        var settings = try await info(of: performanceID, now: now, refresh: true).record.settings
        try change(&settings)
        guard try await store.updateRoom(performanceID: performanceID, settings: try settings.validated()) else {
            throw ServiceError.performanceNotFound(performanceID)
        }
        _ = try await info(of: performanceID, now: now, refresh: true)
        return try await room(performanceID, now: now)
    }

    /// The answer to a token whose entry ended, naming why (`reason`), so a client can tell
    /// the user what happened.
    static func ended(_ reason: QueueBoard.EndReason) -> ServiceError {
        let message = switch reason {
        case .expired: "This queue token's active window has ended; join the queue again."
        case .used: "This queue token was used for a hold; join the queue again to hold more seats."
        case .replaced: "You joined this waiting room again, so this older queue token no longer counts; use the new one."
        case .abandoned: "This queue entry was passed over: it was not seen for too long when its turn came. Join again."
        }
        return ServiceError(.queueTokenExpired, message, reason: reason.rawValue)
    }

    /// The genuine, unexpired ticket a queue token carries, whoever sends it.
    func ticket(from token: String?, now: Date) throws -> QueueTicket {
        guard let token, !token.isEmpty else {
            throw ServiceError(.queueTokenMissing, "Send your queue token in the Queue-Token header.")
        }
        let key = TokenKey(token)
        if let ticket = verifiedTokens.value(of: key, at: now) { return ticket }
        guard let ticket = codec.decode(token) else {
            throw ServiceError(.queueTokenInvalid, "The queue token is not valid.")
        }
        verifiedTokens.remember(key, as: ticket)
        return ticket
    }

    private func status(of ticket: QueueTicket, now: Date) -> QueueBoard.Status {
        board.withLock { $0.status(room: ticket.performanceID, user: ticket.userID, seq: ticket.seq, at: now) }
    }

    /// The pass of a live entry; an ended one throws why. With `seen`, a waiting entry's poll is
    /// noted for the database (abandonment). A join is answered even if the same user's
    /// simultaneous join has already replaced it: as the new entry it was, at the back.
    private func pass(for ticket: QueueTicket, token: String, now: Date, seen isSeen: Bool = false, joining: Bool = false) throws
        -> QueuePass
    {
        guard let room = rooms.withLock({ $0[ticket.performanceID] }) else {
            // A room this instance has not read yet: the token is genuine, so the room exists.
            return QueuePass(
                token: token, ticket: ticket, status: .prequeue, position: nil, waitingTotal: 0, estimatedWaitSeconds: nil,
                activeUntil: nil, drawAt: .distantFuture)
        }
        let (status, waitingTotal, report) = board.withLock { board in
            var status = board.status(room: ticket.performanceID, user: ticket.userID, seq: ticket.seq, at: now)
            if joining, case .gone = status {
                status = board.isDrawn(ticket.performanceID) ? .waiting(position: board.waitingCount(in: ticket.performanceID) + 1) : .prequeue
            }
            let report = isSeen && status.isWaiting && board.seen(room: ticket.performanceID, user: ticket.userID, seq: ticket.seq, at: now, every: room.seenEvery)
            return (status, board.waitingCount(in: ticket.performanceID), report)
        }
        if report { seen.withLock { $0.append(ticket.seq) } }
        var pass = QueuePass(
            token: token, ticket: ticket, status: .waiting, position: nil, waitingTotal: waitingTotal, estimatedWaitSeconds: nil,
            activeUntil: nil, drawAt: room.record.settings.startsAt)
        switch status {
        case .gone(let reason):
            throw Self.ended(reason)
        case .prequeue:
            pass.status = .prequeue
        case .active(let until):
            (pass.status, pass.position, pass.activeUntil) = (.active, 0, until)
        case .waiting(let position) where room.state(at: now) == .soldOut:
            (pass.status, pass.position) = (.soldOut, position)
        case .waiting(let position):
            pass.position = position
            pass.estimatedWaitSeconds = estimatedWait(position: position, in: room, now: now)
        }
        return pass
    }

    /// At the pace measured over the last minute once the room has admitted anyone in it, else at
    /// its set pace; under a cap on active users, never sooner than the slots free up.
    private func estimatedWait(position: Int, in room: RoomInfo, now: Date) -> Int {
        let perMinute = room.pace.perMinute
        let atPace = perMinute > 0
            ? Int((Double(position) * 60 / Double(perMinute)).rounded(.up)) : room.policy.estimatedWaitSeconds(position: position)
        guard room.policy.maxActive > 0 else { return atPace }
        return max(atPace, room.policy.estimatedWaitSeconds(position: position, slots: room.slots, now: now))
    }

    /// The room of `performanceID`, read from the database if this instance has not seen it
    /// yet (it was created on another instance since the last tick) or `refresh` asks.
    private func info(of performanceID: Int64, now: Date, refresh: Bool = false) async throws -> RoomInfo {
        if !refresh, let room = rooms.withLock({ $0[performanceID] }) { return room }
        let records = try await store.rooms(now: now)
        learn(records, now: now, replacing: false)
        board.withLock { board in
            for record in records where record.performanceID == performanceID && record.draw != nil { board.markDrawn(performanceID) }
        }
        guard let room = rooms.withLock({ $0[performanceID] }) else { throw ServiceError.performanceNotFound(performanceID) }
        return room
    }

    /// Takes in the rooms as read now. `replacing` (a tick's read) also forgets rooms no longer listed.
    private func learn(_ records: [RoomRecord], now: Date, replacing: Bool = true) {
        let deadlines = board.withLock { board in
            Dictionary(uniqueKeysWithValues: records.map { ($0.performanceID, board.activeDeadlines(in: $0.performanceID)) })
        }
        rooms.withLock { rooms in
            var updated: [Int64: RoomInfo] = replacing ? [:] : rooms
            for record in records {
                var room = rooms[record.performanceID] ?? RoomInfo(record: record, policy: record.settings.policy(defaults: policy))
                room.record = record
                room.policy = record.settings.policy(defaults: policy)
                room.pace.sample(admittedTotal: record.admittedTotal, at: now)
                room.slots = room.policy.slots(activeUntil: room.policy.maxActive > 0 ? deadlines[record.performanceID] ?? [] : [], now: now)
                updated[record.performanceID] = room
            }
            rooms = updated
        }
    }
}

/// A room's admissions over the last minute, from the running total at each tick.
struct AdmissionPace: Sendable {
    private var samples: [(at: Date, total: Int)] = []

    mutating func sample(admittedTotal total: Int, at now: Date) {
        samples.append((now, total))
        // Keep the newest sample a minute old or older: the minute is measured from it.
        while samples.count > 1, now.timeIntervalSince(samples[1].at) >= 60 { samples.removeFirst() }
    }

    /// Admissions in the last minute (in the time since the first sample, before a minute has passed).
    var perMinute: Int {
        guard let first = samples.first, let last = samples.last else { return 0 }
        return last.total - first.total
    }
}
