import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import Synchronization
import Testing

@testable import ConcertService

/// The tests that load `concert serve` processes hard run one at a time: together they would
/// starve the machine, and the tests beside them that count on a tick or a timeout.
@Suite(.serialized) struct ServerProcessTests {}

extension ServerProcessTests {
    /// The scale-out claim, end to end: three `concert serve` processes on one PostgreSQL database
    /// sell one 150-seat schedule to 500 users who hit random instances.
    @Suite struct FlashSaleProcessTests {
        static let tick = 100  // ms
        static let admitPerTick = 20

        @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
        func threeServersSellOneScheduleAndSurviveLosingTheAdmitter() async throws {
            let database = try await TestDatabase.create(.postgres)
            var config = AppConfiguration()
            database.configure(&config)
            let servers = try ServerProcesses(count: 3, environment: [
                "DATABASE_URL": config.databaseURL ?? "", "AUTH_JWT_SECRET": TestService.secret,
                "QUEUE_TICK_MS": "\(Self.tick)", "QUEUE_ADMIT_PER_TICK": "\(Self.admitPerTick)", "QUEUE_ACTIVE_TTL_S": "120",
                "HOLD_TTL_S": "120", "DATABASE_POOL_SIZE": "10", "LOG_LEVEL": "warning",
            ])
            let client = SaleClient(ports: servers.ports)
            do {
                try await servers.waitUntilReady(client)
                try await sellOut(client, database)
                try await killTheAdmitterAndKeepAdmitting(client, servers, database)
            } catch {
                servers.printLogs()
                await servers.stop()
                try await client.shutdown()
                throw error
            }
            await servers.stop()
            try await client.shutdown()
            print("flash sale: \(client.retried.withLock { $0 }) answers were 503 with Retry-After, and retried")
            #expect(client.serverErrors == 0, "no response may be a 5xx: \(client.serverErrorAnswers.withLock { $0.prefix(10) })")
            if client.serverErrors > 0 { servers.printLogs() }
        }

        private func sellOut(_ client: SaleClient, _ database: TestDatabase) async throws {
            let target = try await client.createSchedule(seats: 150, price: 100)
            let schedule = target.schedule
            let users = Array(Int64(100_000)..<100_500)
            let outcomes = try await withThrowingTaskGroup(of: Purchase.self) { group in
                for user in users { group.addTask { try await client.buy(user: user, target) } }
                return try await group.reduce(into: [Purchase]()) { $0.append($1) }
            }

            // What the clients saw, and what the API says now.
            var seatsSold = Set<Int>()
            for purchase in outcomes {
                let wallet = try await client.send(.get, "/v1/wallet", user: purchase.user)
                #expect(wallet.int("balance") == purchase.expectedBalance, "user \(purchase.user)'s wallet")
                let reservations = try await client.send(.get, "/v1/reservations", user: purchase.user)
                for reservation in reservations.json["reservations"] as? [[String: Any]] ?? [] where reservation["state"] as? String == "confirmed" {
                    for seat in reservation["seat_numbers"] as? [Int] ?? [] {
                        #expect(seatsSold.insert(seat).inserted, "seat \(seat) was sold twice")
                    }
                }
            }
            let paid = outcomes.reduce(0) { $0 + $1.seats.count }
            #expect(seatsSold.count == paid, "every seat a client paid for is confirmed, and no other")
            print("flash sale: \(users.count) users, \(outcomes.filter { !$0.seats.isEmpty }.count) bought \(paid) of 150 seats")

            // And in the database.
            try await checkInvariants(database)
            let remaining = try await database.int("SELECT remaining_seats FROM schedule_remaining_seats WHERE schedule_id = \(schedule)") ?? -1
            let held = try await database.int("SELECT CAST(COALESCE(SUM(seat_count), 0) AS BIGINT) FROM reservations WHERE state = 'pending'") ?? -1
            #expect(remaining + held + paid == 150)

            // One admitter, at the configured pace: never more per round, and no more rounds than ticks.
            #expect(try await admitterHandoversWithinALease(database) == 0, "two instances admitted within one lease")
            let admitters = try await database.int("SELECT COUNT(DISTINCT admitted_by) FROM queue_admissions") ?? 0
            #expect(try await database.int("SELECT MAX(admitted_count) FROM queue_admissions") ?? 0 <= Self.admitPerTick)
            let admitted = try await database.int("SELECT CAST(SUM(admitted_count) AS BIGINT) FROM queue_admissions") ?? 0
            let span = try await database.int("SELECT MAX(admitted_at) - MIN(admitted_at) FROM queue_admissions") ?? 0
            let allowed = Self.admitPerTick * (span / Self.tick + 1)
            #expect(admitted == users.count)
            #expect(admitted <= allowed, "admitted \(admitted) in \(span) ms; the pace allows \(allowed)")
            print("admission: \(admitted) users in \(span) ms by \(admitters) instance(s) in turn; \(Self.admitPerTick) per \(Self.tick) ms tick allows \(allowed)")
        }

        private func killTheAdmitterAndKeepAdmitting(_ client: SaleClient, _ servers: ServerProcesses, _ database: TestDatabase) async throws {
            // The first sale is sold out, so its room takes no more joins: another sale's room.
            let next = try await client.createSchedule(seats: 10, price: 100)
            let admitter = try #require(try await database.string("SELECT holder FROM admitter_lease"))
            let killed = try #require(servers.instanceIDs.firstIndex(of: admitter))
            let killedAt = Date().millis
            await servers.kill(killed)
            let survivors = Array(servers.ports.indices.filter { $0 != killed })

            try await withThrowingTaskGroup(of: Void.self) { group in
                for user in Int64(200_000)..<200_030 {
                    group.addTask { _ = try await client.admittedToken(user: user, performance: next.performance, instances: survivors) }
                }
                try await group.waitForAll()
            }
            let holder = try await database.string("SELECT holder FROM admitter_lease")
            #expect(holder != admitter && holder != nil, "another instance took the lease")
            let takeover = try await database.int(
                "SELECT MIN(admitted_at) - \(killedAt) FROM queue_admissions WHERE admitted_at > \(killedAt)") ?? -1
            print("SIGKILL \(admitter): \(holder ?? "nobody") admitted the next round \(takeover) ms later")
        }
    }
}

/// A schedule on sale and its performance, whose room a buyer joins.
struct SaleTarget: Sendable {
    var performance: Int
    var schedule: Int
}

/// One user's purchase as the client saw it.
struct Purchase: Sendable {
    var user: Int64
    var seats: [Int] = []
    var expectedBalance: Int
}

/// A flash-sale client: every request goes to a random instance, and every 5xx is kept.
/// A 503 that says `Retry-After` is retried after that many seconds, as a client following the
/// API would (an instance whose view of the queue is behind answers so rather than guess); any
/// other 5xx, or a 503 without it, is a server error.
final class SaleClient: Sendable {
    let ports: [Int]
    private let http: HTTPClient
    private let credentials = Mutex<[Int64: String]>([:])
    /// Each 5xx answer: its status, request and body, so that a failure says what it was.
    let serverErrorAnswers = Mutex<[String]>([])

    init(ports: [Int]) {
        self.ports = ports
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// 503 answers that said `Retry-After` and were retried.
    let retried = Mutex(0)

    var serverErrors: Int { serverErrorAnswers.withLock { $0.count } }

    func shutdown() async throws { try await http.shutdown() }

    func send(
        _ method: HTTPRequest.Method, _ path: String, user: Int64? = nil, admin: Bool = false, queueToken: String? = nil,
        body: String? = nil, instance: Int? = nil
    ) async throws -> Reply {
        let port = ports[instance ?? Int.random(in: 0..<ports.count)]
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .init(rawValue: method.rawValue)
        if let user { request.headers.add(name: "Authorization", value: "Bearer \(try await credential(user: user, admin: admin))") }
        if let queueToken { request.headers.add(name: "Queue-Token", value: queueToken) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        var attempts = 0
        while true {
            attempts += 1
            let response = try await http.execute(request, timeout: .seconds(30))
            let data = try await response.body.collect(upTo: 1 << 24)
            if response.status == .serviceUnavailable, attempts < 10, let seconds = response.headers.first(name: "Retry-After").flatMap(Int.init) {
                retried.withLock { $0 += 1 }
                try await Task.sleep(for: .seconds(seconds))
                continue
            }
            if response.status.code >= 500 {
                serverErrorAnswers.withLock { $0.append("\(response.status.code) \(method) :\(port)\(path) \(String(buffer: data))") }
            }
            return Reply(status: .init(code: Int(response.status.code)), headers: [:], body: Data(buffer: data))
        }
    }

    private func credential(user: Int64, admin: Bool) async throws -> String {
        if !admin, let known = credentials.withLock({ $0[user] }) { return known }
        let token = try await Credentials(secret: TestService.secret).mint(userID: user, admin: admin, validFor: .seconds(3600), now: Date())
        if !admin { credentials.withLock { $0[user] = token } }
        return token
    }

    /// A performance whose room opens now, without the cap of active users by seats (these tests
    /// admit every user), and one schedule of it on sale now.
    func createSchedule(seats: Int, price: Int) async throws -> SaleTarget {
        let performance = try await send(
            .post, "/v1/admin/performances", user: 1, admin: true,
            body: #"{"title": "Flash Sale", "performer": "Everyone", "description": "d", "sale": {"active_per_seat": 0}}"#)
        let id = try #require(performance.int("id"))
        let schedule = try await send(
            .post, "/v1/admin/performances/\(id)/schedules", user: 1, admin: true,
            body: scheduleOnSaleNow(seats: [("R", seats, price)], startsIn: 86400))
        return SaleTarget(performance: id, schedule: try #require(schedule.int("id")))
    }

    /// Joins the performance's room on a random instance and polls random instances until admitted.
    func admittedToken(user: Int64, performance: Int, instances: [Int]? = nil) async throws -> String {
        let pick = { instances?.randomElement() }
        let joined = try await send(.post, "/v1/queue/tokens", user: user, body: #"{"performance_id": \#(performance)}"#, instance: pick())
        let token = try #require(joined.string("token"), "join answered \(joined.status)")
        var last = ""
        for _ in 0..<600 {
            let poll = try await send(.get, "/v1/queue/tokens/current", queueToken: token, instance: pick())
            if poll.string("status") == "active" { return token }
            last = String(decoding: poll.body, as: UTF8.self)
            #expect(poll.status == .ok, "poll answered \(poll.status) \(poll.errorCode ?? "")")
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...150)))
        }
        Issue.record("user \(user) was never admitted: \(last)")
        return token
    }

    /// Charges 1,000, queues, then holds 1 or 2 seats that the seat map shows free and pays.
    func buy(user: Int64, _ target: SaleTarget) async throws -> Purchase {
        let schedule = target.schedule
        #expect(try await send(.post, "/v1/wallet/charges", user: user, body: #"{"amount": 1000}"#).status == .created)
        var purchase = Purchase(user: user, expectedBalance: 1000)
        let token = try await admittedToken(user: user, performance: target.performance)
        for _ in 0..<10 {
            let map = try await send(.get, "/v1/schedules/\(schedule)/seats", user: user, queueToken: token)
            let free = (map.json["seats"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "available" }
                .compactMap { $0["seat_no"] as? Int }
            guard !free.isEmpty else { return purchase }  // sold out
            let wanted = Array(free.shuffled().prefix(Int.random(in: 1...2))).sorted()
            let hold = try await send(
                .post, "/v1/reservations", user: user, queueToken: token,
                body: #"{"schedule_id": \#(schedule), "seat_numbers": \#(wanted)}"#)
            switch (hold.status, hold.errorCode) {
            case (.created, _):
                let id = try #require(hold.int("id"))
                let payment = try await send(.post, "/v1/reservations/\(id)/payment", user: user)
                #expect(payment.status == .ok, "payment answered \(payment.status) \(payment.errorCode ?? "")")
                if payment.status == .ok {
                    purchase.seats = wanted
                    purchase.expectedBalance -= hold.int("total_price") ?? 0
                }
                return purchase
            case (.conflict, "SEAT_UNAVAILABLE"), (.conflict, "CONTENDED"):
                continue  // someone was faster: look again
            default:
                Issue.record("hold answered \(hold.status) \(hold.errorCode ?? "")")
                return purchase
            }
        }
        return purchase
    }
}

/// `concert serve` processes on loopback, built with the tests.
final class ServerProcesses: Sendable {
    let ports: [Int]
    let instanceIDs: [String]
    private let processes: [Process]
    private let logs: [URL]

    init(count: Int, environment: [String: String]) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-sale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var ports: [Int] = []
        var processes: [Process] = []
        var logs: [URL] = []
        for index in 0..<count {
            let port = try freePort()
            let log = directory.appendingPathComponent("instance-\(index).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let process = Process()
            process.executableURL = concertBinary
            process.arguments = ["serve"]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.merging([
                "HOST": "127.0.0.1", "PORT": "\(port)", "INSTANCE_ID": "sale-\(index)",
            ]) { $1 }
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            ports.append(port)
            processes.append(process)
            logs.append(log)
        }
        self.ports = ports
        self.processes = processes
        self.logs = logs
        instanceIDs = (0..<count).map { "sale-\($0)" }
    }

    func waitUntilReady(_ client: SaleClient) async throws {
        for index in ports.indices {
            var ready = false
            for _ in 0..<300 where !ready {
                ready = (try? await client.send(.get, "/ready", instance: index).status == .ok) ?? false
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            try #require(ready, "instance \(index) never became ready")
        }
    }

    func kill(_ index: Int) async {
        Foundation.kill(processes[index].processIdentifier, SIGKILL)
        await exit(of: processes[index])
    }

    /// Sends SIGTERM to one instance and waits for it to exit; its exit status.
    func terminate(_ index: Int) async -> Int32 {
        processes[index].terminate()
        await exit(of: processes[index])
        return processes[index].terminationStatus
    }

    /// One instance's log so far.
    func log(_ index: Int) -> String {
        (try? String(contentsOf: logs[index], encoding: .utf8)) ?? ""
    }

    func stop() async {
        for process in processes where process.isRunning { process.terminate() }
        for process in processes { await exit(of: process) }
    }

    func printLogs() {
        for (index, log) in logs.enumerated() {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            print("--- instance \(index) log (last lines) ---\n\(text.split(separator: "\n").suffix(20).joined(separator: "\n"))")
        }
    }

    deinit {
        for process in processes where process.isRunning { process.terminate() }
    }
}

/// The `concert` executable built with the tests.
var concertBinary: URL {
    let binary = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("concert")
    return FileManager.default.fileExists(atPath: binary.path)
        ? binary : Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("concert")
}

/// Runs one `concert` command to its end; its exit status and everything it printed.
func runConcert(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = concertBinary
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) }
            .start()
    }
    await exit(of: process)
    return (process.terminationStatus, text)
}

/// Returns once `process` has exited, waiting on a thread of its own: a test's task must not
/// block one of the few threads every task of the run shares.
func exit(of process: Process) async {
    await withCheckedContinuation { continuation in
        Thread {
            process.waitUntilExit()
            continuation.resume()
        }.start()
    }
}

/// A port nobody listens on now: the kernel picks it for a socket that is closed at once.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw ConfigurationError("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
