import AsyncHTTPClient
import ConcertService
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The concert API as the benchmark's users call it: requests with their credentials, and
/// the setup steps every scenario shares.
struct SaleAPI: Sendable {
    let load: LoadGenerator
    let baseURL: String
    let credentials: Credentials

    func credential(user: Int64, admin: Bool = false) async throws -> String {
        try await credentials.mint(userID: user, admin: admin, validFor: .seconds(4 * 3600), now: Date())
    }

    func request(
        _ method: HTTPMethod, _ path: String, bearer: String? = nil, queueToken: String? = nil, body: String? = nil
    ) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let queueToken { request.headers.add(name: "Queue-Token", value: queueToken) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        return request
    }

    /// A user's hold of `seats` of `schedule`.
    func holdRequest(bearer: String, queueToken: String, schedule: Int, seats: [Int]) -> HTTPClientRequest {
        request(.POST, "/v1/reservations", bearer: bearer, queueToken: queueToken, body: Self.holdBody(schedule: schedule, seats: seats))
    }

    /// The body of a hold, for either client.
    static func holdBody(schedule: Int, seats: [Int]) -> String {
        #"{"schedule_id": \#(schedule), "seat_numbers": \#(seats)}"#
    }

    func send(
        _ method: HTTPMethod, _ path: String, bearer: String? = nil, queueToken: String? = nil, body: String? = nil
    ) async throws -> Reply {
        try await load.send(request(method, path, bearer: bearer, queueToken: queueToken, body: body))
    }

    /// A performance whose waiting room has the `sale` settings (JSON); by default a room open
    /// now without the cap of active users by seats, as the scenarios measure other limits.
    func createPerformance(sale: String = #"{"active_per_seat": 0}"#) async throws -> Int {
        let admin = try await credential(user: 1, admin: true)
        let performance = try await send(
            .POST, "/v1/admin/performances", bearer: admin,
            body: #"{"title": "Benchmark", "performer": "Load", "description": "b", "sale": \#(sale)}"#)
        guard let id = performance.json["id"] as? Int else { throw BenchError("create performance: \(performance.status)") }
        return id
    }

    /// A schedule on sale now, all seats at one price, of `performance` or else of a new one.
    func createSchedule(seats: Int, price: Int, performance: Int? = nil) async throws -> (performance: Int, schedule: Int) {
        let admin = try await credential(user: 1, admin: true)
        let performanceID: Int
        if let performance { performanceID = performance } else { performanceID = try await createPerformance() }
        let format = Date.ISO8601FormatStyle()
        let now = Date()
        let body = """
            {"starts_at": "\(format.format(now.addingTimeInterval(86400)))",
             "sale_opens_at": "\(format.format(now.addingTimeInterval(-60)))",
             "sale_closes_at": "\(format.format(now.addingTimeInterval(86000)))",
             "seats": [{"grade": "R", "count": \(seats), "price": \(price)}]}
            """
        let schedule = try await send(.POST, "/v1/admin/performances/\(performanceID)/schedules", bearer: admin, body: body)
        guard let scheduleID = schedule.json["id"] as? Int else { throw BenchError("create schedule: \(schedule.status)") }
        return (performanceID, scheduleID)
    }

    static func joinBody(performance: Int) -> String { #"{"performance_id": \#(performance)}"# }

    /// A user's join of the performance's room.
    func joinRequest(bearer: String, performance: Int) -> HTTPClientRequest {
        request(.POST, "/v1/queue/tokens", bearer: bearer, body: Self.joinBody(performance: performance))
    }

    /// Joins the performance's room with each user's credential; their queue tokens, in the same order.
    func join(performance: Int, bearers: [String], concurrency: Int) async throws -> [String] {
        let tokens = Mutex([String](repeating: "", count: bearers.count))
        let joins = try await load.run(concurrency: concurrency, count: bearers.count) { index in
            joinRequest(bearer: bearers[index], performance: performance)
        } check: { index, reply in
            guard reply.status == 201, let token = reply.json["token"] as? String else {
                throw BenchError("join answered \(reply.status) \(reply.errorCode ?? "")")
            }
            tokens.withLock { $0[index] = token }
        }
        guard joins.count(201) == bearers.count else { throw BenchError("only \(joins.count(201)) of \(bearers.count) joins succeeded") }
        return tokens.withLock { $0 }
    }

    /// Mints each user one credential, which they keep through the sale as with a real identity
    /// provider, joins with it and waits until the last of them is active.
    func admittedUsers(_ users: [Int64], performance: Int, concurrency: Int) async throws -> (bearers: [String], tokens: [String]) {
        let bearers = try await mintCredentials(users)
        let tokens = try await join(performance: performance, bearers: bearers, concurrency: concurrency)
        try await waitUntilActive(tokens.last!)
        return (bearers, tokens)
    }

    func waitUntilActive(_ token: String) async throws {
        for _ in 0..<1200 {
            let poll = try await send(.GET, "/v1/queue/tokens/current", queueToken: token)
            if poll.json["status"] as? String == "active" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("a queue token never became active")
    }

    /// Credentials for many users, minted on every core before any measurement starts.
    func mintCredentials(_ users: [Int64]) async throws -> [String] {
        let chunk = max(1, users.count / 8)
        return try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for start in stride(from: 0, to: users.count, by: chunk) {
                group.addTask {
                    var minted: [String] = []
                    minted.reserveCapacity(chunk)
                    for user in users[start..<min(start + chunk, users.count)] { minted.append(try await credential(user: user)) }
                    return (start, minted)
                }
            }
            var all = [String](repeating: "", count: users.count)
            for try await (start, minted) in group { all.replaceSubrange(start..<start + minted.count, with: minted) }
            return all
        }
    }
}
