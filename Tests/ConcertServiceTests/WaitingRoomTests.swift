import Crypto
import Foundation
import Testing

@testable import ConcertService

/// The lowercase hex SHA-256 of `text`, computed here as a fan's tool would, not by the service.
func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}

/// `printf '%s' SEED | sha256sum`, the check the API guide gives fans.
func sha256sum(_ text: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sha256sum"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
    let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return String(printed.prefix(64))
}

/// A time as the API takes it.
func iso(_ date: Date) -> String { date.formatted(.iso8601) }

/// Per-performance waiting rooms: the draw and its check, admission per room, the caps from
/// the seats, abandonment and the gate.
@Suite struct WaitingRoomTests {
    /// A room opening now whose sale starts in an hour, paused so that positions hold still.
    @Test(arguments: Backend.all)
    func theDrawFollowsThePublishedRuleAndLaterJoinsQueueBehindIt(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let start = service.clock.now.addingTimeInterval(3600)
            let performance = try await api.createPerformance(
                sale: #"{"starts_at": "\#(iso(start))", "active_per_seat": 0, "abandon_after_s": 86400}"#)
            try await api.changeRoom(of: performance, #"{"paused": true}"#)
            let before = try await api.request(.get, "/v1/performances/\(performance)/room")
            #expect(before.string("state") == "prequeue")
            let draw = try #require(before.json["draw"] as? [String: Any])
            let commitment = try #require(draw["commitment"] as? String)
            #expect(commitment.count == 64)
            #expect(draw["seed"] is NSNull, "the seed stays secret until the draw")

            var entries: [String: String] = [:]  // entry id -> token
            for user in Int64(1)...30 {
                let joined = try await api.join(user: user, performance: performance)
                #expect(joined.status == .created)
                #expect(joined.string("status") == "prequeue")
                #expect(joined.json["position"] is NSNull)
                #expect(joined.json["estimated_wait_seconds"] is NSNull)
                #expect(joined.string("draw_at") == iso(start))
                entries[try #require(joined.string("entry_id"))] = try #require(joined.string("token"))
            }
            #expect(try await api.request(.get, "/v1/performances/\(performance)/room/draw").errorCode == "DRAW_PENDING")

            service.clock.advance(by: .seconds(3600))
            let seed = try #require(try await api.waitForDraw(of: performance))
            let published = try await api.request(.get, "/v1/performances/\(performance)/room/draw")
            #expect(published.status == .ok)
            let order = try #require(published.json["entries"] as? [String])
            // What a fan checks: the seed is the one committed to, and the order follows from it.
            #expect(published.string("commitment") == commitment)
            #expect(try sha256sum(seed) == commitment)
            #expect(order == entries.keys.sorted { sha256Hex("\(seed):\($0)") < sha256Hex("\(seed):\($1)") })
            #expect(Set(order) == Set(entries.keys))
            let room = try await api.request(.get, "/v1/performances/\(performance)/room")
            #expect(room.string("state") == "paused")
            #expect((room.json["draw"] as? [String: Any])?["entries"] as? Int == 30)

            // Each entry stands where the draw put it.
            for (index, entry) in order.enumerated() {
                let poll = try await api.poll(entries[entry])
                #expect(poll.string("status") == "waiting")
                #expect(poll.int("position") == index + 1, "entry \(index + 1) of the draw")
            }
            let late = try await api.join(user: 99, performance: performance)
            #expect(late.int("position") == 31, "a join after the draw queues behind every drawn entry")

            // Admission takes the draw's order: with five slots, its first five.
            try await api.changeRoom(of: performance, #"{"paused": false, "max_active": 5}"#)
            let admitted = try await eventually(within: .seconds(30)) {
                try await api.poll(entries[order[4]]).string("status") == "active"
            }
            #expect(admitted)
            for (index, entry) in order.enumerated() {
                let poll = try await api.poll(entries[entry])
                #expect(poll.string("status") == (index < 5 ? "active" : "waiting"))
            }
            #expect(try await api.poll(late.string("token")).int("position") == 26)
        }
    }

    /// The round that draws a room also admits its first entries: every instance must place
    /// them by the draw before it applies that admission.
    @Test(arguments: Backend.all)
    func theRoundThatDrawsAlsoAdmitsTheFrontOfTheDraw(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let start = service.clock.now.addingTimeInterval(3600)
            let performance = try await api.createPerformance(
                sale: #"{"starts_at": "\#(iso(start))", "active_per_seat": 0, "max_active": 2, "abandon_after_s": 86400}"#)
            var entries: [String: String] = [:]  // entry id -> token
            for user in Int64(1)...6 {
                let joined = try await api.join(user: user, performance: performance)
                entries[try #require(joined.string("entry_id"))] = try #require(joined.string("token"))
            }
            service.clock.advance(by: .seconds(3600))
            _ = try await api.waitForDraw(of: performance)
            let order = try #require(try await api.request(.get, "/v1/performances/\(performance)/room/draw").json["entries"] as? [String])
            let admitted = try await eventually(within: .seconds(30)) {
                try await api.poll(entries[order[1]]).string("status") == "active"
            }
            #expect(admitted, "the second of the draw is admitted")
            for (index, entry) in order.enumerated() {
                let poll = try await api.poll(entries[entry])
                #expect(poll.string("status") == (index < 2 ? "active" : "waiting"))
                if index >= 2 { #expect(poll.int("position") == index - 1) }
            }
        }
    }

    @Test(arguments: Backend.all)
    func twoRoomsNeverShareAPositionOrAToken(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let first = try await api.createPerformance()
            let second = try await api.createPerformance()
            for performance in [first, second] { try await api.changeRoom(of: performance, #"{"paused": true}"#) }
            var tokens = Set<String>()
            var entries = Set<String>()
            for user in Int64(1)...5 {
                // Every user waits in both rooms at once.
                for (room, performance) in [first, second].enumerated() {
                    let joined = try await api.join(user: user, performance: performance)
                    #expect(joined.int("performance_id") == performance)
                    #expect(joined.int("position") == Int(user), "room \(room + 1) counts its own entries only")
                    tokens.insert(try #require(joined.string("token")))
                    entries.insert(try #require(joined.string("entry_id")))
                }
            }
            #expect(tokens.count == 10)
            #expect(entries.count == 10)
            for performance in [first, second] {
                #expect(try await api.request(.get, "/v1/performances/\(performance)/room").int("waiting_total") == 5)
            }
        }
    }

    @Test(arguments: Backend.all)
    func aTokenOfOneRoomIsRefusedAtAnotherRoomsSeatMapAndHold(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let mine = try await api.createSchedule(seats: [("R", 5, 100)])
            let other = try await api.createSchedule(seats: [("R", 5, 100)])
            let token = try await api.admittedToken(user: 5, schedule: mine)
            let map = try await api.request(.get, "/v1/schedules/\(other)/seats", user: 5, queueToken: token)
            #expect(map.status == .forbidden)
            #expect(map.errorCode == "QUEUE_TOKEN_WRONG_PERFORMANCE")
            let hold = try await api.hold(user: 5, schedule: other, seats: [1], queueToken: token)
            #expect(hold.status == .forbidden)
            #expect(hold.errorCode == "QUEUE_TOKEN_WRONG_PERFORMANCE")
            // Nothing changed: the seat is free and the token still works in its own room.
            #expect(try await service.database.int("SELECT remaining_seats FROM schedule_remaining_seats WHERE schedule_id = \(other)") == 5)
            #expect(try await api.poll(token).string("status") == "active")
            #expect(try await api.request(.get, "/v1/schedules/\(mine)/seats", user: 5, queueToken: token).status == .ok)
            #expect(try await api.hold(user: 5, schedule: mine, seats: [1], queueToken: token).status == .created)
        }
    }

    /// Two seats: at most two active users; as they hold and pay, nobody else gets in; sold
    /// out, the room says so and takes no joins; a cancellation reopens it for the next in line.
    @Test(arguments: Backend.all)
    func theActiveCapFollowsTheSeatsAndTheRoomSellsOutAndReopens(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let performance = try await api.createPerformance(sale: #"{"active_per_seat": 1}"#)
            let schedule = try await api.createSchedule(seats: [("R", 2, 100)], performance: performance)
            try await api.waitForDraw(of: performance)
            var tokens: [Int64: String] = [:]
            for user in Int64(1)...5 { tokens[user] = try await api.join(user: user, performance: performance).string("token") }
            func active() async throws -> [Int64] {
                var active: [Int64] = []
                for user in tokens.keys.sorted() where try await api.poll(tokens[user]).string("status") == "active" { active.append(user) }
                return active
            }
            #expect(try await eventually(within: .seconds(30)) { try await active().count == 2 })
            let admitted = try await active()
            try await Task.sleep(for: .milliseconds(200))  // ten more ticks admit nobody
            #expect(try await active() == admitted)
            #expect(try await api.request(.get, "/v1/performances/\(performance)/room").int("active_total") == 2)

            var reservations: [Int] = []
            for (seat, user) in admitted.enumerated() {
                let held = try await api.hold(user: user, schedule: schedule, seats: [seat + 1], queueToken: tokens[user])
                #expect(held.status == .created)
                _ = try await api.charge(user: user, amount: 100)
                let id = try #require(held.int("id"))
                #expect(try await api.request(.post, "/v1/reservations/\(id)/payment", user: user).status == .ok)
                reservations.append(id)
            }
            let waiting = try #require(tokens.keys.sorted().first { !admitted.contains($0) })
            #expect(try await eventually(within: .seconds(30)) {
                try await api.request(.get, "/v1/performances/\(performance)/room").string("state") == "sold_out"
            })
            #expect(try await eventually(within: .seconds(30)) { try await api.poll(tokens[waiting]).string("status") == "sold_out" })
            let late = try await api.join(user: 9, performance: performance)
            #expect(late.status == .conflict)
            #expect(late.errorCode == "SOLD_OUT")

            #expect(try await api.request(.post, "/v1/reservations/\(reservations[0])/cancel", user: admitted[0]).status == .ok)
            #expect(try await eventually(within: .seconds(30)) { try await api.poll(tokens[waiting]).string("status") == "active" })
            #expect(try await api.request(.get, "/v1/performances/\(performance)/room").string("state") == "open")
            #expect(try await active() == [waiting], "one seat back lets one user in, the next in line")
            try await checkInvariants(service)
        }
    }

    /// An entry not seen for longer than abandon_after_s when its turn comes is passed over,
    /// and its token says why; the one behind it, which kept polling, is admitted.
    @Test(arguments: Backend.all)
    func anAbandonedEntryIsPassedOverAndToldSo(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let performance = try await api.createPerformance(sale: #"{"active_per_seat": 0, "abandon_after_s": 60}"#)
            try await api.waitForDraw(of: performance)
            try await api.changeRoom(of: performance, #"{"paused": true}"#)
            let gone = try #require(try await api.join(user: 1, performance: performance).string("token"))
            let present = try #require(try await api.join(user: 2, performance: performance).string("token"))
            service.clock.advance(by: .seconds(61))
            #expect(try await api.poll(present).int("position") == 2)
            // The poll reaches the database at the next tick.
            #expect(try await eventually(within: .seconds(30)) {
                try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id = 2 AND seen_at > joined_at") == 1
            })
            try await api.changeRoom(of: performance, #"{"paused": false}"#)
            #expect(try await eventually(within: .seconds(30)) { try await api.poll(present).string("status") == "active" })
            let told = try await api.poll(gone)
            #expect(told.status == .gone)
            #expect((told.json["error"] as? [String: Any])?["reason"] as? String == "abandoned")
            #expect(try await api.request(.get, "/v1/performances/\(performance)/room").int("admitted_total") == 1)
            #expect(try await service.database.int("SELECT CAST(SUM(abandoned_count) AS BIGINT) FROM queue_admissions") == 1)
        }
    }

    @Test(arguments: Backend.all)
    func roomsAreValidatedAndShownToOrganisers(_ backend: Backend) async throws {
        let service = try await TestService(backend) { $0.admitPerTick = 7 }
        try await service.run { api in
            let now = service.clock.now
            for bad in [
                #"{"prequeue_opens_at": "\#(iso(now.addingTimeInterval(60)))", "starts_at": "\#(iso(now))"}"#,
                #"{"active_per_seat": -1}"#, #"{"admit_per_tick": 0}"#, #"{"abandon_after_s": 0}"#, #"{"tick_ms": "fast"}"#,
            ] {
                let refused = try await api.request(
                    .post, "/v1/admin/performances", user: 1, admin: true, body: #"{"title": "T", "performer": "P", "sale": \#(bad)}"#)
                #expect(refused.status.code / 100 == 4, "\(bad)")
                #expect(["INVALID_ROOM", "INVALID_BODY"].contains(refused.errorCode ?? ""), "\(bad)")
            }
            #expect(try await service.database.int("SELECT COUNT(*) FROM rooms") == 0, "nothing was created")
            let opens = now.addingTimeInterval(600)
            let performance = try await api.createPerformance(
                sale: #"{"prequeue_opens_at": "\#(iso(opens))", "starts_at": "\#(iso(opens.addingTimeInterval(600)))", "active_per_seat": 0.5}"#)
            let scheduled = try await api.join(user: 3, performance: performance)
            #expect(scheduled.status == .conflict)
            #expect(scheduled.errorCode == "ROOM_NOT_OPEN")
            #expect(scheduled.errorMessage?.contains(iso(opens)) == true)
            #expect(try await api.join(user: 3, performance: 999_999).errorCode == "PERFORMANCE_NOT_FOUND")
            #expect(try await api.request(.post, "/v1/queue/tokens", user: 3, body: "{}").errorCode == "INVALID_BODY")

            let view = try await api.request(.get, "/v1/admin/performances/\(performance)/room", user: 1, admin: true)
            let settings = try #require(view.json["settings"] as? [String: Any])
            #expect(view.string("state") == "scheduled")
            #expect(settings["admit_per_tick"] as? Int == 7, "unset, the service's pace")
            #expect(settings["active_per_seat"] as? Double == 0.5)
            #expect(try await api.request(.get, "/v1/admin/performances/\(performance)/room", user: 2).status == .forbidden)
            #expect(try await api.request(.patch, "/v1/admin/performances/\(performance)/room", user: 1, admin: true,
                                          body: #"{"max_active": -3}"#).errorCode == "INVALID_ROOM")
            let changed = try await api.changeRoom(of: performance, #"{"admit_per_tick": 3, "paused": true}"#)
            #expect((changed.json["settings"] as? [String: Any])?["admit_per_tick"] as? Int == 3)
            #expect(try await api.request(.patch, "/v1/admin/performances/999999/room", user: 1, admin: true, body: "{}").status == .notFound)
            #expect(try await api.request(.get, "/v1/performances/999999/room").status == .notFound)
            #expect(try await api.request(.get, "/v1/performances/999999/room/draw").errorCode == "PERFORMANCE_NOT_FOUND")
            // A setting may be left out, not sent as null.
            #expect(try await api.request(.patch, "/v1/admin/performances/\(performance)/room", user: 1, admin: true,
                                          body: #"{"abandon_after_s": null}"#).errorCode == "INVALID_BODY")
            #expect(try await api.request(.post, "/v1/admin/performances", user: 1, admin: true,
                                          body: #"{"title": "t", "performer": "p", "sale": null}"#).errorCode == "INVALID_BODY")
        }
    }
}

/// Rooms on one PostgreSQL database shared by three instances.
@Suite struct SharedRoomTests {
    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func aDrawThroughThreeInstancesHappensOnceAndEveryInstanceAgrees() async throws {
        let first = try await TestService(.postgres)
        let second = try await TestService(sharingDatabaseOf: first)
        let third = try await TestService(sharingDatabaseOf: first)
        try await first.run { one in
            try await second.run { two in
                try await third.run { three in
                    let instances = [one, two, three]
                    let start = first.clock.now.addingTimeInterval(3600)
                    let performance = try await one.createPerformance(sale: #"{"starts_at": "\#(iso(start))", "active_per_seat": 0}"#)
                    try await one.changeRoom(of: performance, #"{"paused": true}"#)
                    var entries: [String: String] = [:]
                    for user in Int64(1)...60 {
                        let joined = try await instances[Int(user) % 3].join(user: user, performance: performance)
                        #expect(joined.string("status") == "prequeue")
                        entries[try #require(joined.string("entry_id"))] = try #require(joined.string("token"))
                    }
                    // The sale starts, on every instance's clock.
                    for service in [first, second, third] { service.clock.advance(by: .seconds(3600)) }
                    var seeds = Set<String>()
                    for api in instances { seeds.insert(try #require(try await api.waitForDraw(of: performance))) }
                    #expect(seeds.count == 1)
                    let order = try #require(try await two.request(.get, "/v1/performances/\(performance)/room/draw").json["entries"] as? [String])
                    let seed = try #require(seeds.first)
                    #expect(order == entries.keys.sorted { sha256Hex("\(seed):\($0)") < sha256Hex("\(seed):\($1)") })
                    let database = first.database
                    #expect(try await database.int("SELECT COUNT(*) FROM room_draw_entries") == 60, "drawn once")
                    #expect(try await database.int("SELECT COUNT(*) FROM rooms WHERE draw_entries = 60 AND draw_no = 1") == 1)
                    // Every instance answers every token with its place in the draw.
                    let agreed = try await eventually(within: .seconds(30)) {
                        for (index, entry) in order.enumerated() {
                            for api in instances where try await api.poll(entries[entry]).int("position") != index + 1 { return false }
                        }
                        return true
                    }
                    #expect(agreed, "the instances answer the draw's positions")
                }
            }
        }
        try await checkInvariants(first.database)
    }

    /// Joins keep arriving on two instances while a room with a large pre-queue is drawn: each
    /// one lands either in the draw (a place it took at the join) or behind it, never in
    /// between, which a join that took its place while the draw ran would be.
    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func joinsRacingTheDrawLandInItOrBehindIt() async throws {
        let first = try await TestService(.postgres)
        let second = try await TestService(sharingDatabaseOf: first)
        let database = first.database
        try await first.run(alongside: second) { one, two in
            let start = first.clock.now.addingTimeInterval(60)
            let performance = try await one.createPerformance(sale: #"{"starts_at": "\#(iso(start))", "active_per_seat": 0}"#)
            try await one.changeRoom(of: performance, #"{"paused": true}"#)
            // A pre-queue, each entry at its place in the draw and in its list, as joins leave them.
            try await database.execute("""
                WITH counter AS (UPDATE queue_counter SET last_seq = last_seq + 20000 RETURNING last_seq),
                entries AS (SELECT g, md5(g::text || random()::text) AS entry_id FROM generate_series(1, 20000) g),
                written AS (
                    INSERT INTO queue_entries (seq, performance_id, user_id, entry_id, joined_at, seen_at, place)
                    SELECT counter.last_seq - 20000 + g, \(performance), 1000000 + g, entry_id, 0, 0, draw_place(r.seed, entry_id)
                    FROM counter, entries, rooms r WHERE r.performance_id = \(performance) RETURNING performance_id, place, entry_id)
                INSERT INTO room_draw_entries (performance_id, place, entry_id) SELECT * FROM written
                """)
            let joined = try await withThrowingTaskGroup(of: Int.self) { group in
                for joiner in Int64(0)..<16 {
                    group.addTask {
                        var count = 0
                        var user = joiner * 100_000
                        // Until the draw is in the database, and some more joins after it.
                        var joinsAfter = 5
                        while joinsAfter > 0 {
                            if try await database.int("SELECT COUNT(*) FROM rooms WHERE drawn_at IS NOT NULL") == 1 { joinsAfter -= 1 }
                            user += 1
                            let reply = try await (joiner % 2 == 0 ? one : two).join(user: user, performance: performance)
                            guard reply.status == .created else {
                                Issue.record("join answered \(reply.status): \(reply.json)")
                                return count
                            }
                            count += 1
                        }
                        return count
                    }
                }
                // The sale starts while they join, once some have joined before it (a short step,
                // so their credentials stay valid).
                let someJoined = try await eventually(within: .seconds(30)) {
                    try await database.int("SELECT COUNT(*) FROM queue_entries WHERE performance_id = \(performance)") ?? 0 > 20000 + 16
                }
                #expect(someJoined)
                for service in [first, second] { service.clock.advance(by: .seconds(60)) }
                return try await group.reduce(0, +)
            }
            #expect(joined >= 16 * 5)
            let inDraw = try #require(try await database.int("SELECT draw_entries FROM rooms WHERE performance_id = \(performance)"))
            #expect(inDraw > 20000, "joins before the sale's start are in the draw")
            #expect(inDraw < 20000 + joined, "joins after it are not")
            // The draw counted its whole list, every entry with a place in the draw is in it, and
            // every other waits behind it.
            #expect(try await database.int("SELECT COUNT(*) FROM room_draw_entries WHERE performance_id = \(performance)") == inDraw)
            #expect(try await database.int("""
                SELECT COUNT(*) FROM queue_entries q
                WHERE (q.place < 0) != EXISTS (SELECT 1 FROM room_draw_entries d WHERE d.entry_id = q.entry_id)
                """) == 0)
        }
        try await checkInvariants(first.database)
    }
}
