import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import ConcertService

/// The databases every storage and HTTP test runs against: SQLite always, PostgreSQL when
/// TEST_DATABASE_URL names a server (`.ci/run` starts one and sets REQUIRE_POSTGRES_TESTS=1).
enum Backend: String, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static let postgresURL = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let postgresRequired = ProcessInfo.processInfo.environment["REQUIRE_POSTGRES_TESTS"] == "1"

    static let all: [Backend] = {
        // The run's last line says which databases were tested, after the test library's summary.
        atexit {
            let line = Backend.postgresURL == nil
                ? "⚠️  PostgreSQL was NOT tested: TEST_DATABASE_URL is not set, so only SQLite was. Run `.ci/run`, "
                    + "or set TEST_DATABASE_URL=postgres://user@127.0.0.1:5432/postgres?sslmode=disable."
                : "Databases tested: SQLite and PostgreSQL (TEST_DATABASE_URL)."
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        return postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
    }()

    var testDescription: String { rawValue }
}

/// A service on a fresh database (a new SQLite file, or a new schema in the PostgreSQL
/// database) with a fast queue, plus helpers to drive it over HTTP.
struct TestService {
    static let secret = "test-secret-test-secret-test-secret-0123456789"

    let backend: Backend
    let config: AppConfiguration
    let system: ConcertSystem
    let database: TestDatabase
    let logger: Logger
    /// The service's clock: the system's, until a test moves it forward.
    let clock = AdjustableClock()

    /// `logs` collects what the service logs at warning and above.
    init(_ backend: Backend, logs: LogLines? = nil, configure: (inout AppConfiguration) -> Void = { _ in }) async throws {
        try await self.init(backend, database: TestDatabase.create(backend), logs: logs, configure: configure)
    }

    /// A second service on the same database as `other`: another process, or a restart.
    init(sharingDatabaseOf other: TestService, configure: (inout AppConfiguration) -> Void = { _ in }) async throws {
        try await self.init(other.backend, database: other.database, logs: nil, configure: configure)
    }

    private init(_ backend: Backend, database: TestDatabase, logs: LogLines?, configure: (inout AppConfiguration) -> Void) async throws {
        var config = AppConfiguration()
        database.configure(&config)
        config.databasePoolSize = 8
        config.authSecret = Self.secret
        config.queueTick = .milliseconds(20)
        config.seatFeedRefresh = .milliseconds(20)
        config.holdSweepInterval = .milliseconds(50)
        config.port = 0
        config.instanceID = "test-\(UUID().uuidString.prefix(8))"
        configure(&config)
        self.backend = backend
        self.config = config
        self.database = database
        if let logs {
            logger = logs.logger(level: .warning)
        } else {
            var logger = Logger(label: "concert-test")
            logger.logLevel = .warning
            self.logger = logger
        }
        system = try await ConcertSystem.open(config, clock: clock, logger: logger)
    }

    /// Runs `body` against the whole application, background tasks and database included;
    /// the app shuts them down when `body` returns. `.live` serves it on a real socket of 127.0.0.1.
    func run<T: Sendable>(_ testing: TestingSetup = .router, _ body: @Sendable (TestDriver) async throws -> T) async throws -> T {
        let app = try await buildApplication(system, config: config, logger: logger)
        return try await app.test(testing) { client in
            try await body(TestDriver(client: client, service: self))
        }
    }

    /// Runs `body` against this instance and `other` (on the same database) at once.
    func run<T: Sendable>(alongside other: TestService, _ body: @Sendable (TestDriver, TestDriver) async throws -> T) async throws -> T {
        try await run { one in try await other.run { two in try await body(one, two) } }
    }

    /// Runs `body` on a SQLite service and its storage, then checks the invariants.
    static func withSQLite(_ body: @Sendable (TestService, TestDriver, SQLiteStorage) async throws -> Void) async throws {
        let service = try await TestService(.sqlite)
        try await service.run { api in
            try await body(service, api, try #require(service.system.storage as? SQLiteStorage))
            try await checkInvariants(service)
        }
    }

    func token(user: Int64, admin: Bool = false) async throws -> String {
        try await system.credentials.mint(userID: user, admin: admin, validFor: .seconds(3600), now: clock.now)
    }

    /// The performance a schedule belongs to, from the database.
    func performance(ofSchedule schedule: Int) async throws -> Int {
        try #require(try await database.int("SELECT performance_id FROM schedules WHERE id = \(schedule)"))
    }
}

/// An independent connection to a test's database, to check (or tamper with) what the
/// service stored. The SQL must read the same on both databases.
struct TestDatabase: Sendable {
    enum Location: Sendable {
        case sqliteFile(String)
        case postgresSchema(String)
    }

    let location: Location

    static func create(_ backend: Backend) async throws -> TestDatabase {
        switch backend {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("concert-test-\(UUID().uuidString).sqlite").path
            return TestDatabase(location: .sqliteFile(path))
        case .postgres:
            let schema = "test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
            try await TestPostgres.shared.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"))
            return TestDatabase(location: .postgresSchema(schema))
        }
    }

    /// The PostgreSQL schema of this test, nil on SQLite.
    var postgresSchema: String? {
        if case .postgresSchema(let schema) = location { schema } else { nil }
    }

    func configure(_ config: inout AppConfiguration) {
        switch location {
        case .sqliteFile(let path):
            config.sqlitePath = path
        case .postgresSchema(let schema):
            config.databaseURL = TestPostgres.url(schema: schema)
        }
    }

    /// The first column of the first row, as an integer.
    func int(_ sql: String) async throws -> Int? {
        switch location {
        case .sqliteFile(let path):
            return try await Self.sqlite(path).read { try Int.fetchOne($0, sql: sql) }
        case .postgresSchema(let schema):
            return try await TestPostgres.rows(sql, schema: schema).first?.decode(Int?.self)
        }
    }

    func string(_ sql: String) async throws -> String? {
        switch location {
        case .sqliteFile(let path):
            return try await Self.sqlite(path).read { try String.fetchOne($0, sql: sql) }
        case .postgresSchema(let schema):
            return try await TestPostgres.rows(sql, schema: schema).first?.decode(String?.self)
        }
    }

    /// Waits for the service's writer like the service does, rather than failing at once.
    private static func sqlite(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    func execute(_ sql: String) async throws {
        switch location {
        case .sqliteFile(let path):
            try await Self.sqlite(path).write { try $0.execute(sql: sql) }
        case .postgresSchema(let schema):
            _ = try await TestPostgres.rows(sql, schema: schema)
        }
    }
}

/// One client to the test server for the whole run, for creating schemas and checking them.
enum TestPostgres {
    static let shared: PostgresClient = {
        let client = PostgresClient(
            configuration: try! PostgresURL.parse(Backend.postgresURL ?? "postgres://localhost"),
            backgroundLogger: Logger(label: "test-postgres"))
        Task { await client.run() }
        return client
    }()

    static func url(schema: String) -> String {
        let base = Backend.postgresURL ?? ""
        return base + (base.contains("?") ? "&" : "?") + "options=-c%20search_path%3D\(schema)"
    }

    static func rows(_ sql: String, schema: String) async throws -> [PostgresRow] {
        try await shared.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: logger)
            return try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
        }
    }

    static let logger = Logger(label: "test-postgres")
}

struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
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
        let reply = Reply(status: response.status, headers: response.headers, body: Data(buffer: response.body))
        // Every key of every JSON answer is snake_case (each response type names its keys).
        if let json = try? JSONSerialization.jsonObject(with: reply.body) {
            let keys = Self.keys(of: json)
            #expect(keys.allSatisfy { $0.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } }, "\(method) \(uri): \(keys.sorted())")
        }
        return reply
    }

    private static func keys(of json: Any) -> Set<String> {
        switch json {
        case let object as [String: Any]: Set(object.keys).union(object.values.flatMap { keys(of: $0) })
        case let array as [Any]: Set(array.flatMap { keys(of: $0) })
        default: []
        }
    }

    /// Joins the room of `performance` as `user`.
    func join(user: Int64, performance: Int) async throws -> Reply {
        try await request(.post, "/v1/queue/tokens", user: user, body: #"{"performance_id": \#(performance)}"#)
    }

    /// Joins the room of `performance` as `user` and waits until admitted; returns the active token.
    func admittedToken(user: Int64, performance: Int) async throws -> String {
        let joined = try await join(user: user, performance: performance)
        let token = try #require(joined.string("token"), "\(joined.status): \(joined.errorMessage ?? "")")
        // Ticks are 20 ms, but a machine busy with the other tests can delay them for seconds.
        let admitted = try await eventually(within: .seconds(30), every: .milliseconds(10)) {
            try await request(.get, "/v1/queue/tokens/current", queueToken: token).string("status") == "active"
        }
        if !admitted { Issue.record("user \(user) was never admitted") }
        return token
    }

    /// An active token of the room of the schedule's performance.
    func admittedToken(user: Int64, schedule: Int) async throws -> String {
        try await admittedToken(user: user, performance: try await service.performance(ofSchedule: schedule))
    }

    /// Creates a performance whose room has the `sale` settings (JSON); by default a room that
    /// opens at once, without the cap of active users by seats (tests of other rules admit more
    /// users than seats), and waits for its draw, so that joins queue in arrival order. Returns its id.
    func createPerformance(sale: String? = nil) async throws -> Int {
        let performance = try await request(
            .post, "/v1/admin/performances", user: 1, admin: true,
            body: #"{"title": "Test Show", "performer": "Tester", "description": "d", "sale": \#(sale ?? #"{"active_per_seat": 0}"#)}"#)
        let id = try #require(performance.int("id"), "\(performance.status): \(performance.errorMessage ?? "")")
        if sale == nil { try await waitForDraw(of: id) }
        return id
    }

    /// Waits until this instance shows the draw of the performance's room; answers its seed.
    @discardableResult
    func waitForDraw(of performance: Int) async throws -> String? {
        var seed: String?
        let drawn = try await eventually(within: .seconds(30), every: .milliseconds(10)) {
            seed = (try await request(.get, "/v1/performances/\(performance)/room").json["draw"] as? [String: Any])?["seed"] as? String
            return seed != nil
        }
        #expect(drawn, "the draw of performance \(performance) never ran")
        return seed
    }

    /// Changes the room of `performance` as an organiser (`change` is the JSON body).
    @discardableResult
    func changeRoom(of performance: Int, _ change: String) async throws -> Reply {
        let reply = try await request(.patch, "/v1/admin/performances/\(performance)/room", user: 1, admin: true, body: change)
        #expect(reply.status == .ok, "\(reply.status): \(reply.errorMessage ?? "")")
        return reply
    }

    func poll(_ token: String?) async throws -> Reply {
        try await request(.get, "/v1/queue/tokens/current", queueToken: token)
    }

    /// Creates a schedule on sale now, of a new performance unless `performance` is given; returns its id.
    func createSchedule(
        seats: [(grade: String, count: Int, price: Int)] = [("R", 100, 1000)], startsIn: TimeInterval = 30 * 86400, performance: Int? = nil
    ) async throws -> Int {
        let id: Int
        if let performance { id = performance } else { id = try await createPerformance() }
        let schedule = try await request(
            .post, "/v1/admin/performances/\(id)/schedules", user: 1, admin: true, body: scheduleOnSaleNow(seats: seats, startsIn: startsIn))
        #expect(schedule.status == .created)
        return try #require(schedule.int("id"))
    }

    func hold(user: Int64, schedule: Int, seats: [Int], queueToken: String? = nil, idempotencyKey: String? = nil) async throws -> Reply {
        let token: String
        if let queueToken { token = queueToken } else { token = try await admittedToken(user: user, schedule: schedule) }
        return try await request(
            .post, "/v1/reservations", user: user, queueToken: token, idempotencyKey: idempotencyKey,
            body: #"{"schedule_id": \#(schedule), "seat_numbers": \#(seats)}"#)
    }

    func charge(user: Int64, amount: Int) async throws -> Reply {
        try await request(.post, "/v1/wallet/charges", user: user, body: #"{"amount": \#(amount)}"#)
    }
}

/// The body of a new schedule whose sale is open now.
func scheduleOnSaleNow(seats: [(grade: String, count: Int, price: Int)], startsIn: TimeInterval) -> String {
    let now = Date()
    let format = Date.ISO8601FormatStyle()
    let groups = seats.map { #"{"grade": "\#($0.grade)", "count": \#($0.count), "price": \#($0.price)}"# }.joined(separator: ",")
    return """
        {"starts_at": "\(format.format(now.addingTimeInterval(startsIn)))",
         "sale_opens_at": "\(format.format(now.addingTimeInterval(-60)))",
         "sale_closes_at": "\(format.format(now.addingTimeInterval(startsIn - 1)))",
         "seats": [\(groups)]}
        """
}

/// Admission rounds by another instance than the round before, less than a lease (1 s with
/// the tests' ticks) after it: a live admitter may lose its lease only by missing it.
func admitterHandoversWithinALease(_ database: TestDatabase) async throws -> Int? {
    try await database.int("""
        SELECT COUNT(*) FROM (
            SELECT admitted_by, admitted_at, LAG(admitted_by) OVER (ORDER BY id) AS previous_by,
                   LAG(admitted_at) OVER (ORDER BY id) AS previous_at
            FROM queue_admissions) rounds
        WHERE previous_by != admitted_by AND admitted_at - previous_at < 1000
        """)
}

/// The service's invariants (no seat sold twice, wallets equal their ledgers…), read straight from the database.
func checkInvariants(_ service: TestService) async throws {
    try await checkInvariants(service.database)
}

func checkInvariants(_ database: TestDatabase) async throws {
    let doubleClaims = try await database.int("""
        SELECT COUNT(*) FROM (SELECT c.schedule_id, c.seat_no FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
        WHERE r.state IN ('pending', 'confirmed') GROUP BY c.schedule_id, c.seat_no HAVING COUNT(*) > 1) doubles
        """)
    #expect(doubleClaims == 0, "a seat is in two live reservations")
    let drift = try await database.int("""
        SELECT COUNT(*) FROM schedules s JOIN schedule_remaining_seats v ON v.schedule_id = s.id
        WHERE v.remaining_seats != s.total_seats -
          (SELECT COUNT(*) FROM seat_claims c WHERE c.schedule_id = s.id AND c.live = 1)
        """)
    #expect(drift == 0, "remaining_seats differs from seats minus live claims")
    let liveClaimsOfDeadReservations = try await database.int("""
        SELECT COUNT(*) FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
        WHERE c.live = 1 AND r.state NOT IN ('pending', 'confirmed')
        """)
    #expect(liveClaimsOfDeadReservations == 0)
    let walletsOffLedger = try await database.int("""
        SELECT COUNT(*) FROM wallets w WHERE w.balance < 0 OR w.balance !=
          (SELECT COALESCE(SUM(amount), 0) FROM wallet_entries e WHERE e.user_id = w.user_id)
        """)
    #expect(walletsOffLedger == 0, "a wallet's balance differs from its ledger")
}

@Suite struct TestSetupTests {
    /// CI sets REQUIRE_POSTGRES_TESTS=1: without a server the run fails instead of testing SQLite alone.
    @Test func postgresIsTestedWhenRequired() {
        #expect(!Backend.postgresRequired || Backend.all.contains(.postgres), "REQUIRE_POSTGRES_TESTS=1 but TEST_DATABASE_URL is not set")
    }
}
