import Foundation
import Metrics
import Synchronization

/// A user's view of their queue entry.
public struct QueuePass: Sendable, Equatable {
    public var token: String
    public var status: QueueBoard.Status
    public var waitingTotal: Int
    public var estimatedWaitSeconds: Int
}

/// The waiting queue: joins go to the database, polls are answered from the in-memory
/// board. Every tick, the instance holding the admitter lease moves users to active, and
/// every instance reads what changed in the database into its board.
public final class QueueService: Sendable {
    private let store: any QueueStore
    private let codec: QueueTokenCodec
    /// Every poll and hold sends its token; its signature is checked once.
    private let verifiedTokens = RecentlyVerified<QueueTicket>(capacity: 20_000)
    public let policy: AdmissionPolicy
    private let limits: RateLimits
    private let lease: AdmitterLease
    private let board = Mutex(QueueBoard())
    /// How far the board has read the database; nil until `restore`.
    private let cursor = Mutex<QueueCursor?>(nil)
    /// When the board last read the database, and the active slots under a cap as of then.
    private let followed = Mutex<(at: Date, slots: [Date])>((.distantPast, []))
    /// How long the board may go without reading the database before its "waiting" answers
    /// to the gate are no longer trusted (the user may have been admitted meanwhile).
    private let staleAfter: TimeInterval
    private let waitingGauge = Gauge(label: "concert_queue_waiting")
    private let activeGauge = Gauge(label: "concert_queue_active")
    private let admittedCounter = Counter(label: "concert_queue_admitted_total")

    /// `instanceID` names this instance in the admitter lease.
    public init(
        store: any QueueStore, codec: QueueTokenCodec, policy: AdmissionPolicy, instanceID: String, limits: RateLimits = RateLimits(.off)
    ) {
        self.store = store
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
        cursor.withLock { $0 = nil }
        try await follow(now: now)
    }

    /// Reads the joins and admissions since the last call into the board (every instance, every tick).
    public func follow(now: Date) async throws {
        let changes = try await store.queueChanges(after: cursor.withLock { $0 })
        board.withLock { board in
            for entry in changes.entries {
                if let until = entry.activeUntil {
                    board.admitted(user: entry.userID, seq: entry.seq, until: until)
                } else {
                    board.joined(user: entry.userID, seq: entry.seq)
                }
            }
            for admission in changes.admissions {
                board.admitted(through: admission.throughSeq, until: admission.activeUntil)
            }
            board.heard(through: changes.cursor.seq)
            board.removeTimedOut(at: now)
        }
        cursor.withLock { $0 = changes.cursor }
        let slots = policy.slots(activeUntil: policy.maxActive > 0 ? board.withLock(\.activeDeadlines) : [], now: now)
        followed.withLock { $0 = (now, slots) }
        publishGauges()
    }

    /// Joins: a new entry at the back; the user's earlier token stops working.
    public func join(userID: Int64, now: Date) async throws -> QueuePass {
        try limits.checkWrite(userID: userID, at: now)
        let entry = try await store.joinQueue(userID: userID, now: now)
        let ticket = QueueTicket(userID: userID, seq: entry.seq)
        board.withLock { $0.joined(user: userID, seq: entry.seq) }
        publishGauges()
        return pass(for: ticket, token: codec.encode(ticket), now: now)
    }

    /// Where a token stands. Verifies the signature and reads memory only.
    public func poll(token: String?, now: Date) throws -> QueuePass {
        let ticket = try ticket(from: token, now: now)
        try limits.checkPoll(seq: ticket.seq, at: now)
        // The client's own token is already genuine: echo it rather than signing it again.
        let pass = pass(for: ticket, token: token ?? "", now: now)
        if case .gone(let reason) = pass.status { throw Self.ended(reason) }
        return pass
    }

    /// The caller's own, genuine queue token, without checking whether it is active.
    public func ownTicket(token: String?, userID: Int64, now: Date) throws -> QueueTicket {
        let ticket = try ticket(from: token, now: now)
        guard ticket.userID == userID else {
            throw ServiceError(.queueTokenNotYours, "This queue token belongs to another user.")
        }
        return ticket
    }

    /// The gate of browsing and holding: the caller's own token, admitted and not yet expired.
    public func requireActive(token: String?, userID: Int64, now: Date) throws -> QueueTicket {
        let ticket = try ownTicket(token: token, userID: userID, now: now)
        try refusal(for: ticket, now: now).map { throw $0 }
        return ticket
    }

    /// Why `ticket` may not act now, or nil if it is active.
    public func refusal(for ticket: QueueTicket, now: Date) -> ServiceError? {
        switch board.withLock({ $0.status(user: ticket.userID, seq: ticket.seq, at: now) }) {
        case .active: nil
        case .waiting where isStale(at: now):
            // The admissions of the last ticks are unknown here: the user may well be active.
            ServiceError(.serviceUnavailable, "The queue cannot be read from the database right now; retry shortly.")
        case .waiting(let position):
            ServiceError(.queueTokenWaiting, "You are number \(position) in the queue; wait until you are admitted.", position: position)
        case .gone(let reason): Self.ended(reason)
        }
    }

    /// Whether the board has gone too long without reading the database (it is unreachable).
    public func isStale(at now: Date) -> Bool {
        now.timeIntervalSince(followed.withLock(\.at)) > staleAfter
    }

    /// A hold used the entry: it ends here as it did in the database.
    public func spent(_ ticket: QueueTicket) {
        board.withLock { $0.ended(user: ticket.userID, seq: ticket.seq, because: .used) }
        publishGauges()
    }

    /// One tick of admission: if this instance is the admitter, time out stale active entries and
    /// admit the next waiting ones; then learn what changed, whoever admitted.
    public func tick(now: Date) async throws {
        if case .admitted(let count) = try await store.admit(now: now, policy: policy, lease: lease), count > 0 {
            admittedCounter.increment(by: count)
        }
        try await follow(now: now)
    }

    /// The answer to a token whose entry ended, naming why (`reason`), so a client can tell
    /// the user what happened.
    static func ended(_ reason: QueueBoard.EndReason) -> ServiceError {
        let message = switch reason {
        case .expired: "This queue token's active window has ended; join the queue again."
        case .used: "This queue token was used for a hold; join the queue again to hold more seats."
        case .replaced: "You joined the queue again, so this older queue token no longer counts; use the new one."
        }
        return ServiceError(.queueTokenExpired, message, reason: reason.rawValue)
    }

    private func ticket(from token: String?, now: Date) throws -> QueueTicket {
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

    private func pass(for ticket: QueueTicket, token: String, now: Date) -> QueuePass {
        let (status, waitingTotal) = board.withLock { ($0.status(user: ticket.userID, seq: ticket.seq, at: now), $0.waitingCount) }
        var wait = 0
        if case .waiting(let position) = status {
            wait = policy.maxActive > 0
                ? policy.estimatedWaitSeconds(position: position, slots: followed.withLock(\.slots), now: now)
                : policy.estimatedWaitSeconds(position: position)
        }
        return QueuePass(token: token, status: status, waitingTotal: waitingTotal, estimatedWaitSeconds: wait)
    }

    private func publishGauges() {
        let (waiting, active) = board.withLock { ($0.waitingCount, $0.activeCount) }
        waitingGauge.record(waiting)
        activeGauge.record(active)
    }
}
