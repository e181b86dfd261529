import Crypto
import Foundation
import Logging
import Metrics
import Prometheus

/// The service's use cases wired to one storage backend: what the HTTP layer, the
/// background tasks and the command line all work through.
public struct ConcertSystem: Sendable {
    public let storage: any Storage
    public let credentials: Credentials
    public let queue: QueueService
    public let catalogue: CatalogueService
    public let reservations: ReservationService
    public let wallets: WalletService

    /// Opens the configured database (running its migrations) and wires the use cases.
    public static func open(_ config: AppConfiguration, logger: Logger) async throws -> ConcertSystem {
        _ = AppMetrics.registry
        let storage: any Storage = if let url = config.databaseURL {
            try await PostgresStorage(url: url, poolSize: config.databasePoolSize, lockTimeout: config.lockTimeout, logger: logger)
        } else {
            try SQLiteStorage(path: config.sqlitePath)
        }
        let authSecret = config.authSecret ?? Self.randomSecret(logger: logger)
        let queueKey = config.queueSecret.map { SymmetricKey(data: Data($0.utf8)) }
            ?? QueueTokenCodec.derivedSecret(fromCredentialSecret: authSecret)
        let queue = QueueService(
            store: storage, codec: QueueTokenCodec(secret: queueKey), policy: config.admissionPolicy, instanceID: config.instanceID)
        return ConcertSystem(
            storage: storage,
            credentials: await Credentials(secret: authSecret),
            queue: queue,
            catalogue: CatalogueService(store: storage),
            reservations: ReservationService(
                store: storage, queue: queue, holdDuration: config.holdDuration, maxSeatsPerHold: config.maxSeatsPerHold),
            wallets: WalletService(store: storage, maxCharge: config.walletMaxCharge))
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
