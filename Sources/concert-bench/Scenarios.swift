import AsyncHTTPClient
import ConcertService
import Foundation
import NIOHTTP1
import Synchronization

/// Bounds of every scenario, from the command line.
struct BenchSettings: Sendable {
    var concurrency = 64
    var duration: Duration = .seconds(10)
    var poolSize = 16
    var pollTokens = 5_000
    var holdSeats = 20_000
    var hotSeatHolders = 1_000
    var flashUsers = 10_000
    var flashSeats = 2_000
    var queueJoins = 1_000_000
    var drawEntries = 1_000_000
    var drawRooms = 100
    var queueStreams = 10_000
    var seatStreams = 2_000
}

/// The seven scenarios of the benchmark on one backend. Each gets a fresh database and a fresh
/// server process, so no scenario measures another's leftovers.
struct Scenarios {
    let backend: Backend
    let settings: BenchSettings
    let postgresURL: String?
    let directory: URL
    let report: Report
    let load: LoadGenerator
    let secret = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined(separator: "-")

    /// Starts a server on a fresh database with `environment`, runs `body`, stops the server.
    private func withServer(
        _ name: String, environment: [String: String],
        _ body: (SaleAPI, BenchServer, ScenarioDatabase) async throws -> Void
    ) async throws {
        print("\n[\(backend.rawValue)] \(name)")
        // What earlier scenarios wrote is flushed now, not by the kernel's background writeback
        // (30 s later) in the middle of this scenario's measurements.
        sync()
        let database = try await ScenarioDatabase.create(backend, directory: directory, postgresURL: postgresURL, name: name)
        let server = try startServer(database, environment: environment, name: name)
        let outcome: Result<Void, any Error>
        do {
            try await server.waitUntilReady(load)
            let api = SaleAPI(load: load, baseURL: server.baseURL, credentials: await Credentials(secret: secret))
            try await body(api, server, database)
            outcome = .success(())
        } catch {
            print("  server log:\n\(server.logTail)")
            outcome = .failure(error)
        }
        server.stop()
        await database.close()
        try outcome.get()
    }

    /// A server process of a scenario; another one started on the same database is a second instance.
    private func startServer(_ database: ScenarioDatabase, environment: [String: String], name: String) throws -> BenchServer {
        try BenchServer(
            database: database, secret: secret,
            environment: environment.merging(["DATABASE_POOL_SIZE": "\(settings.poolSize)"]) { $1 },
            directory: directory, name: "\(backend.rawValue)-\(name)")
    }

    private func figure(
        _ scenario: String, _ name: String, _ value: Double, _ unit: String,
        baseline: (name: String, value: Double)? = nil, target: String? = nil, met: Bool? = nil
    ) {
        report.add(Figure(
            backend: backend.rawValue, scenario: scenario, name: name, value: value, unit: unit,
            baselineName: baseline?.name, baseline: baseline?.value, target: target, met: met))
    }

    private func latencies(_ scenario: String, _ what: String, _ result: LoadResult) {
        figure(scenario, "\(what) p50", result.milliseconds(at: 50), "ms")
        figure(scenario, "\(what) p99", result.milliseconds(at: 99), "ms")
    }

    /// Admission settings under which everyone who joins is admitted on the next tick.
    private static let admitEveryone = [
        "QUEUE_TICK_MS": "100", "QUEUE_ADMIT_PER_TICK": "1000000", "QUEUE_ACTIVE_TTL_S": "3600", "HOLD_TTL_S": "3600",
    ]

    // MARK: 1. Queue poll storm

    func pollStorm() async throws {
        // 1,000 active and the rest waiting, so polls answer both kinds.
        let environment = Self.admitEveryone.merging(["QUEUE_MAX_ACTIVE": "1000"]) { $1 }
        try await withServer("poll-storm", environment: environment) { api, _, _ in
            let performance = try await api.createPerformance()
            let bearers = try await api.mintCredentials(Array(1...Int64(settings.pollTokens)))
            let tokens = try await api.join(performance: performance, bearers: bearers, concurrency: settings.concurrency)
            try await Task.sleep(for: .milliseconds(500))  // a few ticks: the first 1,000 are active
            let polls = tokens.map { api.request(.GET, "/v1/queue/tokens/current", queueToken: $0) }
            let health = api.request(.GET, "/health")
            // Health before and after the polls: the baseline is their mean.
            let healthBefore = try await load.run(concurrency: settings.concurrency, duration: settings.duration) { _ in health }
            let storm = try await load.run(concurrency: settings.concurrency, duration: settings.duration) { polls[$0 % polls.count] }
            let healthAfter = try await load.run(concurrency: settings.concurrency, duration: settings.duration) { _ in health }
            let baseline = (healthBefore.perSecond + healthAfter.perSecond) / 2
            figure(
                "poll storm", "polls/s", storm.perSecond, "req/s", baseline: ("GET /health req/s", baseline),
                target: "≥ 0.8 × health", met: storm.perSecond >= 0.8 * baseline)
            latencies("poll storm", "poll", storm)
            latencies("poll storm", "health", healthBefore)
            figure("poll storm", "polls not 200", Double(storm.requests - storm.count(200)), "responses", target: "0", met: storm.requests == storm.count(200))
        }
    }

    // MARK: 2. Hold throughput

    func holdThroughput() async throws {
        let seats = settings.holdSeats
        try await withServer("holds", environment: Self.admitEveryone) { api, server, database in
            let (performance, schedule) = try await api.createSchedule(seats: seats, price: 100)
            let users = (1...seats).map { Int64(1_000_000 + $0) }
            let (bearers, tokens) = try await api.admittedUsers(users, performance: performance, concurrency: settings.concurrency)
            let holds = try await Wrk.run(
                users.indices.map { Wrk.Request.hold(bearer: bearers[$0], queueToken: tokens[$0], schedule: schedule, seat: $0 + 1) },
                pace: .stream(connections: settings.concurrency), server: server, directory: directory)
            let baseline = try await rowLockBaseline(database)
            let storageHolds = try await holdsWithoutHTTP(api, database, seats: seats)
            figure(
                "holds", "holds/s", holds.perSecond, "holds/s", baseline: ("DB row-lock txn/s", baseline),
                target: "≥ 0.6 × DB", met: holds.perSecond >= 0.6 * baseline)
            if backend == .sqlite {
                // For reference, no target: the same transactions without an fsync at commit.
                figure(
                    "holds", "holds/s vs row-lock txns without fsync", holds.perSecond, "holds/s",
                    baseline: ("DB txn/s, synchronous NORMAL", try await rowLockBaseline(database, durable: false)))
            }
            figure(
                "holds", "holds/s vs the same holds without HTTP", holds.perSecond, "holds/s",
                baseline: ("storage holds/s, no HTTP", storageHolds))
            figure("holds", "hold p50", holds.p50Milliseconds, "ms")
            figure("holds", "hold p99", holds.p99Milliseconds, "ms")
            figure("holds", "server CPU per hold", holds.serverCPUSeconds / Double(seats) * 1e6, "µs")
            let remaining = try await database.int("SELECT remaining_seats FROM schedule_remaining_seats WHERE schedule_id = \(schedule)")
            let refused = seats - holds.count(201)
            figure("holds", "holds not 201", Double(refused), "responses", target: "0", met: refused == 0)
            if refused != 0 { print("  holds answered \(holds.statuses); server log:\n\(server.logTail)") }
            figure("holds", "remaining seats after", Double(remaining), "seats", target: "0", met: remaining == 0)
        }
    }

    /// What the database alone does: `holdSeats` transactions that each take one row's lock, at
    /// the same concurrency (on SQLite, with or without an fsync at each commit).
    private func rowLockBaseline(_ database: ScenarioDatabase, durable: Bool = true) async throws -> Double {
        switch backend {
        case .postgres:
            try await DatabaseBaseline.postgres(
                url: database.serverEnvironment["DATABASE_URL"]!, poolSize: settings.poolSize, seats: settings.holdSeats,
                concurrency: settings.concurrency)
        case .sqlite:
            try await DatabaseBaseline.sqlite(
                path: directory.appendingPathComponent("baseline-\(UUID().uuidString).sqlite").path, seats: settings.holdSeats,
                concurrency: settings.concurrency, durable: durable)
        }
    }

    /// The service's holds called directly on its storage, at the same concurrency, for as
    /// many other users and seats of a second schedule.
    private func holdsWithoutHTTP(_ api: SaleAPI, _ database: ScenarioDatabase, seats: Int) async throws -> Double {
        let (performance, schedule) = try await api.createSchedule(seats: seats, price: 100)
        let users = (1...seats).map { Int64(1_500_000 + $0) }
        let (_, tokens) = try await api.admittedUsers(users, performance: performance, concurrency: settings.concurrency)
        let codec = QueueTokenCodec(secret: QueueTokenCodec.derivedSecret(fromCredentialSecret: secret))
        // Checked and priced as the service does before a hold reaches its store.
        let holds = try users.indices.map { index in
            guard let ticket = codec.decode(tokens[index]) else { throw BenchError("unreadable queue token") }
            return try NewHold(
                userID: users[index], selection: try SeatSelection(scheduleID: Int64(schedule), seatNumbers: [index + 1], maxSeats: 1),
                queueSeq: ticket.seq, seats: [Seat(seatNo: index + 1, grade: "R", price: 100)], now: Date(), holdDuration: .seconds(3600))
        }
        let store = try database.openStorage(poolSize: settings.poolSize)
        return try await store.whileRunning(logger: ScenarioDatabase.storageLogger) { [settings] in
            try await DatabaseBaseline.holdsWithoutHTTP(store, holds, concurrency: settings.concurrency)
        }
    }

    // MARK: 3. Hot seat

    func hotSeat() async throws {
        let holders = settings.hotSeatHolders
        try await withServer("hot-seat", environment: Self.admitEveryone) { api, server, database in
            // The holders, and after them two users per database connection whose holds of seats
            // past 100 first warm the server's connections (their prepared hold statements):
            // during a real on-sale minute, holds have been going on before the hot seat's.
            let warmers = settings.poolSize * 2
            let (performance, schedule) = try await api.createSchedule(seats: 100 + warmers, price: 100)
            let users = (1...holders + warmers).map { Int64(2_000_000 + $0) }
            let (bearers, tokens) = try await api.admittedUsers(users, performance: performance, concurrency: settings.concurrency)
            let warmUp = try await load.run(concurrency: warmers, count: warmers) { index in
                api.holdRequest(bearer: bearers[holders + index], queueToken: tokens[holders + index], schedule: schedule, seats: [101 + index])
            }
            guard warmUp.count(201) == warmers else { throw BenchError("warm-up holds: \(warmUp.statuses)") }
            // The floor under the race's latencies: the same burst of the cheapest request.
            let healthBurst = try await Wrk.run(
                Array(repeating: .health, count: holders), pace: .burst, server: server, directory: directory)
            let holdSeven = { (user: Int) in
                Wrk.Request.hold(bearer: bearers[user], queueToken: tokens[user], schedule: schedule, seat: 7)
            }
            let race = try await Wrk.run((0..<holders).map(holdSeven), pace: .burst, server: server, directory: directory)
            // The losers try again once no instance remembers who took the seat (for 2 s), as fans
            // do while a stale seat map still shows it free: the database must not answer them
            // one by one.
            try await Task.sleep(for: .seconds(3))
            let winner = try await database.int("""
                SELECT COALESCE(MAX(r.user_id), 0) FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
                WHERE c.schedule_id = \(schedule) AND c.seat_no = 7 AND c.live = 1
                """)
            let losers = (0..<holders).filter { users[$0] != Int64(winner) }
            let again = try await Wrk.run(losers.map(holdSeven), pace: .burst, server: server, directory: directory)
            let claims = try await database.int("SELECT COUNT(*) FROM seat_claims WHERE seat_no = 7 AND live = 1")
            let healthP99 = ("GET /health p99, same burst", healthBurst.p99Milliseconds)
            figure("hot seat", "201 Created", Double(race.count(201)), "responses", target: "exactly 1", met: race.count(201) == 1)
            figure(
                "hot seat", "409 Conflict", Double(race.count(409)), "responses", target: "\(holders - 1)",
                met: race.count(409) == holders - 1)
            figure("hot seat", "hold p50", race.p50Milliseconds, "ms")
            figure("hot seat", "hold p99", race.p99Milliseconds, "ms", baseline: healthP99, target: "≤ 100 ms", met: race.p99Milliseconds <= 100)
            figure("hot seat", "race wall time", race.seconds * 1000, "ms")
            figure("hot seat", "server CPU in the race", race.serverCPUSeconds * 1000, "ms")
            figure("hot seat", "wrk CPU in the race", race.wrkCPUSeconds * 1000, "ms")
            figure(
                "hot seat", "409 Conflict, losers 3 s later", Double(again.count(409)), "responses", target: "\(losers.count)",
                met: again.count(409) == losers.count)
            figure(
                "hot seat", "hold p99, losers 3 s later", again.p99Milliseconds, "ms", baseline: healthP99, target: "≤ 100 ms",
                met: again.p99Milliseconds <= 100)
            figure("hot seat", "live claims of the seat", Double(claims), "claims", target: "1", met: claims == 1)
        }
    }

    // MARK: 4. Flash sale

    func flashSale() async throws {
        // Admission at 100 per 100 ms tick: 1,000 users a second.
        let environment = ["QUEUE_TICK_MS": "100", "QUEUE_ADMIT_PER_TICK": "100", "QUEUE_ACTIVE_TTL_S": "600", "HOLD_TTL_S": "600"]
        try await withServer("flash-sale", environment: environment) { api, _, database in
            let seats = settings.flashSeats
            let price = 100
            let (performance, schedule) = try await api.createSchedule(seats: seats, price: price)
            let users = (1...settings.flashUsers).map { Int64(3_000_000 + $0) }
            let bearers = try await api.mintCredentials(users)
            let sale = FlashSale(api: api, performance: performance, schedule: schedule, seats: seats, price: price)
            let outcomes = try await withThrowingTaskGroup(of: FlashSale.Outcome.self) { group in
                for (user, bearer) in zip(users, bearers) { group.addTask { try await sale.buy(user: user, bearer: bearer) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let clock = sale.timeline.withLock { $0 }
            let sold = outcomes.reduce(0) { $0 + $1.seats }
            figure("flash sale", "seats sold", Double(sold), "seats", target: "\(seats)", met: sold == seats)
            figure("flash sale", "time to sell out", clock.lastPayment.seconds, "s")
            figure("flash sale", "holds/s", Double(clock.holds) / max((clock.lastHold - clock.firstHold).seconds, 1e-3), "holds/s")
            figure("flash sale", "payments/s", Double(clock.payments) / max((clock.lastPayment - clock.firstPayment).seconds, 1e-3), "payments/s")
            figure("flash sale", "5xx responses", Double(sale.serverErrors.load(ordering: .relaxed)), "responses", target: "0",
                   met: sale.serverErrors.load(ordering: .relaxed) == 0)
            try await checkInvariants(database, api: api, outcomes: outcomes, bearers: Dictionary(uniqueKeysWithValues: zip(users, bearers)),
                                      schedule: schedule, seats: seats, sold: sold)
        }
    }

    /// After the sale: no seat twice, counts consistent, wallets equal ledgers and what each client paid.
    private func checkInvariants(
        _ database: ScenarioDatabase, api: SaleAPI, outcomes: [FlashSale.Outcome], bearers: [Int64: String],
        schedule: Int, seats: Int, sold: Int
    ) async throws {
        let doubleClaims = try await database.int("""
            SELECT COUNT(*) FROM (SELECT c.schedule_id, c.seat_no FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
            WHERE r.state IN ('pending', 'confirmed') GROUP BY c.schedule_id, c.seat_no HAVING COUNT(*) > 1) doubles
            """)
        let confirmed = try await database.int("""
            SELECT COUNT(*) FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
            WHERE r.state = 'confirmed' AND c.schedule_id = \(schedule)
            """)
        let drift = try await database.int("""
            SELECT COUNT(*) FROM schedules s JOIN schedule_remaining_seats v ON v.schedule_id = s.id
            WHERE v.remaining_seats != s.total_seats -
              (SELECT COUNT(*) FROM seat_claims c WHERE c.schedule_id = s.id AND c.live = 1)
            """)
        let walletsOffLedger = try await database.int("""
            SELECT COUNT(*) FROM wallets w WHERE w.balance < 0 OR w.balance !=
              (SELECT COALESCE(SUM(amount), 0) FROM wallet_entries e WHERE e.user_id = w.user_id)
            """)
        let wrongBalances = Atomic<Int>(0)
        _ = try await load.run(concurrency: settings.concurrency, count: outcomes.count) { index in
            api.request(.GET, "/v1/wallet", bearer: bearers[outcomes[index].user])
        } check: { index, reply in
            if reply.json["balance"] as? Int != outcomes[index].expectedBalance { wrongBalances.add(1, ordering: .relaxed) }
        }
        let mismatches = wrongBalances.load(ordering: .relaxed)
        let passed = doubleClaims == 0 && confirmed == sold && drift == 0 && walletsOffLedger == 0 && mismatches == 0
        figure("flash sale", "invariant violations", Double(doubleClaims + abs(confirmed - sold) + drift + walletsOffLedger + mismatches),
               "rows", target: "0", met: passed)
        if !passed {
            print("  seats in two live reservations: \(doubleClaims); confirmed \(confirmed) vs paid \(sold); remaining drift: \(drift); "
                + "wallets off their ledger: \(walletsOffLedger); balances not what the client paid: \(mismatches)")
        }
    }

    // MARK: 5. Queue scale

    func queueScale() async throws {
        try await withServer("queue-scale", environment: [:]) { api, server, _ in
            let count = settings.queueJoins
            let started = ContinuousClock.now
            let bearers = try await api.mintCredentials((1...count).map { Int64(10_000_000 + $0) })
            print("  minted \(count) credentials in \(Report.format((ContinuousClock.now - started).seconds)) s")
            let performance = try await api.createPerformance()
            let idle = server.residentBytes
            let joins = try await load.run(concurrency: settings.concurrency, count: count) { index in
                api.joinRequest(bearer: bearers[index], performance: performance)
            }
            // One tick later the board has caught up with every join.
            try await Task.sleep(for: .seconds(2))
            let peak = server.peakResidentBytes
            figure("queue scale", "joins", Double(joins.count(201)), "joins", target: "\(count)", met: joins.count(201) == count)
            figure("queue scale", "joins/s", joins.perSecond, "joins/s")
            latencies("queue scale", "join", joins)
            figure("queue scale", "RSS before joins", Double(idle) / 1_048_576, "MB")
            figure("queue scale", "peak RSS", Double(peak) / 1_048_576, "MB", target: "< 200 MB", met: peak < 200 * 1_048_576)
        }
    }

    // MARK: 6. Room draw

    /// A pre-queue of `drawEntries` entries over `drawRooms` rooms, half of them in one room whose
    /// sale starts once they have joined: its draw against the time its joins took, polls during
    /// and after the draw against /health, and the server's peak memory.
    func roomDraw() async throws {
        try await withServer("room-draw", environment: [:]) { api, server, database in
            let total = settings.drawEntries
            let bigCount = total / 2
            let smallRooms = settings.drawRooms - 1
            let bearers = try await api.mintCredentials((1...total).map { Int64(20_000_000 + $0) })
            let format = Date.ISO8601FormatStyle()

            // The other rooms' sales start tomorrow: their entries stay in the pre-queue throughout.
            // These joiners do not poll, as fans in a pre-queue would, so no room may pass them
            // over as abandoned: this measures the draw, not a mass abandonment.
            let tomorrow = format.format(Date().addingTimeInterval(86400))
            var rooms: [Int] = []
            for _ in 0..<smallRooms { rooms.append(try await api.createPerformance(sale: #"{"starts_at": "\#(tomorrow)", "active_per_seat": 0, "abandon_after_s": 86400}"#)) }
            let small = rooms
            let smallJoins = try await load.run(concurrency: settings.concurrency, count: total - bigCount) { index in
                api.joinRequest(bearer: bearers[bigCount + index], performance: small[index % smallRooms])
            }
            guard smallJoins.count(201) == total - bigCount else { throw BenchError("small rooms' joins: \(smallJoins.statuses)") }

            // The big room's sale starts after its joins (at the rate the other rooms' joins went,
            // twice over) and a health baseline.
            let expectedJoins = Double(bigCount) / smallJoins.perSecond
            let startsAt = Date().addingTimeInterval(2 * expectedJoins + settings.duration.seconds + 10)
            let big = try await api.createPerformance(sale: #"{"starts_at": "\#(format.format(startsAt))", "active_per_seat": 0, "abandon_after_s": 86400}"#)
            let sample = settings.pollTokens
            let tokens = Mutex([String](repeating: "", count: sample))
            let bigJoins = try await load.run(concurrency: settings.concurrency, count: bigCount) { index in
                api.joinRequest(bearer: bearers[index], performance: big)
            } check: { index, reply in
                if index < sample, let token = reply.json["token"] as? String { tokens.withLock { $0[index] = token } }
            }
            guard bigJoins.count(201) == bigCount else { throw BenchError("big room's joins: \(bigJoins.statuses)") }
            let polls = tokens.withLock { $0 }.map { api.request(.GET, "/v1/queue/tokens/current", queueToken: $0) }
            let health = api.request(.GET, "/health")
            let healthBefore = try await load.run(concurrency: settings.concurrency, duration: settings.duration) { _ in health }
            guard Date() < startsAt.addingTimeInterval(-3) else { throw BenchError("the joins outlasted the time left before the draw") }

            // Polls from a second before the sale's start until a second after the draw has been
            // published (after two seconds of the same polls, so that the connections are open and
            // warm), and the draw's time as a fan sees it: from the sale's start until the room
            // shows the seed.
            try await Task.sleep(for: .seconds(startsAt.timeIntervalSinceNow - 3))
            let beforeDraw = server.peakResidentBytes
            _ = try await load.run(concurrency: settings.concurrency, while: { Date() < startsAt.addingTimeInterval(-1) }) {
                polls[$0 % polls.count]
            }
            let published = Atomic<Bool>(false)
            let (generator, concurrency) = (load, settings.concurrency)
            async let during = generator.run(concurrency: concurrency, while: { !published.load(ordering: .relaxed) }) {
                polls[$0 % polls.count]
            }
            while true {
                let room = try await api.send(.GET, "/v1/performances/\(big)/room")
                if (room.json["draw"] as? [String: Any])?["seed"] is String { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let drawSeconds = Date().timeIntervalSince(startsAt)
            try await Task.sleep(for: .seconds(1))
            published.store(true, ordering: .relaxed)
            let duringDraw = try await during
            let afterDraw = try await load.run(concurrency: settings.concurrency, duration: settings.duration) { polls[$0 % polls.count] }
            let healthAfter = try await load.run(concurrency: settings.concurrency, duration: settings.duration) { _ in health }
            let peak = server.peakResidentBytes

            let drawn = try await database.int("SELECT draw_entries FROM rooms WHERE performance_id = \(big)")
            let baseline = ("GET /health req/s", (healthBefore.perSecond + healthAfter.perSecond) / 2)
            figure("room draw", "entries drawn in the big room", Double(drawn), "entries", target: "\(bigCount)", met: drawn == bigCount)
            figure("room draw", "joins/s, other rooms", smallJoins.perSecond, "joins/s")
            figure("room draw", "draw, start to published", drawSeconds, "s", baseline: ("its joins took s", bigJoins.elapsed.seconds),
                   target: "< 0.2 × joins", met: drawSeconds < 0.2 * bigJoins.elapsed.seconds)
            figure("room draw", "polls/s during the draw", duringDraw.perSecond, "req/s", baseline: baseline,
                   target: "≥ 0.8 × health", met: duringDraw.perSecond >= 0.8 * baseline.1)
            figure("room draw", "polls/s after the draw", afterDraw.perSecond, "req/s", baseline: baseline,
                   target: "≥ 0.8 × health", met: afterDraw.perSecond >= 0.8 * baseline.1)
            latencies("room draw", "poll during the draw", duringDraw)
            let failed = duringDraw.requests - duringDraw.count(200) + afterDraw.requests - afterDraw.count(200)
            figure("room draw", "polls not 200", Double(failed), "responses", target: "0", met: failed == 0)
            figure("room draw", "peak RSS before the draw", Double(beforeDraw) / 1_048_576, "MB")
            figure("room draw", "peak RSS", Double(peak) / 1_048_576, "MB", target: "< 250 MB", met: peak < 250 * 1_048_576)
        }
    }

    // MARK: 7. Live streams

    /// `queueStreams` open queue streams on one instance while their room is paused, then one
    /// admission round for all of them: how long after the round each stream hears it is
    /// active, whether heartbeats keep flowing, polls against /health with the streams open,
    /// and peak memory. Then `seatStreams` of them follow a seat map while holds are made, one
    /// at a time and then in a burst: how long after each hold's answer subscribers hear of its
    /// seat. Last, holds as fast as they are answered with every stream open.
    func streams() async throws {
        let environment = ["QUEUE_ADMIT_PER_TICK": "1000000", "QUEUE_ACTIVE_TTL_S": "3600", "RATE_LIMIT_ANONYMOUS_PER_MIN": "0"]
        try await withServer("streams", environment: environment) { api, server, database in
            let count = settings.queueStreams
            let (performance, schedule) = try await api.createSchedule(seats: 1_000, price: 100)
            let unwatched = try await api.createSchedule(seats: count, price: 100, performance: performance).schedule
            let admin = try await api.credential(user: 1, admin: true)
            _ = try await api.send(.PATCH, "/v1/admin/performances/\(performance)/room", bearer: admin, body: #"{"paused": true}"#)
            let users = (1...Int64(count)).map { 30_000_000 + $0 }
            let bearers = try await api.mintCredentials(users)
            let tokens = try await api.join(performance: performance, bearers: bearers, concurrency: settings.concurrency)
            let idle = server.residentBytes

            // Every stream, opened 500 at a time: when it heard "active", and whether a heartbeat came.
            let clients = EventStreamClients(connections: count + settings.seatStreams + 100)
            let tally = StreamTally(streams: count)
            let baseURL = server.baseURL
            let following = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for start in stride(from: 0, to: count, by: 500) {
                        for index in start..<min(start + 500, count) {
                            group.addTask {
                                try await clients.follow("\(baseURL)/v1/queue/tokens/current/events?queue_token=\(tokens[index])") { name, data in
                                    switch name {
                                    case nil: tally.heartbeats.withLock { $0[index] += 1 }
                                    case "status" where data.contains(#""status":"active""#):
                                        let now = Date().timeIntervalSince1970
                                        tally.activeAt.withLock { if $0[index] == nil { $0[index] = now } }
                                    case "status": tally.opened.add(1, ordering: .relaxed)
                                    default: break
                                    }
                                }
                            }
                        }
                        for _ in 0..<600 where tally.opened.load(ordering: .relaxed) < start { try await Task.sleep(for: .milliseconds(50)) }
                    }
                    try await group.waitForAll()
                }
            }
            for _ in 0..<1200 where tally.opened.load(ordering: .relaxed) < count { try await Task.sleep(for: .milliseconds(100)) }
            let opened = tally.opened.load(ordering: .relaxed)
            guard opened == count else { throw BenchError("only \(opened) of \(count) streams opened") }
            let withStreams = server.residentBytes

            // Polls and /health while the streams are open.
            let health = api.request(.GET, "/health")
            let healthOpen = try await load.run(concurrency: settings.concurrency, duration: settings.duration) { _ in health }
            let polls = try await load.run(concurrency: settings.concurrency, duration: settings.duration) {
                api.request(.GET, "/v1/queue/tokens/current", queueToken: tokens[$0 % count])
            }

            // One round admits everyone: each stream's delay from the round's time in the database.
            _ = try await api.send(.PATCH, "/v1/admin/performances/\(performance)/room", bearer: admin, body: #"{"paused": false}"#)
            for _ in 0..<300 where tally.activeAt.withLock({ $0.contains(nil) }) { try await Task.sleep(for: .milliseconds(100)) }
            let roundAt = Double(try await database.int("SELECT MAX(admitted_at) FROM queue_admissions WHERE performance_id = \(performance)")) / 1000
            let rounds = try await database.int("SELECT COUNT(*) FROM queue_admissions WHERE performance_id = \(performance) AND admitted_count > 0")
            let delays = tally.activeAt.withLock { $0 }.compactMap { $0.map { ($0 - roundAt) * 1000 } }

            // Heartbeats: 16 s more with nothing to say.
            let before = tally.heartbeats.withLock { $0 }
            try await Task.sleep(for: .seconds(16))
            let beating = zip(before, tally.heartbeats.withLock { $0 }).filter { $1 > $0 }.count

            // Seat subscribers: the first `seatStreams` of the (now active) users follow the seat
            // map; 20 of the last users hold one seat each, one after another.
            let burst = 400
            let subscribers = min(settings.seatStreams, count - 60 - burst)
            let (seatDelays, seatSubscribers) = try await seatChangeDelays(
                api, subscribers: clients, url: "\(baseURL)/v1/schedules/\(schedule)/seats/events", tokens: tokens[..<subscribers],
                holders: (count - 20..<count).map { (bearers[$0], tokens[$0]) }, schedule: schedule, seats: 1...20)
            // On PostgreSQL, the same through a second instance: its subscribers hear of holds made
            // through this one.
            var seatDelaysElsewhere: [Double]?
            if backend == .postgres {
                let second = try startServer(database, environment: environment, name: "streams-second")
                defer { second.stop() }
                do {
                    try await second.waitUntilReady(load)
                    let (delays, elsewhere) = try await seatChangeDelays(
                        api, subscribers: clients, url: "\(second.baseURL)/v1/schedules/\(schedule)/seats/events", tokens: tokens[..<subscribers],
                        holders: (count - 40..<count - 20).map { (bearers[$0], tokens[$0]) }, schedule: schedule, seats: 21...40)
                    elsewhere.following.cancel()
                    _ = await elsewhere.following.result
                    seatDelaysElsewhere = delays
                } catch {
                    print("  second server log:\n\(second.logTail)")
                    throw error
                }
            }
            // A burst on the watched map: `burst` more users hold one seat each, 8 at a time,
            // while every 20th subscriber keeps reading.
            let (burstDelays, burstRate) = try await seatChangeDelaysInABurst(
                api, subscribers: seatSubscribers, holders: (count - 40 - burst..<count - 40).map { (bearers[$0], tokens[$0]) },
                schedule: schedule, seats: 41...40 + burst, concurrency: 8, sampleEvery: 20)
            let peakBeforeHolds = server.peakResidentBytes

            // Holds as fast as they are answered, every stream still open: each of the users in
            // between holds one seat, every eighth of the watched map and the rest of another
            // schedule of the performance, which nobody watches.
            let holders = Array(subscribers..<count - 40 - burst)
            var watchedSeat = 40 + burst
            let holdRequests = holders.enumerated().map { n, user in
                if n % 8 == 0 && watchedSeat < 1_000 {
                    watchedSeat += 1
                    return Wrk.Request.hold(bearer: bearers[user], queueToken: tokens[user], schedule: schedule, seat: watchedSeat)
                }
                return Wrk.Request.hold(bearer: bearers[user], queueToken: tokens[user], schedule: unwatched, seat: n + 1)
            }
            let holds = try await Wrk.run(holdRequests, pace: .stream(connections: settings.concurrency), server: server, directory: directory)
            let baseline = try await rowLockBaseline(database)
            let peak = server.peakResidentBytes
            for task in [following, seatSubscribers.following] {
                task.cancel()
                _ = await task.result
            }
            try await clients.shutdown()

            figure("streams", "queue streams open", Double(count), "streams")
            figure("streams", "RSS before the streams", Double(idle) / 1_048_576, "MB")
            figure("streams", "RSS with the streams open", Double(withStreams) / 1_048_576, "MB")
            figure("streams", "polls/s with the streams open", polls.perSecond, "req/s", baseline: ("GET /health req/s", healthOpen.perSecond),
                   target: "≥ 0.8 × health", met: polls.perSecond >= 0.8 * healthOpen.perSecond)
            figure("streams", "admission rounds for all of them", Double(rounds), "rounds")
            figure("streams", "streams told active", Double(delays.count), "streams", target: "\(count)", met: delays.count == count)
            figure("streams", "active event after the round p50", percentile(delays, 50), "ms")
            figure("streams", "active event after the round p99", percentile(delays, 99), "ms", target: "≤ 1000 ms", met: percentile(delays, 99) <= 1000)
            figure("streams", "streams with a heartbeat in 16 s", Double(beating), "streams", target: "\(count)", met: beating == count)
            figure("streams", "seat subscribers", Double(subscribers), "streams")
            for (instance, delays) in [("", seatDelays), (" through a second instance", seatDelaysElsewhere)] {
                guard let delays else { continue }
                figure("streams", "seat changes heard\(instance)", Double(delays.count), "events", target: "\(20 * subscribers)", met: delays.count == 20 * subscribers)
                figure("streams", "seat change\(instance) after the hold's answer p50", percentile(delays, 50), "ms")
                figure("streams", "seat change\(instance) after the hold's answer p99", percentile(delays, 99), "ms",
                       target: "≤ 250 ms", met: percentile(delays, 99) <= 250)
            }
            let readers = (subscribers + 19) / 20
            figure("streams", "seat changes heard in a burst of \(burst) holds", Double(burstDelays.count), "events",
                   target: "\(burst * readers) (\(readers) subscribers read)", met: burstDelays.count == burst * readers)
            figure("streams", "holds/s of the burst", burstRate, "holds/s")
            figure("streams", "seat change in the burst after the hold's answer p50", percentile(burstDelays, 50), "ms")
            figure("streams", "seat change in the burst after the hold's answer p99", percentile(burstDelays, 99), "ms",
                   target: "≤ 250 ms", met: percentile(burstDelays, 99) <= 250)
            figure("streams", "holds/s with the streams open", holds.perSecond, "holds/s", baseline: ("DB row-lock txn/s", baseline),
                   target: "≥ 0.6 × DB", met: holds.perSecond >= 0.6 * baseline)
            figure("streams", "hold p99 with the streams open", holds.p99Milliseconds, "ms")
            let refused = holders.count - holds.count(201)
            figure("streams", "holds not 201", Double(refused), "responses", target: "0", met: refused == 0)
            if refused != 0 { print("  holds answered \(holds.statuses); server log:\n\(server.logTail)") }
            figure("streams", "peak RSS before the holds", Double(peakBeforeHolds) / 1_048_576, "MB",
                   target: "< 400 MB", met: peakBeforeHolds < 400 * 1_048_576)
            figure("streams", "peak RSS", Double(peak) / 1_048_576, "MB")
        }
    }

    /// `tokens.count` subscribers follow a seat stream at `url` while each of `holders` holds one
    /// of `seats`, 300 ms apart: for every subscriber and hold, how long after the hold's answer
    /// the subscriber heard of its seat, in milliseconds; and the subscribers, who keep following
    /// until their task is cancelled.
    private func seatChangeDelays(
        _ api: SaleAPI, subscribers clients: EventStreamClients, url: String, tokens: ArraySlice<String>,
        holders: [(bearer: String, token: String)], schedule: Int, seats: ClosedRange<Int>
    ) async throws -> (delays: [Double], subscribers: SeatSubscribers) {
        let tally = SeatTally()
        let following = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, token) in tokens.enumerated() {
                    group.addTask {
                        try await clients.follow("\(url)?queue_token=\(token)", reading: { tally.reads(index) }) { name, data in
                            if name == "snapshot" { tally.snapshots.add(1, ordering: .relaxed) }
                            guard name == "seats" else { return }
                            let now = Date().timeIntervalSince1970
                            for seat in Self.seatNumbers(in: data) { tally.heard.withLock { $0[seat, default: []].append(now) } }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        do {
            for _ in 0..<600 where tally.snapshots.load(ordering: .relaxed) < tokens.count { try await Task.sleep(for: .milliseconds(100)) }
            let opened = tally.snapshots.load(ordering: .relaxed)
            guard opened == tokens.count else { throw BenchError("only \(opened) seat streams opened") }
            let answeredAt = try await holdOneSeatEach(api, holders: holders, schedule: schedule, seats: seats, concurrency: 1, pause: .milliseconds(300))
            return (try await tally.delaysOnceHeard(after: answeredAt), SeatSubscribers(tally: tally, following: following))
        } catch {
            following.cancel()
            throw error
        }
    }

    /// Each of `holders` holds one of `seats` as fast as the service answers, `concurrency` at
    /// a time, while every `sampleEvery`-th of `subscribers` reads what it hears: how long after
    /// each hold's answer the sampled subscribers heard of its seat, in milliseconds, and how
    /// many holds a second the burst made.
    private func seatChangeDelaysInABurst(
        _ api: SaleAPI, subscribers: SeatSubscribers, holders: [(bearer: String, token: String)], schedule: Int, seats: ClosedRange<Int>,
        concurrency: Int, sampleEvery: Int
    ) async throws -> (delays: [Double], holdsPerSecond: Double) {
        subscribers.tally.readers.store(sampleEvery, ordering: .relaxed)
        let start = Date()
        let answeredAt = try await holdOneSeatEach(api, holders: holders, schedule: schedule, seats: seats, concurrency: concurrency, pause: .zero)
        let holdsPerSecond = Double(answeredAt.count) / Date().timeIntervalSince(start)
        return (try await subscribers.tally.delaysOnceHeard(after: answeredAt), holdsPerSecond)
    }

    /// Each of `holders` holds one of `seats`, `concurrency` at a time, each pausing `pause`
    /// after every answer: when each seat's hold was answered (seconds since 1970).
    private func holdOneSeatEach(
        _ api: SaleAPI, holders: [(bearer: String, token: String)], schedule: Int, seats: ClosedRange<Int>, concurrency: Int, pause: Duration
    ) async throws -> [Int: Double] {
        let work = Array(zip(holders, seats))
        return try await withThrowingTaskGroup(of: [Int: Double].self) { group in
            for first in 0..<concurrency {
                group.addTask { [load] in
                    var answeredAt: [Int: Double] = [:]
                    for (holder, seat) in stride(from: first, to: work.count, by: concurrency).map({ work[$0] }) {
                        let reply = try await load.send(api.holdRequest(bearer: holder.bearer, queueToken: holder.token, schedule: schedule, seats: [seat]))
                        guard reply.status == 201 else { throw BenchError("hold answered \(reply.status)") }
                        answeredAt[seat] = Date().timeIntervalSince1970
                        if pause > .zero { try await Task.sleep(for: pause) }
                    }
                    return answeredAt
                }
            }
            return try await group.reduce(into: [:]) { $0.merge($1) { first, _ in first } }
        }
    }

    /// The seat numbers of a `seats` event's changes.
    static func seatNumbers(in data: String) -> [Int] {
        guard let json = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any],
              let changes = json["changes"] as? [[String: Any]] else { return [] }
        return changes.compactMap { $0["seat_no"] as? Int }
    }
}

/// What the streams scenario's clients heard, shared by their tasks.
final class StreamTally: Sendable {
    let opened = Atomic<Int>(0)
    /// When each queue stream heard it was active.
    let activeAt: Mutex<[Double?]>
    let heartbeats: Mutex<[Int]>

    init(streams: Int) {
        activeAt = Mutex([Double?](repeating: nil, count: streams))
        heartbeats = Mutex([Int](repeating: 0, count: streams))
    }
}

/// What a set of seat-stream subscribers heard, shared by their tasks.
final class SeatTally: Sendable {
    let snapshots = Atomic<Int>(0)
    /// Which subscribers read and time what they hear: every n-th, or none when 0.
    let readers = Atomic<Int>(1)
    /// When each seat's change arrived, one time per reading subscriber.
    let heard = Mutex([Int: [Double]]())

    func reads(_ subscriber: Int) -> Bool {
        let every = readers.load(ordering: .relaxed)
        return every > 0 && subscriber % every == 0
    }

    /// Once the changes have had 3 s to arrive: for each seat answered at a time, how long after
    /// it each reading subscriber heard of it, in milliseconds. Then the subscribers stop reading;
    /// their streams stay open, but the client's CPU is shared with the server's.
    func delaysOnceHeard(after answeredAt: [Int: Double]) async throws -> [Double] {
        try await Task.sleep(for: .seconds(3))
        readers.store(0, ordering: .relaxed)
        let heardAll = heard.withLock { $0 }
        return answeredAt.flatMap { seat, at in (heardAll[seat] ?? []).map { ($0 - at) * 1000 } }
    }
}

/// Seat-map subscribers that keep following until `following` is cancelled.
struct SeatSubscribers {
    let tally: SeatTally
    let following: Task<Void, any Error>
}
