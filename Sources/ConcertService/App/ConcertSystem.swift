import Crypto
import Foundation
import Logging
import Metrics
import Prometheus

/// The service's use cases wired to one storage backend: what the HTTP layer, the
/// background tasks and the command line all work through.
public struct ConcertSystem: Sendable {
    /// The database itself, unguarded: a service of the app, and for the command line and the tests.
    public let storage: any StorageBackend
    /// How instances sharing the database tell each other of seat changes; nil on SQLite.
    public let seatChangeNews: (any SeatChangeNews)?
    /// Whether the database answers, as the monitor last found it.
    public let availability: DatabaseAvailability
    /// Where every rule reads the time.
    public let clock: any WallClock
    public let limits: RateLimits
    public let credentials: Credentials
    public let queue: QueueService
    public let catalogue: CatalogueService
    /// The seat maps the seat streams of this instance watch.
    public let seatFeeds: SeatFeeds
    public let reservations: ReservationService
    public let wallets: WalletService
    public let integrity: IntegrityService

    /// Wires the use cases to the configured database, which serves once its `run` has started.
    public static func open(_ config: AppConfiguration, clock: any WallClock = SystemClock(), logger: Logger) async throws -> ConcertSystem {
        _ = AppMetrics.registry
        let storage = try openStorage(config, logger: logger)
        let availability = DatabaseAvailability(pingTimeout: config.databaseTimeout, logger: logger)
        // Only the network database can go away or stall; SQLite's waits are bounded by its busy timeout.
        let store: any Storage = storage is PostgresStorage
            ? GuardedStorage(storage, availability: availability, timeout: config.databaseTimeout) : storage
        let authSecret = config.authSecret ?? Self.randomSecret(logger: logger)
        let queueKey = config.queueSecret.map { SymmetricKey(data: Data($0.utf8)) }
            ?? QueueTokenCodec.derivedSecret(fromCredentialSecret: authSecret)
        let limits = RateLimits(config.rateLimits)
        // Background work may read a whole room at once, which takes longer than a request may wait.
        let background: any Storage = storage is PostgresStorage
            ? GuardedStorage(storage, availability: availability, timeout: max(config.databaseTimeout, .seconds(60))) : storage
        let catalogue = CatalogueService(store: store)
        let queue = QueueService(
            store: store, background: background, codec: QueueTokenCodec(secret: queueKey), policy: config.admissionPolicy, instanceID: config.instanceID,
            limits: limits)
        let seatChangeNews = (storage as? PostgresStorage).map { PostgresSeatChangeNews(storage: $0) }
        return ConcertSystem(
            storage: storage,
            seatChangeNews: seatChangeNews,
            availability: availability,
            clock: clock,
            limits: limits,
            credentials: await Credentials(secret: authSecret),
            queue: queue,
            catalogue: catalogue,
            seatFeeds: SeatFeeds(catalogue: catalogue, news: seatChangeNews),
            reservations: ReservationService(
                store: store, queue: queue, holdDuration: config.holdDuration, maxSeatsPerHold: config.maxSeatsPerHold, limits: limits),
            wallets: WalletService(store: store, maxCharge: config.walletMaxCharge, limits: limits),
            integrity: IntegrityService(store: store))
    }

    /// The configured database, and nothing else (the command line's database commands need no
    /// credentials).
    public static func openStorage(_ config: AppConfiguration, logger: Logger) throws -> any StorageBackend {
        if let url = config.databaseURL {
            try PostgresStorage(url: url, poolSize: config.databasePoolSize, lockTimeout: config.lockTimeout, logger: logger)
        } else {
            try SQLiteStorage(path: config.sqlitePath, busyTimeout: config.databaseTimeout)
        }
    }

    /// Pings the database and records whether it answers (the app runs this every half second,
    /// so readiness and fail-fast follow a database that refuses connections within about 2 s).
    public func checkDatabase() async {
        await availability.check(storage)
    }

    private static func randomSecret(logger: Logger) -> String {
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.map { String(format: "%02x", $0) }.joined()
        logger.warning(
            "AUTH_JWT_SECRET is not set: using a random key for this run only. Set AUTH_JWT_SECRET to mint credentials with `concert token`.",
            metadata: ["AUTH_JWT_SECRET": "\(secret)"])
        return secret
    }
}

/// The process-wide Prometheus registry; swift-metrics can be bootstrapped only once.
public enum AppMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}
