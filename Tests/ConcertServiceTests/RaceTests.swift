import Foundation
import Testing

@testable import ConcertService

/// Concurrency claims, proven by requests that really race on a real database, then checked
/// against the database.
@Suite struct RaceTests {
    @Test(arguments: Backend.all)
    func hundredUsersRaceForOneSeat(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 10, 100)])
            let users = Array(Int64(1000)..<1100)
            let tokens = try await withThrowingTaskGroup(of: (Int64, String).self) { group in
                for user in users { group.addTask { (user, try await api.admittedToken(user: user, schedule: schedule)) } }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for user in users {
                    group.addTask { try await api.hold(user: user, schedule: schedule, seats: [7], queueToken: tokens[user]).status.code }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 1)
            #expect(statuses.filter { $0 == 409 }.count == 99)
            try await checkInvariants(service)
            let remaining = try await service.database.int("SELECT remaining_seats FROM schedule_remaining_seats WHERE schedule_id = \(schedule)")
            #expect(remaining == 9)
        }
    }

    @Test(arguments: Backend.all)
    func sixtyHoldsOfDifferentSeatsAllSucceed(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 60, 100)])
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for seat in 1...60 {
                    group.addTask { try await api.hold(user: Int64(2000 + seat), schedule: schedule, seats: [seat]).status.code }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 201, count: 60))
            try await checkInvariants(service)
            let remaining = try await service.database.int("SELECT remaining_seats FROM schedule_remaining_seats WHERE schedule_id = \(schedule)")
            #expect(remaining == 0)
        }
    }

    @Test(arguments: Backend.all, [false, true])
    func twentyConcurrentPaymentsDebitOnce(_ backend: Backend, withIdempotencyKey: Bool) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("VIP", 4, 1000)])
            let id = try #require(try await api.hold(user: 3000, schedule: schedule, seats: [1, 2]).int("id"))
            _ = try await api.charge(user: 3000, amount: 10_000)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        // As a client does: a CONTENDED answer (a lock wait that ran out on a busy
                        // machine) is transient, and retried.
                        for _ in 0..<20 {
                            let reply = try await api.request(
                                .post, "/v1/reservations/\(id)/payment", user: 3000, idempotencyKey: withIdempotencyKey ? "pay-once" : nil)
                            if reply.errorCode != "CONTENDED" { return reply.status.code }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        return 0
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            if withIdempotencyKey {
                #expect(statuses == Array(repeating: 200, count: 20))  // every retry gets the first answer
            } else {
                #expect(statuses.filter { $0 == 200 }.count == 1)
                #expect(statuses.filter { $0 == 409 }.count == 19)
            }
            #expect(try await api.request(.get, "/v1/wallet", user: 3000).int("balance") == 8000)
            let payments = try await service.database.int(
                "SELECT COUNT(*) FROM wallet_entries WHERE kind = 'payment' AND reservation_id = \(id)")
            #expect(payments == 1)
            try await checkInvariants(service)
        }
    }

    @Test(arguments: Backend.all)
    func expiredHoldsReleaseTheirSeatsAndCannotBePaid(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 3, 100)])
            let held = try await api.hold(user: 4000, schedule: schedule, seats: [1, 2])
            let id = try #require(held.int("id"))
            _ = try await api.charge(user: 4000, amount: 1000)
            service.clock.advance(by: service.config.holdDuration + .seconds(1))

            let payment = try await api.request(.post, "/v1/reservations/\(id)/payment", user: 4000)
            #expect(payment.status == .gone)
            #expect(payment.errorCode == "HOLD_EXPIRED")
            #expect(try await api.request(.get, "/v1/reservations/\(id)", user: 4000).string("state") == "expired")
            #expect(try await api.request(.get, "/v1/wallet", user: 4000).int("balance") == 1000)
            let released = try await eventually(within: .seconds(10)) {
                try await service.database.string("SELECT state FROM reservations WHERE id = \(id)") == "expired"
            }
            #expect(released, "the sweeper released the hold")
            // Another user can now take the seats.
            #expect(try await api.hold(user: 4001, schedule: schedule, seats: [1, 2]).status == .created)
            try await checkInvariants(service)
        }
    }

    /// A hundred users each want two seats that overlap their neighbours' pairs, all at once,
    /// through two instances (so each instance's memory of claims knows only half): a hold
    /// gets both its seats or neither, and a refused one leaves its queue token active.
    @Test(arguments: Backend.all)
    func overlappingPairsAreAllOrNothing(_ backend: Backend) async throws {
        let first = try await TestService(backend)
        let second = try await TestService(sharingDatabaseOf: first)
        try await first.run(alongside: second) { one, two in
            let schedule = try await one.createSchedule(seats: [("R", 101, 100)])
            let users = Array(Int64(4200)..<4300)
            let api: @Sendable (Int64) -> TestDriver = { user in user % 2 == 0 ? one : two }
            let tokens = try await withThrowingTaskGroup(of: (Int64, String).self) { group in
                for user in users { group.addTask { (user, try await api(user).admittedToken(user: user, schedule: schedule)) } }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            let statuses = try await withThrowingTaskGroup(of: (Int64, Int).self) { group in
                for user in users {
                    let seats = [Int(user - 4200) + 1, Int(user - 4200) + 2]
                    group.addTask {
                        (user, try await api(user).hold(user: user, schedule: schedule, seats: seats, queueToken: tokens[user]).status.code)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            let held = statuses.filter { $0.value == 201 }.count
            #expect(held > 0)
            #expect(statuses.values.allSatisfy { $0 == 201 || $0 == 409 })
            let claimed = try await first.database.int("SELECT COUNT(*) FROM seat_claims WHERE schedule_id = \(schedule) AND live = 1")
            #expect(claimed == 2 * held)
            for (user, status) in statuses where status == 409 {
                let poll = try await api(user).request(.get, "/v1/queue/tokens/current", queueToken: tokens[user])
                #expect(poll.string("status") == "active", "user \(user)'s refused hold spent the token")
            }
            try await checkInvariants(first)
        }
    }

    @Test(arguments: Backend.all)
    func aLapsedHoldsSeatsAreFreeEvenBeforeTheSweeperRuns(_ backend: Backend) async throws {
        let service = try await TestService(backend) {
            $0.holdSweepInterval = .seconds(3600)  // the sweeper never gets there in this test
        }
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 2, 100)])
            #expect(try await api.hold(user: 4100, schedule: schedule, seats: [1]).status == .created)
            service.clock.advance(by: service.config.holdDuration + .seconds(1))
            let token = try await api.admittedToken(user: 4101, schedule: schedule)
            let map = try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 4101, queueToken: token)
            #expect(map.int("remaining_seats") == 2)
            #expect((map.json["seats"] as? [[String: Any]])?.first?["status"] as? String == "available")
            #expect(try await api.hold(user: 4101, schedule: schedule, seats: [1], queueToken: token).status == .created)
            try await checkInvariants(service)
        }
    }

    @Test(arguments: Backend.all)
    func anotherUsersReservationAndWalletAreOutOfReach(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 2, 100)])
            let id = try #require(try await api.hold(user: 5000, schedule: schedule, seats: [1]).int("id"))
            _ = try await api.charge(user: 5000, amount: 500)
            _ = try await api.charge(user: 5001, amount: 500)
            #expect(try await api.request(.get, "/v1/reservations/\(id)", user: 5001).status == .notFound)
            #expect(try await api.request(.post, "/v1/reservations/\(id)/payment", user: 5001).status == .notFound)
            #expect(try await api.request(.post, "/v1/reservations/\(id)/cancel", user: 5001).status == .notFound)
            let theirs = try await api.request(.get, "/v1/reservations", user: 5001)
            #expect((theirs.json["reservations"] as? [Any])?.isEmpty == true)
            let ledger = try await api.request(.get, "/v1/wallet/entries", user: 5001)
            #expect((ledger.json["entries"] as? [[String: Any]])?.count == 1)
            // Untouched: still held, and the owner's wallet still whole.
            #expect(try await api.request(.get, "/v1/reservations/\(id)", user: 5000).string("state") == "pending")
            #expect(try await api.request(.get, "/v1/wallet", user: 5000).int("balance") == 500)
        }
    }

    /// Joins are written in batches: 300 users join at once, 30 of them twice. Each user ends
    /// with one queue entry, and each user's token (the later one, for those who joined twice)
    /// is answered.
    @Test(arguments: Backend.all)
    func threeHundredUsersJoinAtOnce(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let performance = try await api.createPerformance()
            let users = Array(Int64(7000)..<7300)
            let joins = users + users.prefix(30)
            let tokens = try await withThrowingTaskGroup(of: (Int64, String?).self) { group in
                for user in joins {
                    group.addTask { (user, try await api.join(user: user, performance: performance).string("token")) }
                }
                return try await group.reduce(into: [Int64: [String]]()) { tokens, joined in
                    tokens[joined.0, default: []].append(try #require(joined.1))
                }
            }
            #expect(try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id BETWEEN 7000 AND 7299") == 300)
            #expect(try await service.database.int("SELECT COUNT(DISTINCT user_id) FROM queue_entries WHERE user_id BETWEEN 7000 AND 7299") == 300)
            for user in users {
                var answered = 0
                for token in tokens[user] ?? [] {
                    if try await api.request(.get, "/v1/queue/tokens/current", queueToken: token).status == .ok { answered += 1 }
                }
                #expect(answered >= 1, "user \(user)")
            }
        }
    }

    @Test(arguments: Backend.all)
    func aRestartLosesNothing(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        let (token, id) = try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 2, 100)])
            let id = try #require(try await api.hold(user: 6000, schedule: schedule, seats: [2]).int("id"))
            _ = try await api.charge(user: 6000, amount: 300)
            let waiting = try #require(try await api.join(user: 6001, performance: try await service.performance(ofSchedule: schedule)).string("token"))
            return (waiting, id)
        }
        // A second process' view: a new system on the same database.
        let restarted = try await TestService(sharingDatabaseOf: service)
        try await restarted.run { (api: TestDriver) async throws in
            #expect(try await api.request(.get, "/v1/reservations/\(id)", user: 6000).string("state") == "pending")
            #expect(try await api.request(.get, "/v1/wallet", user: 6000).int("balance") == 300)
            #expect(try await api.request(.get, "/v1/queue/tokens/current", queueToken: token).status == .ok)
        }
    }
}
