import Foundation
import Hummingbird
import Logging

/// Assembles the whole service: database, use cases, routes and background tasks.
public func buildApplication(_ config: AppConfiguration) async throws -> some ApplicationProtocol {
    let logger = Logger.service(level: config.logLevel)
    let system = try await ConcertSystem.open(config, logger: logger)
    return try await buildApplication(system, config: config, logger: logger)
}

/// The app owns every lifecycle: the database (its connections and write batchers) runs as
/// its first service, so at shutdown it stops last, after the server has answered its last
/// request and the background tasks have stopped; the schema is brought up to date and the
/// queue read before the server takes its first request.
public func buildApplication(
    _ system: ConcertSystem, config: AppConfiguration, logger: Logger, beforeServing: @escaping @Sendable () async throws -> Void = {}
) async throws -> some ApplicationProtocol {
    var app = Application(
        responder: StreamsInChildTask(inner: try buildRouter(system, config: config).buildResponder()),
        server: .guardedHTTP1(idleTimeout: config.idleTimeout, headerTimeout: config.headerTimeout),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "concert", backlog: config.listenBacklog),
        logger: logger)
    let started = StartupGate()
    app.beforeServerStarts {
        try await system.storage.migrate()
        try await system.queue.restore(now: system.clock.now)
        try await beforeServing()
        started.open()
    }
    app.addServices(
        system.storage,
        PeriodicTask(name: "database monitor", every: .milliseconds(500), after: started, logger: logger) {
            await system.checkDatabase()
        },
        PeriodicTask(name: "queue tick", every: config.queueTick, after: started, logger: logger) {
            try await system.queue.tick(now: system.clock.now)
        },
        PeriodicTask(name: "seat feeds", every: config.seatFeedRefresh, after: started, logger: logger) {
            try await system.seatFeeds.refresh(now: system.clock.now)
        },
        PeriodicTask(name: "hold sweeper", every: config.holdSweepInterval, after: started, logger: logger) {
            _ = try await system.reservations.releaseLapsedHolds(now: system.clock.now)
        },
        PeriodicTask(name: "idempotency key cleanup", every: .seconds(3600), after: started, logger: logger) {
            try await system.storage.forgetIdempotencyKeys(before: system.clock.now.addingTimeInterval(-24 * 3600))
        })
    if let news = system.seatChangeNews {
        app.addServices(SeatChangeListener(news: news, feeds: system.seatFeeds, clock: system.clock))
    }
    return app
}

/// Every route of API v1 and the operational endpoints.
func buildRouter(_ system: ConcertSystem, config: AppConfiguration) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let allowedMethods = AllowedMethods()
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    // Outside the error middleware, so that error answers carry the CORS headers too.
    if !config.corsAllowedOrigins.isEmpty { router.add(middleware: AllowedOriginsCORS(origins: config.corsAllowedOrigins)) }
    router.add(middleware: ErrorMiddleware(allowedMethods: allowedMethods))
    let clock = system.clock
    router.add(middleware: AnonymousLimitMiddleware(limits: system.limits, clock: clock, trustedProxies: config.trustedProxies))
    let user = Authentication(credentials: system.credentials, clock: clock, requirement: .user)
    let admin = Authentication(credentials: system.credentials, clock: clock, requirement: .admin)
    QueueController(authentication: user, clock: clock, queue: system.queue).addRoutes(to: router)
    RoomController(admin: admin, clock: clock, queue: system.queue).addRoutes(to: router)
    CatalogueController(authentication: user, clock: clock, queue: system.queue, catalogue: system.catalogue, reservations: system.reservations)
        .addRoutes(to: router)
    ReservationController(authentication: user, clock: clock, reservations: system.reservations, feeds: system.seatFeeds).addRoutes(to: router)
    StreamController(clock: clock, queue: system.queue, reservations: system.reservations, feeds: system.seatFeeds).addRoutes(to: router)
    WalletController(authentication: user, clock: clock, wallets: system.wallets).addRoutes(to: router)
    AdminController(authentication: admin, clock: clock, catalogue: system.catalogue, integrity: system.integrity).addRoutes(to: router)
    OperationsController(system: system, metrics: AppMetrics.registry).addRoutes(to: router)
    try WebController().addRoutes(to: router)
    if config.demoSignIn { DemoController(credentials: system.credentials, clock: clock).addRoutes(to: router) }
    allowedMethods.learn(router.routes)
    return router
}
