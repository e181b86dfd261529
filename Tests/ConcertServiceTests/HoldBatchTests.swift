import Foundation
import Logging
import PostgresNIO
import Testing

@testable import ConcertService

/// Holds written in batches, directly: each hold in a batch is all or nothing, and one that
/// cannot be written does not stop the others. On PostgreSQL the batch is one statement
/// (`HoldStatements.HoldBatch`) that leaves what it cannot decide to the transaction; on
/// SQLite one transaction, with a savepoint for a hold that needs one.
@Suite struct HoldBatchTests {
    /// Admits `users` to the room of `schedule`; answers their queue entries' seqs.
    static func admit(_ users: ClosedRange<Int64>, to schedule: Int, _ service: TestService, _ api: TestDriver) async throws -> [Int64: Int64] {
        var seqs: [Int64: Int64] = [:]
        for user in users {
            _ = try await api.admittedToken(user: user, schedule: schedule)
            seqs[user] = Int64(try #require(try await service.database.int("SELECT seq FROM queue_entries WHERE user_id = \(user)")))
        }
        return seqs
    }

    /// `user`'s hold of `seats` (100 each) of `schedule`, checked and priced, ready for a batch.
    static func pendingHold(user: Int64, seats: [Int], of schedule: Int, queueSeq: Int64) throws -> PendingHold {
        let now = Date()
        let hold = try NewHold(
            userID: user, selection: SeatSelection(scheduleID: Int64(schedule), seatNumbers: seats, maxSeats: 4), queueSeq: queueSeq,
            seats: seats.map { Seat(seatNo: $0, grade: "R", price: 100) }, now: now, holdDuration: .seconds(600))
        return PendingHold(hold: hold, now: now)
    }

    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func aBatchWritesTheHoldsItCanAndLeavesTheRest() async throws {
        let service = try await TestService(.postgres)
        try await service.run { api in
            let storage = try #require(service.system.storage as? PostgresStorage)
            let schedule = try await api.createSchedule(seats: [("R", 10, 100)])
            // User 5101 holds seat 2 the usual way; users 5102 to 5105 are admitted.
            #expect(try await api.hold(user: 5101, schedule: schedule, seats: [2]).status == .created)
            let seqs = try await Self.admit(Int64(5102)...5105, to: schedule, service, api)
            func quick(_ user: Int64, _ seats: [Int], seq: Int64? = nil) throws -> PendingHold {
                try Self.pendingHold(user: user, seats: seats, of: schedule, queueSeq: seq ?? seqs[user]!)
            }
            let outcomes = try await PostgresStorage.writeHolds(
                [
                    quick(5102, [1]),
                    quick(5103, [3, 2]),  // seat 2 is taken
                    quick(5102, [4]),  // the same user again
                    quick(5104, [5, 6]),
                    quick(5105, [7], seq: 999_999),  // not the user's queue entry
                ], client: storage.client, logger: Logger(label: "quick-holds-test"))

            #expect(outcomes.map { $0 != nil } == [true, false, false, true, false])
            func holder(_ seat: Int) async throws -> Int? {
                try await service.database.int(
                    """
                    SELECT r.user_id FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
                    WHERE c.schedule_id = \(schedule) AND c.seat_no = \(seat) AND c.live = 1
                    """)
            }
            #expect(try await holder(1) == 5102)
            #expect(try await holder(2) == 5101)
            #expect(try await holder(3) == nil)
            #expect(try await holder(4) == nil)
            #expect(try await holder(5) == 5104)
            #expect(try await holder(6) == 5104)
            #expect(try await holder(7) == nil)
            // Written holds spent their entries; the others kept theirs.
            for (user, spent) in [(5102, true), (5103, false), (5104, true), (5105, false)] {
                #expect(try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id = \(user)") == (spent ? 0 : 1))
            }
            let remaining = try await service.database.int("SELECT remaining_seats FROM schedule_remaining_seats WHERE schedule_id = \(schedule)")
            #expect(remaining == 6)
            try await checkInvariants(service)
        }
    }

    /// A seat claimed by a statement that commits while the batch waits for it fails the
    /// claims' unique index: the whole batch is undone, and every hold in it goes to the
    /// transaction, the innocent ones too.
    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func aSeatClaimedWhileTheBatchWaitsUndoesTheWholeBatch() async throws {
        let service = try await TestService(.postgres)
        let schema = try #require(service.database.postgresSchema)
        try await service.run { api in
            let storage = try #require(service.system.storage as? PostgresStorage)
            let schedule = try await api.createSchedule(seats: [("R", 10, 100)])
            let heldID = try #require(try await api.hold(user: 5201, schedule: schedule, seats: [1]).int("id"))
            let seqs = try await Self.admit(Int64(5202)...5203, to: schedule, service, api)
            let batch = try [(Int64(5202), [8, 9]), (5203, [10])].map { user, seats in
                try Self.pendingHold(user: user, seats: seats, of: schedule, queueSeq: seqs[user]!)
            }
            let outcomes = try await TestPostgres.shared.withConnection { connection in
                for sql in [
                    "SET search_path TO \(schema)", "BEGIN",
                    "INSERT INTO seat_claims (reservation_id, schedule_id, seat_no) VALUES (\(heldID), \(schedule), 8)",
                ] {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestPostgres.logger).collect()
                }
                let written = Task {
                    try await PostgresStorage.writeHolds(batch, client: storage.client, logger: TestPostgres.logger)
                }
                // Commit once the batch waits for seat 8.
                for _ in 0..<500 {
                    let waiting = try await TestPostgres.rows(
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH hold AS%'",
                        schema: schema
                    ).first?.decode(Int.self)
                    if waiting == 1 { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                _ = try await connection.query("COMMIT", logger: TestPostgres.logger).collect()
                return try await written.value
            }
            #expect(outcomes == [nil, nil])
            for seat in [9, 10] {
                #expect(try await service.database.int("SELECT COUNT(*) FROM seat_claims WHERE schedule_id = \(schedule) AND seat_no = \(seat)") == 0)
            }
            #expect(try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id IN (5202, 5203)") == 2)
            // The claim made above was no hold: take it away before the invariants are checked.
            try await service.database.execute("DELETE FROM seat_claims WHERE schedule_id = \(schedule) AND seat_no = 8")
            try await checkInvariants(service)
        }
    }

    @Test func sqliteCommitsTheHoldsOfABatchThatSucceedAndUndoesTheOthers() async throws {
        try await TestService.withSQLite { service, api, storage in
            let schedule = try await api.createSchedule(seats: [("R", 10, 100)])
            #expect(try await api.hold(user: 5301, schedule: schedule, seats: [2]).status == .created)
            let seqs = try await Self.admit(Int64(5302)...5305, to: schedule, service, api)
            // 5305 wants seat 1, which 5302 takes earlier in the same batch.
            let batch = try [(5302, [1]), (5303, [3, 2]), (5304, [4, 5]), (5305, [6, 1])].map { user, seats in
                try Self.pendingHold(user: Int64(user), seats: seats, of: schedule, queueSeq: seqs[Int64(user)]!)
            }
            let outcomes = try await SQLiteStorage.writeHolds(batch, pool: storage.pool)
            #expect(outcomes.map { (try? $0.get()) != nil } == [true, false, true, false])
            for (index, seat) in [(1, 2), (3, 1)] {
                #expect(throws: StoreRefusal.seatTaken(scheduleID: Int64(schedule), seatNo: seat)) {
                    try outcomes[index].get()
                }
            }
            for (seat, claims) in [(1, 1), (2, 1), (3, 0), (4, 1), (5, 1), (6, 0)] {
                #expect(try await service.database.int("SELECT COUNT(*) FROM seat_claims WHERE schedule_id = \(schedule) AND seat_no = \(seat) AND live = 1") == claims)
            }
            // The refused holds kept their queue entries.
            #expect(try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id IN (5303, 5305)") == 2)
        }
    }

    /// A spent queue token answers before a taken seat, and the refusal leaves the next hold of
    /// the same batch unharmed.
    @Test func sqliteNamesASpentTokenBeforeATakenSeat() async throws {
        try await TestService.withSQLite { service, api, storage in
            let schedule = try await api.createSchedule(seats: [("R", 10, 100)])
            #expect(try await api.hold(user: 5501, schedule: schedule, seats: [2]).status == .created)
            let seqs = try await Self.admit(Int64(5502)...5502, to: schedule, service, api)
            let batch = try [
                Self.pendingHold(user: 5502, seats: [2], of: schedule, queueSeq: 999_999),  // not the user's entry, and a taken seat
                Self.pendingHold(user: 5502, seats: [3], of: schedule, queueSeq: seqs[5502]!),
            ]
            let outcomes = try await SQLiteStorage.writeHolds(batch, pool: storage.pool)
            #expect(throws: StoreRefusal.queueEntryEnded) { try outcomes[0].get() }
            #expect(try outcomes[1].get().value.seatNumbers == [3])
        }
    }

    /// Should a write that the checks made safe fail anyway (here a seat count made wrong by
    /// hand), the batch is undone and written again with a savepoint per hold: the others commit.
    @Test func sqliteWritesABatchAgainInSavepointsWhenAWriteFailsUnexpectedly() async throws {
        try await TestService.withSQLite { service, api, storage in
            let broken = try await api.createSchedule(seats: [("R", 10, 100)])
            let sound = try await api.createSchedule(seats: [("R", 10, 100)])
            let seqs = try await Self.admit(Int64(5601)...5603, to: broken, service, api)
            try await service.database.execute("UPDATE schedules SET remaining_seats = 0 WHERE id = \(broken)")
            let batch = try [(5601, sound), (5602, broken), (5603, sound)].map { user, schedule in
                try Self.pendingHold(user: Int64(user), seats: [user - 5600], of: schedule, queueSeq: seqs[Int64(user)]!)
            }
            let outcomes = try await SQLiteStorage.writeHolds(batch, pool: storage.pool)
            #expect(outcomes.map { (try? $0.get()) != nil } == [true, false, true])
            #expect(try await service.database.int("SELECT COUNT(*) FROM reservations WHERE user_id = 5602") == 0)
            #expect(try await service.database.int("SELECT COUNT(*) FROM seat_claims WHERE schedule_id = \(broken)") == 0)
            #expect(try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id = 5602") == 1)
            #expect(try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id IN (5601, 5603)") == 0)
            try await service.database.execute("UPDATE schedules SET remaining_seats = 10 WHERE id = \(broken)")
        }
    }

    /// Every hold is judged by its own schedule's layout before it reaches a store: a seat out
    /// of range or an unknown schedule is refused without spending the queue entry.
    @Test(arguments: Backend.all)
    func holdsAreJudgedByTheirOwnScheduleBeforeTheStore(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let small = try await api.createSchedule(seats: [("R", 10, 100)])
            let large = try await api.createSchedule(seats: [("R", 20, 100)], performance: try await service.performance(ofSchedule: small))
            let token = try await api.admittedToken(user: 5401, schedule: small)
            let outOfRange = try await api.hold(user: 5401, schedule: small, seats: [12], queueToken: token)
            #expect(outOfRange.errorCode == "SEAT_OUT_OF_RANGE")
            #expect(outOfRange.errorMessage == "Seat 12 does not exist; schedule \(small) has seats 1 to 10.")
            #expect(try await api.hold(user: 5401, schedule: 999_999, seats: [1], queueToken: token).errorCode == "SCHEDULE_NOT_FOUND")
            #expect(try await service.database.int("SELECT COUNT(*) FROM reservations") == 0)
            #expect(try await api.hold(user: 5401, schedule: large, seats: [12], queueToken: token).status == .created)
        }
    }
}
