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
        router: buildRouter(system, config: config),
        server: .guardedHTTP1(idleTimeout: config.idleTimeout, headerTimeout: config.headerTimeout),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "concert", backlog: config.listenBacklog),
        logger: logger)
    app.addServices(
        PeriodicTask(name: "database monitor", every: .milliseconds(500), logger: logger) {
            await system.checkDatabase()
        },
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
func buildRouter(_ system: ConcertSystem, config: AppConfiguration) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let allowedMethods = AllowedMethods()
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: ErrorMiddleware(allowedMethods: allowedMethods))
    router.add(middleware: AnonymousLimitMiddleware(limits: system.limits, trustedProxies: config.trustedProxies))
    let auth = Authenticator(credentials: system.credentials)
    QueueController(auth: auth, queue: system.queue).addRoutes(to: router)
    CatalogueController(auth: auth, queue: system.queue, catalogue: system.catalogue).addRoutes(to: router)
    ReservationController(auth: auth, reservations: system.reservations).addRoutes(to: router)
    WalletController(auth: auth, wallets: system.wallets).addRoutes(to: router)
    AdminController(auth: auth, catalogue: system.catalogue, integrity: system.integrity).addRoutes(to: router)
    OperationsController(system: system, metrics: AppMetrics.registry).addRoutes(to: router)
    allowedMethods.learn(router.routes)
    return router
}
