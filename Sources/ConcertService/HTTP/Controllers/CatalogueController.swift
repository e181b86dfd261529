import Foundation
import Hummingbird

/// Browsing, behind an active queue token.
struct CatalogueController {
    /// The listing's range when the client gives none.
    static let defaultListingDays = 90

    let authentication: Authentication
    let clock: any WallClock
    let queue: QueueService
    let catalogue: CatalogueService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.group("v1")
            .add(middleware: authentication)
            .get("performances", use: list)
            .get("performances/:id", use: performance)
            .get("schedules/:id/seats", use: seats)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PerformanceListResponse {
        let now = clock.now
        try admitted(request, context: context, now: now)
        let from = try request.dateQuery("from") ?? now
        let to = try request.dateQuery("to") ?? from.addingTimeInterval(TimeInterval(Self.defaultListingDays * 24 * 3600))
        let listings = try await catalogue.performances(from: from, to: to, now: now)
        return PerformanceListResponse(performances: listings.map { PerformanceResponse($0, now: now) })
    }

    @Sendable func performance(_ request: Request, context: AppRequestContext) async throws -> PerformanceResponse {
        let id = try context.id()
        let now = clock.now
        try admitted(request, context: context, now: now)
        return PerformanceResponse(try await catalogue.performance(id, now: now), now: now)
    }

    @Sendable func seats(_ request: Request, context: AppRequestContext) async throws -> SeatMapResponse {
        let id = try context.id()
        let now = clock.now
        try admitted(request, context: context, now: now)
        return SeatMapResponse(try await catalogue.seatMap(scheduleID: id, now: now), now: now)
    }

    private func admitted(_ request: Request, context: AppRequestContext, now: Date) throws {
        _ = try queue.requireActive(token: request.queueToken, userID: try context.caller.userID, now: now)
    }
}
