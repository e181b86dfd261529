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
    /// Creates the performance with its waiting room.
    func createPerformance(_ performance: NewPerformance, room: NewRoom, now: Date) async throws -> Performance
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

/// A live queue entry as stored.
public struct QueueEntry: Sendable, Equatable {
    public var seq: Int64
    public var performanceID: Int64
    public var userID: Int64
    /// Its order in its room: the draw's place (negative), or its seq.
    public var place: Int64
    /// When an instance last reported it seen (a poll), to within the reporting interval.
    public var seenAt: Date
    /// Nil while waiting.
    public var activeUntil: Date?
    /// Passed over by admission: it was not seen for too long when its turn came.
    public var abandoned = false
}

/// One admission round of a room: every entry of the room still waiting with
/// `place <= throughPlace` became active until `activeUntil`, but for the entries the round
/// passed over (which `QueueChanges.abandoned` lists). Entries are admitted in place order, so
/// this watermark is all another instance needs to learn who was admitted.
public struct Admission: Sendable, Equatable {
    public var id: Int64
    public var performanceID: Int64
    public var throughPlace: Int64
    public var activeUntil: Date
}

/// How far an instance has read the queue: the last entry and admission it saw.
public struct QueueCursor: Sendable, Equatable {
    public var seq: Int64 = 0
    public var admission: Int64 = 0
}

/// What changed in the queue since a cursor.
public struct QueueChanges: Sendable, Equatable {
    /// Entries joined after the cursor, in `seq` order, as they stand now.
    public var entries: [QueueEntry]
    /// Entries passed over by the admissions after the cursor.
    public var abandoned: [QueueEntry]
    public var admissions: [Admission]
    /// Every room, as it stands now.
    public var rooms: [RoomRecord]
    public var cursor: QueueCursor
}

/// A room as stored, with what its performance's schedules say of its seats.
public struct RoomRecord: Sendable, Equatable {
    public var performanceID: Int64
    public var settings: RoomSettings
    public var commitment: String
    /// Set once the draw ran; the seed is read only then, so it stays secret until the draw.
    public var draw: DrawSummary?
    public var admittedTotal: Int
    public var seats: RoomSeats
}

public struct DrawSummary: Sendable, Equatable {
    public var seed: String
    public var drawnAt: Date
    public var entries: Int
}

/// A new performance's room: its settings and its secret seed.
public struct NewRoom: Sendable, Equatable {
    public var settings: RoomSettings
    public var seed: String
    public var commitment: String { FairDraw.commitment(of: seed) }
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
    /// This instance ran the round: how many entries it admitted, and the rooms it drew.
    case admitted(count: Int, drawn: Int = 0)
}

public protocol QueueStore: Sendable {
    /// Appends a new entry for the user to the room, replacing their earlier one there. Sequence
    /// numbers become visible in order, so a reader that has seen `seq` has seen every entry before it.
    func joinQueue(_ join: QueueJoin) async throws -> QueueJoin.Written
    /// If `lease` is (or can become) the admitter's: removes timed-out active entries, draws the
    /// rooms whose sale has started, then admits waiting entries of each room in order as its
    /// settings (`defaults` for those unset) and its seats allow.
    func admit(now: Date, defaults: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionOutcome
    /// What changed after `cursor`; with no cursor, every live entry and room (the state at start).
    func queueChanges(after cursor: QueueCursor?, now: Date) async throws -> QueueChanges
    /// Every room as it stands now.
    func rooms(now: Date) async throws -> [RoomRecord]
    /// Replaces a room's settings; false if there is no such room.
    func updateRoom(performanceID: Int64, settings: RoomSettings) async throws -> Bool
    /// Records that these entries were seen at `now` (what one instance saw in one tick).
    func recordSeen(_ seqs: [Int64], at now: Date) async throws
    /// The room's published draw, in draw order; nil before the draw or for an unknown room.
    func drawnEntries(performanceID: Int64) async throws -> [String]?
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
