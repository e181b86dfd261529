import Foundation
import Hummingbird

/// Holds, payment, cancellation and the user's reservations.
struct ReservationController {
    let authentication: Authentication
    let clock: any WallClock
    let reservations: ReservationService
    /// Told of every hold, payment and cancellation made here, for the seat streams.
    let feeds: SeatFeeds

    func addRoutes(to router: Router<AppRequestContext>) {
        router.group("v1/reservations")
            .add(middleware: authentication)
            .post(use: hold)
            .get(use: list)
            .get(":id", use: reservation)
            .post(":id/payment", use: pay)
            .post(":id/cancel", use: cancel)
    }

    struct HoldBody: Decodable {
        var scheduleID: Int64
        var seatNumbers: [Int]

        enum CodingKeys: String, CodingKey {
            case scheduleID = "schedule_id", seatNumbers = "seat_numbers"
        }
    }

    @Sendable func hold(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<ReservationResponse> {
        let identity = try context.caller
        let body = try await ReceivedBody.read(request, context: context)
        let input = try body.decode(HoldBody.self)
        let now = clock.now
        let result = try await reservations.hold(
            identity, queueToken: request.queueToken, scheduleID: input.scheduleID, seatNumbers: input.seatNumbers,
            idempotency: try request.idempotencyKey(for: identity, body: body), now: now)
        return try await response(result, now: now, status: .created)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ReservationListResponse {
        let identity = try context.caller
        let now = clock.now
        var listed: [ReservationResponse] = []
        for reservation in try await reservations.reservations(of: identity) { listed.append(try await response(reservation, now: now)) }
        return ReservationListResponse(reservations: listed)
    }

    @Sendable func reservation(_ request: Request, context: AppRequestContext) async throws -> ReservationResponse {
        let id = try context.id()
        return try await response(try await reservations.reservation(id, of: try context.caller), now: clock.now)
    }

    @Sendable func pay(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<ReservationResponse> {
        let id = try context.id()
        let identity = try context.caller
        let now = clock.now
        let result = try await reservations.pay(
            identity, reservationID: id, idempotency: try request.idempotencyKey(for: identity, body: nil), now: now)
        return try await response(result, now: now, status: .ok)
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<ReservationResponse> {
        let id = try context.id()
        let identity = try context.caller
        let now = clock.now
        let result = try await reservations.cancel(
            identity, reservationID: id, idempotency: try request.idempotencyKey(for: identity, body: nil), now: now)
        return try await response(result, now: now, status: .ok)
    }

    /// The reservation with what was bought, from its schedule's sale layout (read once per instance).
    private func response(_ reservation: Reservation, now: Date) async throws -> ReservationResponse {
        ReservationResponse(reservation, layout: try await reservations.layout(of: reservation.scheduleID), now: now)
    }

    private func response(_ result: Idempotent<Reservation>, now: Date, status: HTTPResponse.Status) async throws
        -> EditedResponse<ReservationResponse>
    {
        if !result.replayed { feeds.changed(result.value.scheduleID, now: { [clock] in clock.now }) }
        let answer = try await response(result.value, now: now)
        return result.map { _ in answer }.response(status: status)
    }
}
