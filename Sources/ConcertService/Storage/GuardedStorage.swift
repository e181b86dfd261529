import Foundation

/// A storage whose every call answers within a bound: while the database is known to be
/// unreachable a call fails at once, and a call that takes longer than `timeout` (a lost
/// network, a stalled server, a pool with no connection to give), or is still waiting when the
/// database is found lost, is answered with `SERVICE_UNAVAILABLE` while its work is cancelled
/// in the background. A write that was
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
        // A call waiting on a pool that lost its database would otherwise wait out the whole
        // timeout, and keep the ticks' long-timeout calls from the new pools after a recovery.
        let availability = availability
        return try await Deadline.run(within: timeout, abandon: ({ !availability.isReachable }, DatabaseAvailability.unreachable), body)
    }

    public func ping() async throws { try await guarded { try await inner.ping() } }
    public func probe() async throws { try await Deadline.run(within: timeout) { try await inner.probe() } }
    public func reconnect() async { await inner.reconnect() }

    public func createPerformance(_ performance: NewPerformance, room: NewRoom, now: Date) async throws -> Performance {
        try await guarded { try await inner.createPerformance(performance, room: room, now: now) }
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
    public func saleLayout(of scheduleID: Int64) async throws -> SaleLayout? {
        try await guarded { try await inner.saleLayout(of: scheduleID) }
    }
    public func sales(performanceID: Int64, now: Date) async throws -> [ScheduleSales]? {
        try await guarded { try await inner.sales(performanceID: performanceID, now: now) }
    }
    public func catalogueIsEmpty() async throws -> Bool {
        try await guarded { try await inner.catalogueIsEmpty() }
    }

    public func hold(_ hold: NewHold, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
        try await guarded { try await inner.hold(hold, now: now, idempotency: idempotency) }
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
    public func recordedResult(of key: IdempotencyKey) async throws -> IdempotencyKey.Record? {
        try await guarded { try await inner.recordedResult(of: key) }
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

    public func joinQueue(_ join: QueueJoin) async throws -> QueueJoin.Written {
        try await guarded { try await inner.joinQueue(join) }
    }
    public func admit(now: Date, defaults: AdmissionPolicy, lease: AdmitterLease) async throws -> AdmissionOutcome {
        try await guarded { try await inner.admit(now: now, defaults: defaults, lease: lease) }
    }
    public func queueChanges(after cursor: QueueCursor?, now: Date) async throws -> QueueChanges {
        try await guarded { try await inner.queueChanges(after: cursor, now: now) }
    }
    public func rooms(now: Date) async throws -> [RoomRecord] {
        try await guarded { try await inner.rooms(now: now) }
    }
    public func updateRoom(performanceID: Int64, settings: RoomSettings) async throws -> Bool {
        try await guarded { try await inner.updateRoom(performanceID: performanceID, settings: settings) }
    }
    public func recordSeen(_ seqs: [Int64], at now: Date) async throws {
        try await guarded { try await inner.recordSeen(seqs, at: now) }
    }
    public func drawnEntries(performanceID: Int64) async throws -> [String]? {
        try await guarded { try await inner.drawnEntries(performanceID: performanceID) }
    }

    public func countViolations(of check: IntegrityCheck) async throws -> Int {
        try await guarded { try await inner.countViolations(of: check) }
    }
}
