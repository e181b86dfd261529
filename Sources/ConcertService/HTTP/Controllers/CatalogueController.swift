import Foundation
import Hummingbird

/// Flows 4 and 5: browsing, behind an active queue token.
struct CatalogueController {
    /// The listing's range when the client gives none.
    static let defaultListingDays = 90

    let auth: Authenticator
    let queue: QueueService
    let catalogue: CatalogueService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.group("v1")
            .get("performances", use: list)
            .get("performances/:id", use: performance)
            .get("schedules/:id/seats", use: seats)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PerformanceListResponse {
        try await admitted(request)
        let now = Date()
        let from = try request.dateQuery("from") ?? now
        let to = try request.dateQuery("to") ?? from.addingTimeInterval(TimeInterval(Self.defaultListingDays * 24 * 3600))
        let listings = try await catalogue.performances(from: from, to: to, now: now)
        return PerformanceListResponse(performances: listings.map { PerformanceResponse($0, now: now) })
    }

    @Sendable func performance(_ request: Request, context: AppRequestContext) async throws -> PerformanceResponse {
        let id = try context.id()
        try await admitted(request)
        let now = Date()
        return PerformanceResponse(try await catalogue.performance(id, now: now), now: now)
    }

    @Sendable func seats(_ request: Request, context: AppRequestContext) async throws -> SeatMapResponse {
        let id = try context.id()
        try await admitted(request)
        let now = Date()
        return SeatMapResponse(try await catalogue.seatMap(scheduleID: id, now: now), now: now)
    }

    private func admitted(_ request: Request) async throws {
        let identity = try await auth.user(request)
        _ = try queue.requireActive(token: request.queueToken, userID: identity.userID)
    }
}
