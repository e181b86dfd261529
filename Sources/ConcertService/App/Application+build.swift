import Foundation
import Hummingbird
import Logging

/// Assembles the whole service: database, use cases, routes and background tasks.
public func buildApplication(_ config: AppConfiguration) async throws -> some ApplicationProtocol {
    let logger = Logger.service(level: config.logLevel)
    let system = try await ConcertSystem.open(config, logger: logger)
    return try await buildApplication(system, config: config, logger: logger)
}

public func buildApplication(_ system: ConcertSystem, config: AppConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    try await system.queue.restore()
    var app = Application(
        router: buildRouter(system),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "concert", backlog: config.listenBacklog),
        logger: logger)
    app.addServices(
        PeriodicTask(name: "queue tick", every: config.queueTick, logger: logger) {
            try await system.queue.tick()
        },
        PeriodicTask(name: "hold sweeper", every: config.holdSweepInterval, logger: logger) {
            _ = try await system.reservations.releaseLapsedHolds()
        },
        PeriodicTask(name: "idempotency key cleanup", every: .seconds(3600), logger: logger) {
            try await system.storage.forgetIdempotencyKeys(before: Date().addingTimeInterval(-24 * 3600))
        })
    return app
}

/// Every route of API v1 and the operational endpoints.
func buildRouter(_ system: ConcertSystem) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: ErrorMiddleware())
    let auth = Authenticator(credentials: system.credentials)
    QueueController(auth: auth, queue: system.queue).addRoutes(to: router)
    CatalogueController(auth: auth, queue: system.queue, catalogue: system.catalogue).addRoutes(to: router)
    ReservationController(auth: auth, reservations: system.reservations).addRoutes(to: router)
    WalletController(auth: auth, wallets: system.wallets).addRoutes(to: router)
    AdminController(auth: auth, catalogue: system.catalogue).addRoutes(to: router)
    OperationsController(storage: system.storage, metrics: AppMetrics.registry).addRoutes(to: router)
    return router
}
