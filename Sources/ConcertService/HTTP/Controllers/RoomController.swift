import Foundation
import Hummingbird

/// A performance's waiting room: its public view and draw, and its organisers' controls.
struct RoomController {
    let admin: Authentication
    let clock: any WallClock
    let queue: QueueService

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("v1/performances/:id/room", use: room)
        router.get("v1/performances/:id/room/draw", use: draw)
        router.group("v1/admin/performances/:id/room")
            .add(middleware: admin)
            .get(use: adminRoom)
            .patch(use: change)
    }

    @Sendable func room(_ request: Request, context: AppRequestContext) async throws -> RoomResponse {
        RoomResponse(try await queue.room(try context.id(), now: clock.now))
    }

    @Sendable func draw(_ request: Request, context: AppRequestContext) async throws -> DrawResponse {
        DrawResponse(try await queue.draw(try context.id(), now: clock.now))
    }

    @Sendable func adminRoom(_ request: Request, context: AppRequestContext) async throws -> RoomResponse {
        RoomResponse(try await queue.room(try context.id(), now: clock.now), withSettings: true)
    }

    /// What an organiser may change once the room exists: the pace, and whether it admits.
    struct ChangeBody: Decodable {
        var paused: Bool?
        var pace: PaceBody

        enum CodingKeys: String, CodingKey { case paused }

        init(from decoder: any Decoder) throws {
            paused = try decoder.container(keyedBy: CodingKeys.self).ifSent(Bool.self, forKey: .paused)
            pace = try PaceBody(from: decoder)
        }

        func apply(to settings: inout RoomSettings) throws {
            if let paused { settings.paused = paused }
            try pace.apply(to: &settings)
        }
    }

    @Sendable func change(_ request: Request, context: AppRequestContext) async throws -> RoomResponse {
        let id = try context.id()
        let input = try await ReceivedBody.read(request, context: context).decode(ChangeBody.self)
        let room = try await queue.updateRoom(id, { try input.apply(to: &$0) }, now: clock.now)
        return RoomResponse(room, withSettings: true)
    }
}

/// The `sale` object of a new performance: its room's times and pace, each optional.
struct SaleBody: Decodable {
    var prequeueOpensAt: Date?
    var startsAt: Date?
    var pace = PaceBody()

    enum CodingKeys: String, CodingKey {
        case prequeueOpensAt = "prequeue_opens_at", startsAt = "starts_at"
    }

    /// No settings: every default.
    init() {}

    init(from decoder: any Decoder) throws {
        let body = try decoder.container(keyedBy: CodingKeys.self)
        prequeueOpensAt = try body.ifSent(Date.self, forKey: .prequeueOpensAt)
        startsAt = try body.ifSent(Date.self, forKey: .startsAt)
        pace = try PaceBody(from: decoder)
    }

    /// The room's settings; times left out are `now`.
    func settings(now: Date) throws -> RoomSettings {
        var settings = RoomSettings(prequeueOpensAt: prequeueOpensAt ?? now, startsAt: startsAt ?? now)
        try pace.apply(to: &settings)
        return try settings.validated()
    }
}

/// A room's pace and caps, as a new room's `sale` and an organiser's change both give them;
/// each field left out keeps what the room has (a new room: the defaults).
struct PaceBody: Decodable {
    var admitPerTick: Int?
    var tickMs: Int?
    var maxActive: Int?
    var activeTTLSeconds: Int?
    var activePerSeat: Double?
    var abandonAfterSeconds: Int?

    enum CodingKeys: String, CodingKey {
        case admitPerTick = "admit_per_tick", tickMs = "tick_ms", maxActive = "max_active", activeTTLSeconds = "active_ttl_s"
        case activePerSeat = "active_per_seat", abandonAfterSeconds = "abandon_after_s"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let body = try decoder.container(keyedBy: CodingKeys.self)
        admitPerTick = try body.ifSent(Int.self, forKey: .admitPerTick)
        tickMs = try body.ifSent(Int.self, forKey: .tickMs)
        maxActive = try body.ifSent(Int.self, forKey: .maxActive)
        activeTTLSeconds = try body.ifSent(Int.self, forKey: .activeTTLSeconds)
        activePerSeat = try body.ifSent(Double.self, forKey: .activePerSeat)
        abandonAfterSeconds = try body.ifSent(Int.self, forKey: .abandonAfterSeconds)
    }

    func apply(to settings: inout RoomSettings) throws {
        if let admitPerTick { settings.admitPerTick = admitPerTick }
        if let tickMs { settings.tickMillis = tickMs }
        if let maxActive { settings.maxActive = maxActive }
        if let activeTTLSeconds { settings.activeTTLSeconds = activeTTLSeconds }
        if let activePerSeat { settings.activePerSeatMillis = try Self.millis(activePerSeat) }
        if let abandonAfterSeconds { settings.abandonAfterSeconds = abandonAfterSeconds }
    }

    /// Active users per seat, as the thousandths the room keeps.
    static func millis(_ perSeat: Double) throws -> Int {
        guard perSeat.isFinite, perSeat >= 0, perSeat <= Double(RoomSettings.maxActivePerSeatMillis) / 1000 else {
            throw ServiceError(.invalidRoom, "active_per_seat must be from 0 to \(RoomSettings.maxActivePerSeatMillis / 1000).")
        }
        return Int((perSeat * 1000).rounded())
    }
}
