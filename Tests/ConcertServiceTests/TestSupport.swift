import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import ConcertService

/// A service on a fresh SQLite file with a fast queue, plus helpers to drive it over HTTP.
struct TestService {
    static let secret = "test-secret-test-secret-test-secret-0123456789"

    let config: AppConfiguration
    let system: ConcertSystem

    init(configure: (inout AppConfiguration) -> Void = { _ in }) async throws {
        var config = AppConfiguration()
        config.sqlitePath = FileManager.default.temporaryDirectory
            .appendingPathComponent("concert-test-\(UUID().uuidString).sqlite").path
        config.authSecret = Self.secret
        config.queueTick = .milliseconds(20)
        config.holdSweepInterval = .milliseconds(50)
        config.port = 0
        configure(&config)
        self.config = config
        var logger = Logger(label: "concert-test")
        logger.logLevel = .warning
        system = try await ConcertSystem.open(config, logger: logger)
    }

    /// Runs `body` against the whole application, background tasks included.
    func run<T: Sendable>(_ body: @Sendable (TestDriver) async throws -> T) async throws -> T {
        var logger = Logger(label: "concert-test")
        logger.logLevel = .warning
        let app = try await buildApplication(system, config: config, logger: logger)
        return try await app.test(.router) { client in
            try await body(TestDriver(client: client, service: self))
        }
    }

    /// A second, independent connection to the same database file, to check invariants.
    func database() throws -> DatabaseQueue {
        try DatabaseQueue(path: config.sqlitePath)
    }

    func token(user: Int64, admin: Bool = false) async throws -> String {
        try await system.credentials.mint(userID: user, admin: admin, validFor: .seconds(3600))
    }
}

struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    func int(_ key: String) -> Int? { (json[key] as? NSNumber)?.intValue }
    func string(_ key: String) -> String? { json[key] as? String }
}

struct TestDriver: Sendable {
    let client: any TestClientProtocol
    let service: TestService

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ uri: String, user: Int64? = nil, admin: Bool = false, queueToken: String? = nil,
        idempotencyKey: String? = nil, headers extra: HTTPFields = [:], body: String? = nil
    ) async throws -> Reply {
        var headers = extra
        if let user { headers[.authorization] = "Bearer \(try await service.token(user: user, admin: admin))" }
        if let queueToken { headers[.queueToken] = queueToken }
        if let idempotencyKey { headers[.idempotencyKey] = idempotencyKey }
        let response = try await client.executeRequest(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Reply(status: response.status, headers: response.headers, body: Data(buffer: response.body))
    }

    /// Joins the queue as `user` and waits until admitted; returns the active token.
    func admittedToken(user: Int64) async throws -> String {
        let joined = try await request(.post, "/v1/queue/tokens", user: user)
        let token = try #require(joined.string("token"))
        for _ in 0..<500 {
            let poll = try await request(.get, "/v1/queue/tokens/current", queueToken: token)
            if poll.string("status") == "active" { return token }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("user \(user) was never admitted")
        return token
    }

    /// Creates a performance with one schedule on sale now; returns the schedule id.
    func createSchedule(seats: [(grade: String, count: Int, price: Int)] = [("R", 100, 1000)], startsIn: TimeInterval = 30 * 86400)
        async throws -> Int
    {
        let performance = try await request(
            .post, "/v1/admin/performances", user: 1, admin: true,
            body: #"{"title": "Test Show", "performer": "Tester", "description": "d"}"#)
        let id = try #require(performance.int("id"))
        let now = Date()
        let format = Date.ISO8601FormatStyle()
        let groups = seats.map { #"{"grade": "\#($0.grade)", "count": \#($0.count), "price": \#($0.price)}"# }.joined(separator: ",")
        let schedule = try await request(
            .post, "/v1/admin/performances/\(id)/schedules", user: 1, admin: true,
            body: """
                {"starts_at": "\(format.format(now.addingTimeInterval(startsIn)))",
                 "sale_opens_at": "\(format.format(now.addingTimeInterval(-60)))",
                 "sale_closes_at": "\(format.format(now.addingTimeInterval(startsIn - 1)))",
                 "seats": [\(groups)]}
                """)
        #expect(schedule.status == .created)
        return try #require(schedule.int("id"))
    }

    func hold(user: Int64, schedule: Int, seats: [Int], queueToken: String? = nil, idempotencyKey: String? = nil) async throws -> Reply {
        let token: String
        if let queueToken { token = queueToken } else { token = try await admittedToken(user: user) }
        return try await request(
            .post, "/v1/reservations", user: user, queueToken: token, idempotencyKey: idempotencyKey,
            body: #"{"schedule_id": \#(schedule), "seat_numbers": \#(seats)}"#)
    }

    func charge(user: Int64, amount: Int) async throws -> Reply {
        try await request(.post, "/v1/wallet/charges", user: user, body: #"{"amount": \#(amount)}"#)
    }
}

/// The invariants of SPEC section 3, read straight from the database file.
func checkInvariants(_ service: TestService) throws {
    try service.database().read { db in
        let doubleClaims = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM (SELECT c.schedule_id, c.seat_no FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
            WHERE r.state IN ('pending', 'confirmed') GROUP BY c.schedule_id, c.seat_no HAVING COUNT(*) > 1)
            """)
        #expect(doubleClaims == 0, "a seat is in two live reservations")
        let drift = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM schedules s WHERE s.remaining_seats != s.total_seats -
              (SELECT COUNT(*) FROM seat_claims c WHERE c.schedule_id = s.id AND c.live = 1)
            """)
        #expect(drift == 0, "remaining_seats differs from seats minus live claims")
        let liveClaimsOfDeadReservations = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
            WHERE c.live = 1 AND r.state NOT IN ('pending', 'confirmed')
            """)
        #expect(liveClaimsOfDeadReservations == 0)
        let walletsOffLedger = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM wallets w WHERE w.balance < 0 OR w.balance !=
              (SELECT COALESCE(SUM(amount), 0) FROM wallet_entries e WHERE e.user_id = w.user_id)
            """)
        #expect(walletsOffLedger == 0, "a wallet's balance differs from its ledger")
    }
}
