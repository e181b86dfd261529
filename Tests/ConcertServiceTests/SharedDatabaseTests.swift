import Foundation
import Logging
import PostgresNIO
import Testing

@testable import ConcertService

/// Several instances on one database, in one process: two complete systems (board, admitter,
/// sweeper each) share a database, as separate `concert serve` processes would.
@Suite struct SharedDatabaseTests {
    /// Two instances with one active user at a time and a long activity: the line stands
    /// still after the first admission.
    static func twoInstancesOfAStillLine(_ backend: Backend) async throws -> (TestService, TestService) {
        let configure: (inout AppConfiguration) -> Void = {
            $0.maxActive = 1
            $0.activeDuration = .seconds(3600)
        }
        let first = try await TestService(backend, configure: configure)
        return (first, try await TestService(sharingDatabaseOf: first, configure: configure))
    }

    @Test(arguments: Backend.all)
    func joinsOnEitherInstanceShareOneOrder(_ backend: Backend) async throws {
        let (first, second) = try await Self.twoInstancesOfAStillLine(backend)
        try await first.run(alongside: second) { one, two in
            let performance = try await one.createPerformance()
            var tokens: [String] = []
            for user in Int64(1)...20 {
                let api = user % 2 == 0 ? one : two
                tokens.append(try #require(try await api.join(user: user, performance: performance).string("token")))
            }
            // Both boards follow the database every tick; on a loaded machine that can take a while.
            try await waitUntilBothBoardsAgree(one, two, on: tokens)
            for (index, token) in tokens.enumerated() {
                let here = try await one.request(.get, "/v1/queue/tokens/current", queueToken: token)
                let there = try await two.request(.get, "/v1/queue/tokens/current", queueToken: token)
                if index == 0 {
                    #expect(here.string("status") == "active")
                } else {
                    #expect(here.int("position") == index, "user \(index + 1) joined \(index + 1)th")
                }
                #expect(here.string("status") == there.string("status"))
                #expect(here.int("position") == there.int("position"))
            }
        }
    }

    @Test(arguments: Backend.all)
    func simultaneousJoinsOnBothInstancesGetOnePlaceEach(_ backend: Backend) async throws {
        let (first, second) = try await Self.twoInstancesOfAStillLine(backend)
        let users = Array(Int64(1)...150)
        try await first.run(alongside: second) { one, two in
            let performance = try await one.createPerformance()
            // Every user joins on both instances at once, a third of them twice on each.
            let tokens = try await withThrowingTaskGroup(of: (Int64, String).self) { group in
                for user in users {
                    for api in user % 3 == 0 ? [one, two, one, two] : [one, two] {
                        group.addTask {
                            let joined = try await api.join(user: user, performance: performance)
                            return (user, try #require(joined.string("token"), "\(joined.status)"))
                        }
                    }
                }
                return try await group.reduce(into: [Int64: Set<String>]()) { $0[$1.0, default: []].insert($1.1) }
            }
            try await waitUntilBothBoardsAgree(one, two, on: tokens.values.flatMap { $0 })
            var positions = Set<Int>()
            for user in users {
                // Exactly one of a user's tokens still works, at the same place on both instances.
                var working: [Int] = []
                for token in tokens[user] ?? [] {
                    let here = try await one.request(.get, "/v1/queue/tokens/current", queueToken: token)
                    let there = try await two.request(.get, "/v1/queue/tokens/current", queueToken: token)
                    #expect(here.status == there.status)
                    #expect(here.int("position") == there.int("position"))
                    if here.status == .ok { working.append(here.int("position") ?? 0) }
                }
                #expect(working.count == 1, "user \(user) has \(working.count) working tokens")
                positions.formUnion(working)
            }
            #expect(positions.count == users.count, "two users share a place in the line")
        }
        #expect(try await first.database.int("SELECT COUNT(*) FROM queue_entries") == users.count)
        #expect(try await first.database.int("SELECT COUNT(DISTINCT seq) FROM queue_entries") == users.count)
    }

    @Test(arguments: Backend.all)
    func oneInstanceAdmitsAtTheConfiguredPace(_ backend: Backend) async throws {
        let configure: (inout AppConfiguration) -> Void = {
            $0.queueTick = .milliseconds(50)
            $0.admitPerTick = 3
        }
        let first = try await TestService(backend, configure: configure)
        let second = try await TestService(sharingDatabaseOf: first, configure: configure)
        try await first.run(alongside: second) { one, two in
            let performance = try await one.createPerformance()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for user in Int64(1)...30 {
                    group.addTask {
                        let token = try await (user % 2 == 0 ? one : two).admittedToken(user: user, performance: performance)
                        // Admitted on one instance means admitted on the other too, within a tick.
                        for _ in 0..<50 {
                            let other = try await (user % 2 == 0 ? two : one).request(
                                .get, "/v1/queue/tokens/current", queueToken: token)
                            if other.string("status") == "active" { return }
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        Issue.record("user \(user) is active on one instance only")
                    }
                }
                try await group.waitForAll()
            }
        }
        let database = first.database
        #expect(try await admitterHandoversWithinALease(database) == 0, "two instances admitted within one lease")
        #expect(try await database.int("SELECT MAX(admitted_count) FROM queue_admissions") == 3)
        #expect(try await database.int("SELECT CAST(SUM(admitted_count) AS BIGINT) FROM queue_admissions") == 30)
        #expect(try await database.int("SELECT COUNT(*) FROM queue_admissions") ?? 0 >= 10)
    }

    @Test(arguments: Backend.all)
    func twoSweepersReleaseEachExpiredHoldOnceAndNeverAPaidOne(_ backend: Backend) async throws {
        // Both instances sweep; holds made through `lasting` outlive the test, those made
        // through `lapsing` lapse within a second.
        let lasting = try await TestService(backend) { $0.holdSweepInterval = .milliseconds(20) }
        let lapsing = try await TestService(sharingDatabaseOf: lasting) {
            $0.holdDuration = .seconds(1)
            $0.holdSweepInterval = .milliseconds(20)
        }
        let database = lasting.database
        try await lasting.run { one in
            try await lapsing.run { two in
                let schedule = try await one.createSchedule(seats: [("R", 40, 100)])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for seat in 1...40 {
                        group.addTask {
                            let user = Int64(7000 + seat)
                            guard seat <= 5 else {
                                #expect(try await two.hold(user: user, schedule: schedule, seats: [seat]).status == .created)
                                return
                            }
                            _ = try await one.charge(user: user, amount: 100)
                            let id = try #require(try await one.hold(user: user, schedule: schedule, seats: [seat]).int("id"))
                            let payment = try await one.request(.post, "/v1/reservations/\(id)/payment", user: user)
                            #expect(payment.status == .ok, "\(payment.status) \(payment.errorCode ?? "")")
                        }
                    }
                    try await group.waitForAll()
                }
                for _ in 0..<100 where try await database.int("SELECT COUNT(*) FROM reservations WHERE state = 'pending'") != 0 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        #expect(try await database.int("SELECT COUNT(*) FROM reservations WHERE state = 'expired'") == 35)
        #expect(try await database.int("SELECT COUNT(*) FROM reservations WHERE state = 'confirmed'") == 5)
        #expect(try await database.int("SELECT remaining_seats FROM schedule_remaining_seats") == 35)
        try await checkInvariants(database)
    }

    /// A seat held through one instance is refused through the other, by the transaction when
    /// one user asks and by the lock-free read while a crowd waits; the holder's retry with its
    /// Idempotency-Key still gets its reservation there.
    @Test(arguments: Backend.all)
    func aSeatHeldThroughOneInstanceIsRefusedThroughTheOther(_ backend: Backend) async throws {
        let first = try await TestService(backend)
        let second = try await TestService(sharingDatabaseOf: first)
        try await first.run(alongside: second) { one, two in
            let schedule = try await one.createSchedule(seats: [("R", 10, 100)])
            let token = try await one.admittedToken(user: 1, schedule: schedule)
            let held = try await one.hold(user: 1, schedule: schedule, seats: [5], queueToken: token, idempotencyKey: "seat-5")
            #expect(held.status == .created)

            let alone = try await two.hold(user: 2, schedule: schedule, seats: [5])
            #expect(alone.status == .conflict)
            #expect(alone.errorCode == "SEAT_UNAVAILABLE")

            let crowd = Array(Int64(10)..<40)
            var tokens: [Int64: String] = [:]
            for user in crowd { tokens[user] = try await two.admittedToken(user: user, schedule: schedule) }
            let refusals = try await withThrowingTaskGroup(of: String?.self) { group in
                for user in crowd {
                    group.addTask { [tokens] in
                        try await two.hold(user: user, schedule: schedule, seats: [5], queueToken: tokens[user]).errorCode
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(refusals == Array(repeating: "SEAT_UNAVAILABLE", count: crowd.count))

            let replay = try await two.hold(user: 1, schedule: schedule, seats: [5], queueToken: token, idempotencyKey: "seat-5")
            #expect(replay.status == .created)
            #expect(replay.int("id") == held.int("id"))
        }
        #expect(try await first.database.int("SELECT COUNT(*) FROM seat_claims WHERE seat_no = 5 AND live = 1") == 1)
        try await checkInvariants(first)
    }

    /// A hold that waits on a row lock longer than `lock_timeout` answers 409 CONTENDED,
    /// changes nothing, and succeeds when retried.
    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func aLockWaitPastTheTimeoutIsARetryableConflict() async throws {
        let service = try await TestService(.postgres) { $0.lockTimeout = .milliseconds(200) }
        let schema = try #require(service.database.postgresSchema)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 5, 100)])
            let token = try await api.admittedToken(user: 9000, schedule: schedule)
            let blocked = try await TestPostgres.shared.withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: TestPostgres.logger)
                try await connection.query("BEGIN", logger: TestPostgres.logger)
                // Another transaction holds the schedule's seat counts, as a slow writer would.
                _ = try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT * FROM schedule_seat_counts WHERE schedule_id = \(schedule) FOR UPDATE"),
                    logger: TestPostgres.logger
                ).collect()
                let reply = try await api.hold(user: 9000, schedule: schedule, seats: [1], queueToken: token)
                try await connection.query("ROLLBACK", logger: TestPostgres.logger)
                return reply
            }
            #expect(blocked.status == .conflict)
            #expect(blocked.errorCode == "CONTENDED")
            #expect(blocked.headers[.retryAfter] == "1")
            #expect(try await service.database.int("SELECT COUNT(*) FROM reservations") == 0)
            #expect(try await api.hold(user: 9000, schedule: schedule, seats: [1], queueToken: token).status == .created)
            try await checkInvariants(service)
        }
    }
}

/// Waits (at most 30 s) until both instances answer the same for every token: each board has
/// followed the database past every join.
func waitUntilBothBoardsAgree(_ one: TestDriver, _ two: TestDriver, on tokens: [String]) async throws {
    let agreed = try await eventually(within: .seconds(30)) {
        for token in tokens {
            let here = try await one.request(.get, "/v1/queue/tokens/current", queueToken: token)
            let there = try await two.request(.get, "/v1/queue/tokens/current", queueToken: token)
            if here.status != there.status || here.int("position") != there.int("position") { return false }
        }
        return true
    }
    #expect(agreed, "the two boards never agreed")
}
