import Foundation
import Hummingbird

/// Browsing: the listing and a performance's page are public; a schedule's seat map needs an
/// active queue token of its performance's room.
struct CatalogueController {
    /// The listing's range when the client gives none.
    static let defaultListingDays = 90

    let authentication: Authentication
    let clock: any WallClock
    let queue: QueueService
    let catalogue: CatalogueService
    let reservations: ReservationService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("v1/performances", use: list)
        router.get("v1/performances/:id", use: performance)
        router.group("v1")
            .add(middleware: authentication)
            .get("schedules/:id/seats", use: seats)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PerformanceListResponse {
        let now = clock.now
        let from = try request.dateQuery("from") ?? now
        let to = try request.dateQuery("to") ?? from.addingTimeInterval(TimeInterval(Self.defaultListingDays * 24 * 3600))
        let listings = try await catalogue.performances(from: from, to: to, now: now)
        return PerformanceListResponse(performances: listings.map { PerformanceResponse($0, now: now) })
    }

    @Sendable func performance(_ request: Request, context: AppRequestContext) async throws -> PerformanceResponse {
        let id = try context.id()
        let now = clock.now
        return PerformanceResponse(try await catalogue.performance(id, now: now), now: now)
    }

    @Sendable func seats(_ request: Request, context: AppRequestContext) async throws -> SeatMapResponse {
        let id = try context.id()
        let now = clock.now
        // The token is checked before the schedule is looked up, so ids reveal nothing to a client without one.
        let ticket = try queue.ownTicket(token: request.queueToken, userID: try context.caller.userID, now: now)
        try QueueService.checkRoom(of: ticket, is: try await reservations.layout(of: id).schedule.performanceID)
        if let refusal = queue.refusal(for: ticket, now: now) { throw refusal }
        return SeatMapResponse(try await catalogue.seatMap(scheduleID: id, now: now), now: now)
    }
}
