import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A storage whose every call answers within a bound: while the database is known to be
/// unreachable a call fails at once, and a call that takes longer than `timeout` (a lost
/// network, a stalled server, a pool with no connection to give) is answered with
/// `SERVICE_UNAVAILABLE` while its work is cancelled in the background. A write that was
/// cut off may still commit: its retry with the same `Idempotency-Key` says whether it did.
public struct GuardedStorage: Storage {
    public let inner: any Storage
    let availability: DatabaseAvailability
    let timeout: Duration

    public init(_ inner: any Storage, availability: DatabaseAvailability, timeout: Duration) {
        self.inner = inner
        self.availability = availability
        self.timeout = timeout
    }

    private func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard availability.isReachable else { throw DatabaseAvailability.unreachable }
        return try await Deadline.run(within: timeout, body)
    }

    public func ping() async throws { try await guarded { try await inner.ping() } }
    public func probe() async throws { try await Deadline.run(within: timeout) { try await inner.probe() } }
    public func reconnect() async { await inner.reconnect() }
    public func close() async { await inner.close() }

    public func createPerformance(_ performance: NewPerformance, now: Date) async throws -> Performance {
        try await guarded { try await inner.createPerformance(performance, now: now) }
    }
    public func createSchedule(_ schedule: NewSchedule, performanceID: Int64, now: Date) async throws -> Schedule {
        try await guarded { try await inner.createSchedule(schedule, performanceID: performanceID, now: now) }
    }
    public func performances(startingIn range: Range<Date>, now: Date) async throws -> [PerformanceListing] {
        try await guarded { try await inner.performances(startingIn: range, now: now) }
    }
    public func performance(id: Int64, now: Date) async throws -> PerformanceListing? {
        try await guarded { try await inner.performance(id: id, now: now) }
    }
    public func seatMap(scheduleID: Int64, now: Date) async throws -> SeatMap? {
        try await guarded { try await inner.seatMap(scheduleID: scheduleID, now: now) }
    }
    public func sales(performanceID: Int64, now: Date) async throws -> [ScheduleSales]? {
        try await guarded { try await inner.sales(performanceID: performanceID, now: now) }
    }
    public func catalogueIsEmpty() async throws -> Bool {
        try await guarded { try await inner.catalogueIsEmpty() }
    }

    public func hold(_ request: HoldRequest, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await guarded { try await inner.hold(request, now: now, idempotency: idempotency) }
    }
    public func seatTakenByOthers(_ selection: SeatSelection, userID: Int64, now: Date) async throws -> TakenSeat? {
        try await guarded { try await inner.seatTakenByOthers(selection, userID: userID, now: now) }
    }
    public func pay(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await guarded { try await inner.pay(reservationID: reservationID, userID: userID, now: now, idempotency: idempotency) }
    }
    public func cancel(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await guarded { try await inner.cancel(reservationID: reservationID, userID: userID, now: now, idempotency: idempotency) }
    }
    public func reservations(userID: Int64) async throws -> [Reservation] {
        try await guarded { try await inner.reservations(userID: userID) }
    }
    public func reservation(id: Int64, userID: Int64) async throws -> Reservation? {
        try await guarded { try await inner.reservation(id: id, userID: userID) }
    }
    public func releaseLapsedHolds(now: Date, limit: Int) async throws -> Int {
        try await guarded { try await inner.releaseLapsedHolds(now: now, limit: limit) }
    }
    public func forgetIdempotencyKeys(before cutoff: Date) async throws {
        try await guarded { try await inner.forgetIdempotencyKeys(before: cutoff) }
    }

    public func wallet(userID: Int64) async throws -> Wallet {
        try await guarded { try await inner.wallet(userID: userID) }
    }
    public func charge(userID: Int64, amount: Int64, maxCharge: Int64, now: Date, idempotency: IdempotencyKey?) async throws
        -> Idempotent<Wallet>
    {
        try await guarded { try await inner.charge(userID: userID, amount: amount, maxCharge: maxCharge, now: now, idempotency: idempotency) }
    }
    public func ledger(userID: Int64, before cursor: Int64?, limit: Int) async throws -> LedgerPage {
        try await guarded { try await inner.ledger(userID: userID, before: cursor, limit: limit) }
    }

    public func joinQueue(userID: Int64, now: Date) async throws -> QueueEntry {
        try await guarded { try await inner.joinQueue(userID: userID, now: now) }
    }
    public func admit(now: Date, policy: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionRound {
        try await guarded { try await inner.admit(now: now, policy: policy, lease: lease) }
    }
    public func queueChanges(after cursor: QueueCursor?) async throws -> QueueChanges {
        try await guarded { try await inner.queueChanges(after: cursor) }
    }

    public func countViolations(of check: IntegrityCheck) async throws -> Int {
        try await guarded { try await inner.countViolations(of: check) }
    }
}

/// Whether the database answers, as the app's monitor last found it: requests fail fast while
/// it does not, and readiness reports it. The monitor logs one warning when the database is
/// lost and one when it is back, whatever happens to each connection meanwhile.
public final class DatabaseAvailability: Sendable {
    static let unreachable = ServiceError(.serviceUnavailable, "The database cannot be reached; retry shortly.")

    /// Failed pings in a row before the database counts as lost: one slow ping under load
    /// must not turn every request away.
    static let failuresToLose = 2

    private let state = Mutex((reachable: true, failures: 0))
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public var isReachable: Bool { state.withLock(\.reachable) }

    /// Pings the database once within `timeout` and records the outcome: through the pools
    /// while it answers, on a new connection once it is lost; when it is back, the storage
    /// reconnects before requests are let through again.
    public func check(_ storage: any Storage, within timeout: Duration) async {
        let wasReachable = isReachable
        var failure: (any Error)?
        do {
            try await Deadline.run(within: timeout) { wasReachable ? try await storage.ping() : try await storage.probe() }
            if !wasReachable { await storage.reconnect() }
        } catch {
            failure = error
        }
        let change: Bool? = state.withLock { state in
            if failure == nil {
                state.failures = 0
                guard !state.reachable else { return nil }
                state.reachable = true
                return true
            }
            state.failures += 1
            guard state.reachable, state.failures >= Self.failuresToLose else { return nil }
            state.reachable = false
            return false
        }
        switch change {
        case true?: logger.warning("The database is reachable again; requests that need it are served.")
        case false?:
            logger.warning(
                "The database cannot be reached: requests that need it answer 503 until it is back.",
                metadata: ["error": "\((failure as? ServiceError)?.message ?? failure.map { String(describing: $0) } ?? "")"])
        case nil: break
        }
    }
}

/// Bounded waits.
public enum Deadline {
    static let timedOut = ServiceError(.serviceUnavailable, "The database did not answer in time; retry shortly.")

    /// The result of `body`, or `SERVICE_UNAVAILABLE` once `limit` has passed (give or take
    /// `DeadlineWatch.resolution`), whichever comes first. `body` runs in a task of its own, so
    /// a wait that ignores cancellation (a query on a connection whose server went silent)
    /// cannot hold the caller; it is cancelled when the time is up and ends in the background.
    public static func run<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
            }
            let watch = DeadlineWatch.shared.watch(until: .now + limit) {
                if race.finish(.failure(timedOut)) { work.cancel() }
            }
            race.whenFinished { DeadlineWatch.shared.forget(watch) }
        }
    }

    /// The first of the work and the deadline to finish answers the caller.
    private final class Race<T: Sendable>: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, finished: Bool, onFinish: (@Sendable () -> Void)?)>(
            (nil, false, nil))

        func start(_ continuation: CheckedContinuation<T, any Error>) {
            state.withLock { $0.continuation = continuation }
        }

        /// Runs `action` once the race is decided (at once if it already is).
        func whenFinished(_ action: @escaping @Sendable () -> Void) {
            let finished = state.withLock { state in
                if !state.finished { state.onFinish = action }
                return state.finished
            }
            if finished { action() }
        }

        /// Answers the caller unless the other side already did; true if this call did.
        @discardableResult
        func finish(_ result: Result<T, any Error>) -> Bool {
            let (continuation, onFinish) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
                guard !state.finished else { return (nil, nil) }
                state.finished = true
                defer { state.continuation = nil; state.onFinish = nil }
                return (state.continuation, state.onFinish)
            }
            guard let continuation else { return false }
            continuation.resume(with: result)
            onFinish?()
            return true
        }
    }
}

/// The deadlines of every call in flight, checked by one timer every `resolution`: setting
/// and clearing one is a dictionary write under a lock, where a timer per call cost a wake-up
/// of an event loop each time, on every database call.
final class DeadlineWatch: Sendable {
    static let shared = DeadlineWatch()
    static let resolution = TimeAmount.milliseconds(50)

    private struct Watches {
        var next: UInt64 = 0
        var pending: [UInt64: (deadline: ContinuousClock.Instant, expire: @Sendable () -> Void)] = [:]
        var ticking = false
    }

    private let watches = Mutex(Watches())

    /// Calls `expire` once `deadline` has passed, unless `forget` comes first.
    func watch(until deadline: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, start) = watches.withLock { watches in
            watches.next += 1
            watches.pending[watches.next] = (deadline, expire)
            defer { watches.ticking = true }
            return (watches.next, !watches.ticking)
        }
        if start {
            MultiThreadedEventLoopGroup.singleton.any().scheduleRepeatedTask(initialDelay: Self.resolution, delay: Self.resolution) { _ in
                self.expireDue()
            }
        }
        return id
    }

    func forget(_ id: UInt64) {
        _ = watches.withLock { $0.pending.removeValue(forKey: id) }
    }

    private func expireDue() {
        let now = ContinuousClock.now
        let due = watches.withLock { watches in
            let due = watches.pending.filter { $0.value.deadline <= now }
            for id in due.keys { watches.pending[id] = nil }
            return due.values.map(\.expire)
        }
        for expire in due { expire() }
    }
}
