import Foundation
import Logging

/// Everything the service is configured with, read from environment
/// variables. Defaults live here and nowhere else.
public struct AppConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Connections the kernel queues for `accept`: an on-sale crowd opens thousands at once, and
    /// past the queue's end the kernel drops them (the client retries after 1 s, then 3 s).
    /// Linux caps it at net.core.somaxconn (4096 by default).
    public var listenBacklog = 4096
    /// A postgres:// URL selects PostgreSQL; otherwise the SQLite file at `sqlitePath`.
    public var databaseURL: String?
    /// Most PostgreSQL connections this instance opens.
    public var databasePoolSize = 16
    /// Longest a PostgreSQL statement waits for a row lock before answering CONTENDED.
    public var lockTimeout: Duration = .seconds(2)
    /// Longest a request waits for the database (a connection included) before answering
    /// SERVICE_UNAVAILABLE; on SQLite, how long a write waits for the file's lock.
    public var databaseTimeout: Duration = .seconds(5)
    public var sqlitePath = "./concert.sqlite"
    /// Names this instance in the admitter lease and in logs.
    public var instanceID = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    /// HS256 key of user and admin credentials; nil means a random key for this run.
    public var authSecret: String?
    /// Key of queue tokens; nil means derived from the credential key.
    public var queueSecret: String?
    public var queueTick: Duration = .milliseconds(1000)
    public var admitPerTick = 1000
    /// 0 means unlimited.
    public var maxActive = 0
    public var activeDuration: Duration = .seconds(300)
    public var holdDuration: Duration = .seconds(300)
    public var maxSeatsPerHold = 4
    public var walletMaxCharge: Int64 = 10_000_000
    /// How often each instance reads again the seat maps its streams watch (lapsed holds, and
    /// changes made elsewhere that it was not told of). The seat streams' heartbeats ride on
    /// these reads, hence the limit of 5 s.
    public var seatFeedRefresh: Duration = .milliseconds(1000)
    /// How often the sweeper looks for holds past their deadline.
    public var holdSweepInterval: Duration = .milliseconds(250)
    public var logLevel: Logger.Level = .info
    /// A keep-alive connection with no request for this long is closed (longer than a load
    /// balancer's own idle timeout for its upstream connections, 60 s in nginx, so that it is
    /// the balancer that closes them).
    public var idleTimeout: Duration = .seconds(75)
    /// A request whose headers have not all arrived this long after its first byte is cut off.
    public var headerTimeout: Duration = .seconds(10)
    public var rateLimits = RateLimitSettings()
    /// Addresses of the load balancers whose `X-Forwarded-For` names the client.
    public var trustedProxies: Set<String> = []
    /// Web origins (scheme://host[:port]) whose pages may call the API from a browser.
    public var corsAllowedOrigins: [String] = []
    /// Demo mode: `POST /v1/demo/sign-in` hands out credentials for any user.
    public var demoSignIn = false

    public init() {}

    public init(environment: [String: String]) throws {
        let reader = EnvironmentReader(environment: environment)
        host = reader.string("HOST") ?? host
        port = try reader.integer("PORT", in: 0...65535) ?? port
        listenBacklog = try reader.integer("LISTEN_BACKLOG", in: 1...65535) ?? listenBacklog
        databaseURL = reader.string("DATABASE_URL")
        databasePoolSize = try reader.integer("DATABASE_POOL_SIZE", in: 1...1000) ?? databasePoolSize
        lockTimeout = try reader.integer("DATABASE_LOCK_TIMEOUT_MS", in: 10...60_000).map { .milliseconds($0) } ?? lockTimeout
        databaseTimeout = try reader.integer("DATABASE_TIMEOUT_MS", in: 100...60_000).map { .milliseconds($0) } ?? databaseTimeout
        sqlitePath = reader.string("SQLITE_PATH") ?? sqlitePath
        instanceID = reader.string("INSTANCE_ID") ?? instanceID
        authSecret = reader.string("AUTH_JWT_SECRET")
        if let secret = authSecret, secret.utf8.count < 32 {
            throw ConfigurationError("AUTH_JWT_SECRET must be at least 32 bytes (HS256 needs a key as long as its hash).")
        }
        queueSecret = reader.string("QUEUE_SECRET")
        queueTick = try reader.integer("QUEUE_TICK_MS", in: 1...3_600_000).map { .milliseconds($0) } ?? queueTick
        admitPerTick = try reader.integer("QUEUE_ADMIT_PER_TICK", in: 1...1_000_000) ?? admitPerTick
        maxActive = try reader.integer("QUEUE_MAX_ACTIVE", in: 0...100_000_000) ?? maxActive
        activeDuration = try reader.integer("QUEUE_ACTIVE_TTL_S", in: 1...86_400).map { .seconds($0) } ?? activeDuration
        holdDuration = try reader.integer("HOLD_TTL_S", in: 1...86_400).map { .seconds($0) } ?? holdDuration
        maxSeatsPerHold = try reader.integer("MAX_SEATS_PER_HOLD", in: 1...100) ?? maxSeatsPerHold
        walletMaxCharge = try reader.integer("WALLET_MAX_CHARGE", in: 1...Int(Wallet.maxBalance)).map(Int64.init) ?? walletMaxCharge
        seatFeedRefresh = try reader.integer("SEAT_FEED_REFRESH_MS", in: 10...5_000).map { .milliseconds($0) } ?? seatFeedRefresh
        holdSweepInterval = try reader.integer("HOLD_SWEEP_MS", in: 10...60_000).map { .milliseconds($0) } ?? holdSweepInterval
        idleTimeout = try reader.integer("HTTP_IDLE_TIMEOUT_S", in: 1...86_400).map { .seconds($0) } ?? idleTimeout
        headerTimeout = try reader.integer("HTTP_HEADER_TIMEOUT_S", in: 1...3_600).map { .seconds($0) } ?? headerTimeout
        rateLimits.writesPerMinute = try reader.integer("RATE_LIMIT_WRITES_PER_MIN", in: 0...1_000_000) ?? rateLimits.writesPerMinute
        rateLimits.pollsPerMinute = try reader.integer("RATE_LIMIT_POLLS_PER_MIN", in: 0...1_000_000) ?? rateLimits.pollsPerMinute
        rateLimits.anonymousPerMinute =
            try reader.integer("RATE_LIMIT_ANONYMOUS_PER_MIN", in: 0...10_000_000) ?? rateLimits.anonymousPerMinute
        if let proxies = reader.string("TRUSTED_PROXIES") {
            trustedProxies = Set(proxies.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        if let origins = reader.string("CORS_ALLOWED_ORIGINS") {
            corsAllowedOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        demoSignIn = try reader.flag("DEMO_SIGN_IN") ?? demoSignIn
        if let level = reader.string("LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError("LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            logLevel = parsed
        }
    }

    public var admissionPolicy: AdmissionPolicy {
        AdmissionPolicy(tick: queueTick, admitPerTick: admitPerTick, maxActive: maxActive, activeDuration: activeDuration)
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

private struct EnvironmentReader {
    let environment: [String: String]

    /// A set, non-empty value.
    func string(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func flag(_ name: String) throws -> Bool? {
        guard let text = string(name) else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw ConfigurationError("\(name) must be 1 or 0, not \"\(text)\".")
        }
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not \"\(text)\".")
        }
        return value
    }
}
