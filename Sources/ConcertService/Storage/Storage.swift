import Foundation
import Logging
import ServiceLifecycle

// The seam between the service and its database. Each method is one transaction: it loads
// (and on PostgreSQL locks) the rows it needs, applies the domain rules from `Domain/` that
// depend on them, and writes the result, so every backend enforces the same rules atomically.
// What the database's state refuses comes back as a `StoreRefusal`, which the services word.
// A unique index over live seat claims backs the "one live reservation per seat" rule in every
// backend. A hold arrives already checked against its schedule's sale layout; holds and queue
// joins are written in batches, each one all or nothing (see `WriteBatcher`).

/// Everything the service keeps.
public protocol Storage: CatalogueStore, ReservationStore, WalletStore, QueueStore {
    /// Throws if the database cannot be reached (readiness).
    func ping() async throws
    /// Like `ping`, on a new connection: whether the database is back after an outage.
    func probe() async throws
    /// Starts afresh after an outage, so that requests do not wait for connections that were
    /// given up on.
    func reconnect() async
    /// How many rows break `check` now (`concert check`).
    func countViolations(of check: IntegrityCheck) async throws -> Int
}

/// A database the service keeps its data in: one implementation per database.
///
/// A backend is a service of the application: `run` keeps its connections and its write
/// batchers going, and at graceful shutdown writes the batches already taken before it
/// closes the connections. Nothing may be asked of it before `run` has started or after it
/// has returned (`whileRunning` does both for the command line and the tests).
public protocol StorageBackend: Storage, Service {
    /// Creates or upgrades the schema; the application runs it before it takes requests.
    func migrate() async throws
}

extension StorageBackend {
    /// Runs the backend around `body`, its schema brought up to date first, then shuts it
    /// down gracefully.
    public func whileRunning<T: Sendable>(logger: Logger, _ body: @Sendable () async throws -> T) async throws -> T {
        let services = ServiceGroup(services: [self], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            do {
                try await migrate()
                let value = try await body()
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return value
            } catch {
                await services.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}

public protocol CatalogueStore: Sendable {
    func createPerformance(_ performance: NewPerformance, now: Date) async throws -> Performance
    /// Throws `performanceNotFound`.
    func createSchedule(_ schedule: NewSchedule, performanceID: Int64, now: Date) async throws -> Schedule
    /// Performances with their schedules that start in `range`.
    func performances(startingIn range: Range<Date>, now: Date) async throws -> [PerformanceListing]
    func performance(id: Int64, now: Date) async throws -> PerformanceListing?
    func seatMap(scheduleID: Int64, now: Date) async throws -> SeatMap?
    func sales(performanceID: Int64, now: Date) async throws -> [ScheduleSales]?
    func catalogueIsEmpty() async throws -> Bool
}

/// A seat another user's live reservation has: whose, and the hold's deadline unless paid.
public struct TakenSeat: Sendable, Equatable {
    public var seatNo: Int
    public var userID: Int64
    public var heldUntil: Date?
}

public protocol ReservationStore: Sendable {
    /// The schedule's sale window and seats, which never change once it exists.
    func saleLayout(of scheduleID: Int64) async throws -> SaleLayout?
    /// Writes a hold that passed the rules of its schedule's sale layout, if its queue entry is
    /// still active and its seats free (a hold past its deadline frees its seats here).
    /// Refuses with `StoreRefusal.queueEntryEnded` or `.seatTaken`.
    func hold(_ hold: NewHold, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation>
    /// A seat of `selection` that another user's live reservation (paid, or held and not past
    /// its deadline) has now; a read without locks, so it never waits for the writers.
    func seatTakenByOthers(_ selection: SeatSelection, userID: Int64, now: Date) async throws -> TakenSeat?
    func pay(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation>
    func cancel(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation>
    func reservations(userID: Int64) async throws -> [Reservation]
    func reservation(id: Int64, userID: Int64) async throws -> Reservation?
    /// Expires up to `limit` holds past their deadline and frees their seats; returns how many.
    func releaseLapsedHolds(now: Date, limit: Int) async throws -> Int
    /// What was recorded for `key`, if anything.
    func recordedResult(of key: IdempotencyKey) async throws -> IdempotencyKey.Record?
    /// Forgets idempotency keys recorded before `cutoff`.
    func forgetIdempotencyKeys(before cutoff: Date) async throws
}

public protocol WalletStore: Sendable {
    func wallet(userID: Int64) async throws -> Wallet
    func charge(userID: Int64, amount: Int64, maxCharge: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Wallet>
    /// Newest first, entries with ids below `cursor` when it is set.
    func ledger(userID: Int64, before cursor: Int64?, limit: Int) async throws -> LedgerPage
}

/// A live queue entry as stored: waiting while `activeUntil` is nil.
public struct QueueEntry: Sendable, Equatable {
    public var seq: Int64
    public var userID: Int64
    public var activeUntil: Date?
}

/// One admission round: every entry still waiting with `seq <= throughSeq` became active
/// until `activeUntil`. Entries are admitted in `seq` order, so this watermark is all another
/// instance needs to learn who was admitted.
public struct Admission: Sendable, Equatable {
    public var id: Int64
    public var throughSeq: Int64
    public var activeUntil: Date
}

/// How far an instance has read the queue: the last entry and the last admission it saw.
public struct QueueCursor: Sendable, Equatable {
    public var seq: Int64 = 0
    public var admission: Int64 = 0
}

/// What changed in the queue since a cursor.
public struct QueueChanges: Sendable, Equatable {
    /// Entries joined after the cursor, in `seq` order, as they stand now.
    public var entries: [QueueEntry]
    public var admissions: [Admission]
    public var cursor: QueueCursor
}

/// The one admitter: the instance holding the lease. It renews the lease on every tick and
/// loses it if it misses `duration`, so another instance takes over.
public struct AdmitterLease: Sendable, Equatable {
    public var holder: String
    public var duration: Duration
}

public enum AdmissionOutcome: Sendable, Equatable {
    /// Another instance holds the admitter lease.
    case notAdmitter
    case admitted(count: Int)
}

public protocol QueueStore: Sendable {
    /// Appends a new entry for the user, replacing their earlier one. Sequence numbers
    /// become visible in order, so a reader that has seen `seq` has seen every entry before it.
    func joinQueue(userID: Int64, now: Date) async throws -> QueueEntry
    /// If `lease` is (or can become) the admitter's: removes timed-out active entries, then
    /// admits waiting ones in order as `policy` allows.
    func admit(now: Date, policy: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionOutcome
    /// Entries and admissions after `cursor`; with no cursor, every live entry and the latest
    /// admission id (the state at start).
    func queueChanges(after cursor: QueueCursor?) async throws -> QueueChanges
}

/// Schedules grouped by performance, performances in order of their first schedule (how
/// every backend builds a listing from one ordered schedule query).
func groupedByPerformance(_ schedules: [Schedule]) -> [(Int64, [Schedule])] {
    var order: [Int64] = []
    var byPerformance: [Int64: [Schedule]] = [:]
    for schedule in schedules {
        if byPerformance[schedule.performanceID] == nil { order.append(schedule.performanceID) }
        byPerformance[schedule.performanceID, default: []].append(schedule)
    }
    return order.map { ($0, byPerformance[$0] ?? []) }
}

/// A hold on its way to the database in a batch (each backend's `writeHolds`).
struct PendingHold: Sendable {
    var hold: NewHold
    var now: Date
    var idempotency: IdempotencyKey? = nil
}

extension NewHold {
    /// The reservation a store made of this hold, as it reads back (times to the millisecond).
    func storedReservation(id: Int64, createdAt now: Date) -> Reservation {
        Reservation(
            id: id, userID: userID, scheduleID: selection.scheduleID, seatNumbers: selection.seatNumbers, state: .pending,
            totalPrice: totalPrice, holdExpiresAt: Date(millis: holdExpiresAt.millis), createdAt: Date(millis: now.millis))
    }
}

extension Date {
    /// Milliseconds since 1970: how times are stored.
    var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
    init(millis: Int64) { self.init(timeIntervalSince1970: TimeInterval(millis) / 1000) }
}
