import Foundation
import Hummingbird

/// Catalogue administration, for admin credentials only.
struct AdminController {
    let authentication: Authentication
    let clock: any WallClock
    let catalogue: CatalogueService
    let integrity: IntegrityService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.group("v1/admin/performances")
            .add(middleware: authentication)
            .post(use: createPerformance)
            .post(":id/schedules", use: createSchedule)
            .get(":id/sales", use: sales)
        router.group("v1/admin/integrity")
            .add(middleware: authentication)
            .get(use: checkIntegrity)
    }

    struct PerformanceBody: Decodable {
        var title: String
        var performer: String
        var description: String?
        /// The waiting room's settings; all optional.
        var sale: SaleBody?

        enum CodingKeys: String, CodingKey { case title, performer, description, sale }

        init(from decoder: any Decoder) throws {
            let body = try decoder.container(keyedBy: CodingKeys.self)
            title = try body.decode(String.self, forKey: .title)
            performer = try body.decode(String.self, forKey: .performer)
            description = try body.decodeIfPresent(String.self, forKey: .description)
            sale = try body.ifSent(SaleBody.self, forKey: .sale)
        }
    }

    struct ScheduleBody: Decodable {
        var startsAt: Date
        var saleOpensAt: Date
        var saleClosesAt: Date
        var seats: [SeatGroup]

        enum CodingKeys: String, CodingKey {
            case startsAt = "starts_at", saleOpensAt = "sale_opens_at", saleClosesAt = "sale_closes_at", seats
        }
    }

    @Sendable func createPerformance(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<PerformanceResponse> {
        let input = try await ReceivedBody.read(request, context: context).decode(PerformanceBody.self)
        let now = clock.now
        let newPerformance = try NewPerformance(title: input.title, performer: input.performer, description: input.description ?? "")
        let sale = try (input.sale ?? SaleBody()).settings(now: now)
        let performance = try await catalogue.createPerformance(newPerformance, sale: sale, now: now)
        return EditedResponse(status: .created, response: PerformanceResponse(performance, now: now))
    }

    @Sendable func createSchedule(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<ScheduleResponse> {
        let performanceID = try context.id()
        let input = try await ReceivedBody.read(request, context: context).decode(ScheduleBody.self)
        let schedule = try NewSchedule(
            startsAt: input.startsAt, saleOpensAt: input.saleOpensAt, saleClosesAt: input.saleClosesAt, groups: input.seats)
        let now = clock.now
        let created = try await catalogue.createSchedule(schedule, performanceID: performanceID, now: now)
        return EditedResponse(status: .created, response: ScheduleResponse(created, now: now))
    }

    @Sendable func sales(_ request: Request, context: AppRequestContext) async throws -> SalesResponse {
        let performanceID = try context.id()
        return SalesResponse(performanceID: performanceID, sales: try await catalogue.sales(performanceID: performanceID, now: clock.now))
    }

    /// The integrity checks of `concert check`, on the live database. A report with violations
    /// is still a 200: the check itself worked.
    @Sendable func checkIntegrity(_ request: Request, context: AppRequestContext) async throws -> IntegrityResponse {
        return IntegrityResponse(try await integrity.check())
    }
}
