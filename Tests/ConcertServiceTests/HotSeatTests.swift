import Foundation
import Logging
import Synchronization
import Testing

@testable import ConcertService

/// The short memory of holds that answers a crowd wanting one seat without the database.
@Suite struct RecentClaimsTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func hold(user: Int64, seats: [Int], lasting: TimeInterval = 300) -> Reservation {
        Reservation(
            id: 1, userID: user, scheduleID: 9, seatNumbers: seats, state: .pending, totalPrice: 100,
            holdExpiresAt: now.addingTimeInterval(lasting), createdAt: now)
    }

    func selection(_ seats: [Int]) throws -> SeatSelection {
        try SeatSelection(scheduleID: 9, seatNumbers: seats, maxSeats: 4)
    }

    @Test func refusesOthersForAMomentButNeverTheHolder() throws {
        let claims = RecentClaims(memory: .seconds(2))
        claims.remember(hold(user: 1, seats: [3, 4]), at: now)
        #expect(claims.seatTaken(in: try selection([2, 4]), byOtherThan: 2, at: now) == 4)
        #expect(claims.seatTaken(in: try selection([2, 4]), byOtherThan: 1, at: now) == nil)
        #expect(claims.seatTaken(in: try selection([4]), byOtherThan: 2, at: now.addingTimeInterval(2)) == nil, "the moment is over")
    }

    @Test func forgetsAtTheHoldsDeadlineAndOnCancellation() throws {
        let claims = RecentClaims(memory: .seconds(2))
        claims.remember(hold(user: 1, seats: [5], lasting: 1), at: now)
        #expect(claims.seatTaken(in: try selection([5]), byOtherThan: 2, at: now.addingTimeInterval(1)) == nil)
        let cancelled = hold(user: 1, seats: [6])
        claims.remember(cancelled, at: now)
        claims.forget(cancelled)
        #expect(claims.seatTaken(in: try selection([6]), byOtherThan: 2, at: now) == nil)
    }

    /// What the lock-free read found (another instance's hold, or a paid seat) is remembered
    /// like a hold made here: for the moment, not past a hold's deadline, never against its holder.
    @Test func remembersSeatsTheDatabaseReportedTaken() throws {
        let claims = RecentClaims(memory: .seconds(2))
        claims.remember(TakenSeat(seatNo: 7, userID: 1, heldUntil: now.addingTimeInterval(1)), of: 9, at: now)
        claims.remember(TakenSeat(seatNo: 8, userID: 1, heldUntil: nil), of: 9, at: now)
        #expect(claims.seatTaken(in: try selection([7]), byOtherThan: 2, at: now) == 7)
        #expect(claims.seatTaken(in: try selection([7, 8]), byOtherThan: 1, at: now) == nil)
        #expect(claims.seatTaken(in: try selection([7]), byOtherThan: 2, at: now.addingTimeInterval(1)) == nil, "the hold's deadline")
        #expect(claims.seatTaken(in: try selection([8]), byOtherThan: 2, at: now.addingTimeInterval(1.9)) == 8, "paid: the moment")
        #expect(claims.seatTaken(in: try selection([8]), byOtherThan: 2, at: now.addingTimeInterval(2)) == nil)
        #expect(claims.seatTaken(in: try SeatSelection(scheduleID: 10, seatNumbers: [7], maxSeats: 4), byOtherThan: 2, at: now) == nil)
    }
}

/// One hold per seat at a time from an instance to the database.
@Suite struct HoldsInFlightTests {
    func selection(_ seats: [Int]) throws -> SeatSelection {
        try SeatSelection(scheduleID: 9, seatNumbers: seats, maxSeats: 4)
    }

    @Test func overlappingHoldsWaitAndOthersGoAhead() async throws {
        let inFlight = HoldsInFlight()
        #expect(inFlight.start(try selection([1, 2])))
        #expect(!inFlight.start(try selection([2, 3])), "seat 2 is in flight")
        #expect(inFlight.start(try selection([3])), "seat 3 is not")
        let waiter = Task { [selection = try selection([2, 3])] in
            await inFlight.waitForAFinish(selection)
            return inFlight.start(try self.selection([2]))
        }
        try await Task.sleep(for: .milliseconds(50))
        inFlight.finish(try selection([1, 2]))
        #expect(try await waiter.value, "seat 2 is free once the first hold finished")
        await inFlight.waitForAFinish(try selection([1]))  // nothing in flight on seat 1: returns at once
    }
}

/// Which of a crowd's holds reach the database, on a real SQLite store.
@Suite struct HotSeatCrowdTests {
    /// Counts the calls the service makes to the store it wraps.
    final class CountingStore: ReservationStore {
        let store: any ReservationStore
        let holds = Atomic(0)
        let reads = Atomic(0)

        init(_ store: any ReservationStore) { self.store = store }

        func saleLayout(of scheduleID: Int64) async throws -> SaleLayout? { try await store.saleLayout(of: scheduleID) }
        func hold(_ hold: NewHold, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
            holds.add(1, ordering: .relaxed)
            return try await store.hold(hold, now: now, idempotency: idempotency)
        }
        func seatTakenByOthers(_ selection: SeatSelection, userID: Int64, now: Date) async throws -> TakenSeat? {
            reads.add(1, ordering: .relaxed)
            return try await store.seatTakenByOthers(selection, userID: userID, now: now)
        }
        func pay(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
            try await store.pay(reservationID: reservationID, userID: userID, now: now, idempotency: idempotency)
        }
        func cancel(reservationID: Int64, userID: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Reservation> {
            try await store.cancel(reservationID: reservationID, userID: userID, now: now, idempotency: idempotency)
        }
        func reservations(userID: Int64) async throws -> [Reservation] { try await store.reservations(userID: userID) }
        func reservation(id: Int64, userID: Int64) async throws -> Reservation? { try await store.reservation(id: id, userID: userID) }
        func releaseLapsedHolds(now: Date, limit: Int) async throws -> Int { try await store.releaseLapsedHolds(now: now, limit: limit) }
        func recordedResult(of key: IdempotencyKey) async throws -> IdempotencyKey.Record? { try await store.recordedResult(of: key) }
        func forgetIdempotencyKeys(before cutoff: Date) async throws { try await store.forgetIdempotencyKeys(before: cutoff) }
    }

    /// A real SQLite store with one 10-seat schedule on sale and users 1 to 31 admitted.
    struct Sale {
        let storage: SQLiteStorage
        let schedule: Int64
        let queue: QueueService
        let tokens: [Int64: String]
        let now = Date()

        /// Runs `body` with a sale on a running store, then shuts the store down.
        static func run(_ body: @Sendable (Sale) async throws -> Void) async throws {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("concert-crowd-\(UUID().uuidString).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let storage = try SQLiteStorage(path: path)
            try await storage.whileRunning(logger: Logger(label: "crowd")) {
                try await body(try await Sale(storage))
            }
        }

        /// A room open now whose active users are not capped by the seats: 31 users for 10 seats.
        static func uncappedRoom(now: Date) -> RoomSettings {
            var settings = RoomSettings(prequeueOpensAt: now, startsAt: now)
            settings.activePerSeatMillis = 0
            return settings
        }

        private init(_ storage: SQLiteStorage) async throws {
            self.storage = storage
            let performance = try await storage.createPerformance(
                try NewPerformance(title: "Crowd", performer: "Crowd", description: "Crowd"),
                room: NewRoom(settings: Self.uncappedRoom(now: now), seed: FairDraw.newSeed()), now: now)
            schedule = try await storage.createSchedule(
                try NewSchedule(
                    startsAt: now.addingTimeInterval(86_400), saleOpensAt: now.addingTimeInterval(-60),
                    saleClosesAt: now.addingTimeInterval(86_000), groups: [SeatGroup(grade: "R", count: 10, price: 100)]),
                performanceID: performance.id, now: now
            ).id
            queue = QueueService(
                store: storage, codec: QueueTokenCodec(secret: QueueTokenCodec.derivedSecret(fromCredentialSecret: "crowd-test")),
                policy: AdmissionPolicy(tick: .milliseconds(100), admitPerTick: 100, maxActive: 0, activeDuration: .seconds(3600)),
                instanceID: "crowd")
            var tokens: [Int64: String] = [:]
            for user in Int64(1)...31 { tokens[user] = try await queue.join(userID: user, performanceID: performance.id, now: now).token }
            self.tokens = tokens
            try await queue.tick(now: now)
        }

        /// The reservations of one service instance, counting what it asks the store.
        func instance() -> (ReservationService, CountingStore) {
            let store = CountingStore(storage)
            return (ReservationService(store: store, queue: queue, holdDuration: .seconds(600), maxSeatsPerHold: 4), store)
        }

        /// The error code `user`'s hold of `seat` gets, or nil when it succeeds.
        func hold(_ reservations: ReservationService, user: Int64, seat: Int, at date: Date) async -> ErrorCode? {
            do {
                _ = try await reservations.hold(
                    Identity(userID: user, isAdmin: false), queueToken: tokens[user], scheduleID: schedule, seatNumbers: [seat],
                    idempotency: nil, now: date)
                return nil
            } catch {
                return (error as? ServiceError)?.code ?? .internalError
            }
        }
    }

    /// Once the 2-second memory of a claim is over, a crowd wanting that seat again (fans with a
    /// stale seat map) is answered after one lock-free read, without a single hold transaction.
    @Test func aCrowdForASeatSeenTakenReadsOnceAndNeverTriesTheTransaction() async throws {
        try await Sale.run { sale in
            let (reservations, store) = sale.instance()
            #expect(await sale.hold(reservations, user: 1, seat: 7, at: sale.now) == nil)
            let later = sale.now.addingTimeInterval(3)
            let refusals = await withTaskGroup(of: ErrorCode?.self) { group in
                for user in Int64(2)...31 {
                    group.addTask { await sale.hold(reservations, user: user, seat: 7, at: later) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(refusals == Array(repeating: .seatUnavailable, count: 30))
            #expect(store.holds.load(ordering: .relaxed) == 1, "only user 1's hold ran the transaction")
            #expect(store.reads.load(ordering: .relaxed) == 1)
        }
    }

    /// A hold that lost its seat to another instance's hold learns who has it, so the next
    /// hold of that seat through this instance is refused from memory.
    @Test func aHoldThatLostItsSeatTeachesTheNextOne() async throws {
        try await Sale.run { sale in
            let (one, _) = sale.instance()
            let (two, store) = sale.instance()
            #expect(await sale.hold(one, user: 1, seat: 7, at: sale.now) == nil)
            #expect(await sale.hold(two, user: 2, seat: 7, at: sale.now) == .seatUnavailable)
            #expect(await sale.hold(two, user: 3, seat: 7, at: sale.now) == .seatUnavailable)
            #expect(store.holds.load(ordering: .relaxed) == 1, "user 3 was refused from memory")
            #expect(store.reads.load(ordering: .relaxed) == 1)
        }
    }
}
