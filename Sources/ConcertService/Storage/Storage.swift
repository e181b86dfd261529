import Foundation

// The seam between the service and its database. Each method is one transaction: it loads
// (and on PostgreSQL locks) the rows it needs, applies the domain rules from `Domain/`, and
// writes the result, so every backend enforces the same rules atomically. A unique index over
// live seat claims backs the "one live reservation per seat" rule in every backend.

/// Everything the service keeps. One implementation per database.
public protocol Storage: CatalogueStore, ReservationStore, WalletStore, QueueStore {
    /// Throws if the database cannot be reached (readiness).
    func ping() async throws
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

/// Flow 6's input once the request is validated: who holds which seats with which queue entry.
public struct HoldRequest: Sendable, Equatable {
    public var userID: Int64
    public var selection: SeatSelection
    /// The active queue entry the hold spends.
    public var queueSeq: Int64
    public var holdDuration: Duration
}

public protocol ReservationStore: Sendable {
    /// Throws `scheduleNotFound`, `saleNotOpen`, `seatOutOfRange`, `queueTokenExpired`, `seatUnavailable`.
    func hold(_ request: HoldRequest, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation>
    func pay(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation>
    func cancel(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation>
    func reservations(userID: Int64) async throws -> [Reservation]
    func reservation(id: Int64, userID: Int64) async throws -> Reservation?
    /// Expires up to `limit` holds past their deadline and frees their seats; returns how many.
    func releaseLapsedHolds(now: Date, limit: Int) async throws -> Int
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

public struct AdmissionTick: Sendable, Equatable {
    public var admitted: [QueueEntry]
    public var timedOut: [QueueEntry]
}

public protocol QueueStore: Sendable {
    /// Appends a new entry for the user, removing their earlier one.
    func joinQueue(userID: Int64, now: Date) async throws -> QueueEntry
    /// Removes timed-out active entries, then admits waiting ones in order as `policy` allows.
    func admit(now: Date, policy: AdmissionPolicy) async throws -> AdmissionTick
    func liveQueueEntries() async throws -> [QueueEntry]
}

/// An `Idempotency-Key` header with a fingerprint of the request it came with; a key is
/// scoped to its user. Only successful results are recorded: a request that failed changed
/// nothing and may be retried with the same key.
public struct IdempotencyKey: Sendable, Equatable {
    public var userID: Int64
    public var key: String
    public var fingerprint: String

    public init(userID: Int64, key: String, fingerprint: String) {
        self.userID = userID
        self.key = key
        self.fingerprint = fingerprint
    }
}

/// A result, and whether it is the recorded result of an earlier request with the same key.
public struct Idempotent<Value: Sendable>: Sendable {
    public var value: Value
    public var replayed: Bool
}

extension Date {
    /// Milliseconds since 1970: how times are stored.
    var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
    init(millis: Int64) { self.init(timeIntervalSince1970: TimeInterval(millis) / 1000) }
}
