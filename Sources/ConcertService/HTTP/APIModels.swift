import Foundation
import Hummingbird

// The JSON shapes of the API (docs/api.md, Resources/openapi.yaml). Property names are camelCase here; each type names its
// snake_case wire keys (CodingKeys), which spares the encoder a key conversion per field of
// every response. Optional fields are written as null rather than left out, so every response
// of a kind has the same keys.

struct QueueTokenResponse: ResponseEncodable {
    var pass: QueuePass

    init(_ pass: QueuePass) {
        self.pass = pass
    }

    enum CodingKeys: String, CodingKey {
        case token, status, position, performanceID = "performance_id", entryID = "entry_id", drawAt = "draw_at"
        case waitingTotal = "waiting_total", estimatedWaitSeconds = "estimated_wait_seconds", activeUntil = "active_until"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(pass.token, forKey: .token)
        try container.encode(pass.status.rawValue, forKey: .status)
        try container.encode(pass.ticket.performanceID, forKey: .performanceID)
        try container.encode(pass.ticket.entryID, forKey: .entryID)
        try container.encode(pass.position, forKey: .position)
        try container.encode(pass.waitingTotal, forKey: .waitingTotal)
        try container.encode(pass.estimatedWaitSeconds, forKey: .estimatedWaitSeconds)
        try container.encode(pass.activeUntil, forKey: .activeUntil)
        try container.encode(pass.drawAt == .distantFuture ? nil : pass.drawAt, forKey: .drawAt)
    }
}

/// A room's public view; with `settings`, the organisers' view.
struct RoomResponse: ResponseEncodable {
    struct Draw: Encodable {
        var commitment: String
        var seed: String?
        var drawnAt: Date?
        var entries: Int?

        enum CodingKeys: String, CodingKey {
            case commitment, seed, drawnAt = "drawn_at", entries
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(commitment, forKey: .commitment)
            try container.encode(seed, forKey: .seed)
            try container.encode(drawnAt, forKey: .drawnAt)
            try container.encode(entries, forKey: .entries)
        }
    }

    struct Settings: Encodable {
        var admitPerTick: Int
        var tickMs: Int
        var maxActive: Int
        var activeTTLSeconds: Int
        var activePerSeat: Double
        var abandonAfterSeconds: Int
        var paused: Bool

        enum CodingKeys: String, CodingKey {
            case admitPerTick = "admit_per_tick", tickMs = "tick_ms", maxActive = "max_active", activeTTLSeconds = "active_ttl_s"
            case activePerSeat = "active_per_seat", abandonAfterSeconds = "abandon_after_s", paused
        }
    }

    var performanceID: Int64
    var state: String
    var prequeueOpensAt: Date
    var startsAt: Date
    var waitingTotal: Int
    var activeTotal: Int
    var admittedTotal: Int
    var admissionPerMinute: Int
    var remainingSeats: Int
    var draw: Draw
    var settings: Settings?

    init(_ room: RoomView, withSettings: Bool = false) {
        performanceID = room.performanceID
        state = room.state.rawValue
        prequeueOpensAt = room.settings.prequeueOpensAt
        startsAt = room.settings.startsAt
        waitingTotal = room.waitingTotal
        activeTotal = room.activeTotal
        admittedTotal = room.admittedTotal
        admissionPerMinute = room.admissionPerMinute
        remainingSeats = room.remainingSeats
        draw = Draw(commitment: room.commitment, seed: room.draw?.seed, drawnAt: room.draw?.drawnAt, entries: room.draw?.entries)
        if withSettings {
            settings = Settings(
                admitPerTick: room.policy.admitPerTick, tickMs: Int(room.policy.tick.millis), maxActive: room.policy.maxActive,
                activeTTLSeconds: Int(room.policy.activeDuration.seconds), activePerSeat: Double(room.settings.activePerSeatMillis) / 1000,
                abandonAfterSeconds: room.settings.abandonAfterSeconds, paused: room.settings.paused)
        }
    }

    enum CodingKeys: String, CodingKey {
        case performanceID = "performance_id", state, prequeueOpensAt = "prequeue_opens_at", startsAt = "starts_at"
        case waitingTotal = "waiting_total", activeTotal = "active_total", admittedTotal = "admitted_total"
        case admissionPerMinute = "admission_per_minute", remainingSeats = "remaining_seats", draw, settings
    }
}

/// The published draw: entry ids in draw order.
struct DrawResponse: ResponseEncodable {
    var commitment: String
    var seed: String
    var drawnAt: Date
    var entries: [String]

    init(_ draw: DrawResult) {
        commitment = draw.commitment
        seed = draw.summary.seed
        drawnAt = draw.summary.drawnAt
        entries = draw.entryIDs
    }

    enum CodingKeys: String, CodingKey {
        case commitment, seed, drawnAt = "drawn_at", entries
    }
}

struct ScheduleResponse: ResponseEncodable {
    var id: Int64
    var performanceId: Int64
    var startsAt: Date
    var saleOpensAt: Date
    var saleClosesAt: Date
    var totalSeats: Int
    var remainingSeats: Int
    var reservable: Bool

    enum CodingKeys: String, CodingKey {
        case id, performanceId = "performance_id", startsAt = "starts_at", saleOpensAt = "sale_opens_at"
        case saleClosesAt = "sale_closes_at", totalSeats = "total_seats", remainingSeats = "remaining_seats", reservable
    }

    init(_ schedule: Schedule, now: Date) {
        id = schedule.id
        performanceId = schedule.performanceID
        startsAt = schedule.startsAt
        saleOpensAt = schedule.saleOpensAt
        saleClosesAt = schedule.saleClosesAt
        totalSeats = schedule.totalSeats
        remainingSeats = schedule.remainingSeats
        reservable = schedule.isReservable(at: now)
    }
}

struct PerformanceResponse: ResponseEncodable {
    var id: Int64
    var title: String
    var performer: String
    var description: String
    var schedules: [ScheduleResponse]?

    init(_ performance: Performance, schedules: [Schedule]? = nil, now: Date) {
        id = performance.id
        title = performance.title
        performer = performance.performer
        description = performance.description
        self.schedules = schedules?.map { ScheduleResponse($0, now: now) }
    }

    init(_ listing: PerformanceListing, now: Date) {
        self.init(listing.performance, schedules: listing.schedules, now: now)
    }
}

struct PerformanceListResponse: ResponseEncodable {
    var performances: [PerformanceResponse]
}

struct SeatMapResponse: ResponseEncodable {
    struct SeatResponse: Encodable {
        var seatNo: Int
        var grade: String
        var price: Int64
        var status: SeatStatus

        enum CodingKeys: String, CodingKey { case seatNo = "seat_no", grade, price, status }
    }

    var scheduleId: Int64
    var totalSeats: Int
    var remainingSeats: Int
    var reservable: Bool
    var seats: [SeatResponse]

    enum CodingKeys: String, CodingKey {
        case scheduleId = "schedule_id", totalSeats = "total_seats", remainingSeats = "remaining_seats", reservable, seats
    }

    init(_ map: SeatMap, now: Date) {
        scheduleId = map.schedule.id
        totalSeats = map.schedule.totalSeats
        remainingSeats = map.schedule.remainingSeats
        reservable = map.schedule.isReservable(at: now)
        seats = map.seats.map { SeatResponse(seatNo: $0.seat.seatNo, grade: $0.seat.grade, price: $0.seat.price, status: $0.status) }
    }
}

/// A reservation, as a hold, a payment, a cancellation and a lookup answer it. The answer to a
/// hold is written directly (`json`), not through JSONEncoder, whose cost showed in every
/// hold; `Encodable` remains for the list, with the same bytes (tested).
struct ReservationResponse: ResponseGenerator, Encodable {
    /// A seat as bought: its grade and its price at the time.
    struct BoughtSeat: Encodable {
        var seatNo: Int
        var grade: String
        var price: Int64

        enum CodingKeys: String, CodingKey {
            case seatNo = "seat_no", grade, price
        }
    }

    var id: Int64
    var scheduleId: Int64
    var seatNumbers: [Int]
    var state: Reservation.State
    var totalPrice: Int64
    var holdExpiresAt: Date
    var createdAt: Date
    var performanceId: Int64
    var title: String
    var performer: String
    var startsAt: Date
    var seats: [BoughtSeat]

    enum CodingKeys: String, CodingKey {
        case id, scheduleId = "schedule_id", seatNumbers = "seat_numbers", state, totalPrice = "total_price"
        case holdExpiresAt = "hold_expires_at", createdAt = "created_at", performanceId = "performance_id", title, performer
        case startsAt = "starts_at", seats
    }

    /// `layout` is the sale layout of the reservation's schedule: what was bought.
    init(_ reservation: Reservation, layout: SaleLayout, now: Date) {
        id = reservation.id
        scheduleId = reservation.scheduleID
        seatNumbers = reservation.seatNumbers
        state = reservation.visibleState(at: now)
        totalPrice = reservation.totalPrice
        holdExpiresAt = reservation.holdExpiresAt
        createdAt = reservation.createdAt
        performanceId = layout.schedule.performanceID
        title = layout.title
        performer = layout.performer
        startsAt = layout.schedule.startsAt
        seats = layout.seats(reservation.seatNumbers).map { BoughtSeat(seatNo: $0.seatNo, grade: $0.grade, price: $0.price) }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .ok, headers: [.contentType: jsonContentType], body: .init(byteBuffer: json))
    }

    /// The keys in sorted order, as `APIJSON.encoder` writes them.
    var json: ByteBuffer {
        var body = ByteBufferAllocator().buffer(capacity: 192)
        body.writeStaticString(#"{"created_at":"#)
        body.writeJSONDate(createdAt)
        body.writeStaticString(#","hold_expires_at":"#)
        body.writeJSONDate(holdExpiresAt)
        body.writeStaticString(#","id":"#)
        body.writeString(String(id))
        body.writeStaticString(#","performance_id":"#)
        body.writeString(String(performanceId))
        body.writeStaticString(#","performer":"#)
        body.writeJSONString(performer)
        body.writeStaticString(#","schedule_id":"#)
        body.writeString(String(scheduleId))
        body.writeStaticString(#","seat_numbers":"#)
        body.writeJSONArray(seatNumbers)
        body.writeStaticString(#","seats":["#)
        for (index, seat) in seats.enumerated() {
            body.writeStaticString(index == 0 ? #"{"grade":"# : #",{"grade":"#)
            body.writeJSONString(seat.grade)
            body.writeStaticString(#","price":"#)
            body.writeString(String(seat.price))
            body.writeStaticString(#","seat_no":"#)
            body.writeString(String(seat.seatNo))
            body.writeStaticString("}")
        }
        body.writeStaticString(#"],"starts_at":"#)
        body.writeJSONDate(startsAt)
        body.writeStaticString(#","state":"#)
        body.writeJSONString(state.rawValue)
        body.writeStaticString(#","title":"#)
        body.writeJSONString(title)
        body.writeStaticString(#","total_price":"#)
        body.writeString(String(totalPrice))
        body.writeStaticString("}")
        return body
    }
}

struct ReservationListResponse: ResponseEncodable {
    var reservations: [ReservationResponse]
}

struct WalletResponse: ResponseEncodable {
    var balance: Int64
}

struct LedgerResponse: ResponseEncodable {
    struct Entry: Encodable {
        var id: Int64
        var kind: LedgerEntry.Kind
        var amount: Int64
        var balanceAfter: Int64
        var reservationId: Int64?
        var createdAt: Date

        enum CodingKeys: String, CodingKey {
            case id, kind, amount, balanceAfter = "balance_after", reservationId = "reservation_id", createdAt = "created_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(kind, forKey: .kind)
            try container.encode(amount, forKey: .amount)
            try container.encode(balanceAfter, forKey: .balanceAfter)
            try container.encode(reservationId, forKey: .reservationId)
            try container.encode(createdAt, forKey: .createdAt)
        }
    }

    var entries: [Entry]
    var nextCursor: String?

    init(_ page: LedgerPage) {
        entries = page.entries.map {
            Entry(id: $0.id, kind: $0.kind, amount: $0.amount, balanceAfter: $0.balanceAfter, reservationId: $0.reservationID, createdAt: $0.createdAt)
        }
        nextCursor = page.nextCursor.map(String.init)
    }

    enum CodingKeys: String, CodingKey { case entries, nextCursor = "next_cursor" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .entries)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

/// `concert check`'s report: every check with its count of violating rows.
struct IntegrityResponse: ResponseEncodable {
    struct Check: Encodable {
        var name: String
        var rule: String
        var violations: Int
    }

    var ok: Bool
    var checks: [Check]

    init(_ report: IntegrityReport) {
        ok = report.isClean
        checks = report.findings.map { Check(name: $0.check.name, rule: $0.check.rule, violations: $0.violations) }
    }
}

struct SalesResponse: ResponseEncodable {
    struct ScheduleSalesResponse: Encodable {
        var scheduleId: Int64
        var startsAt: Date
        var totalSeats: Int
        var soldSeats: Int
        var heldSeats: Int
        var remainingSeats: Int
        var revenue: Int64

        enum CodingKeys: String, CodingKey {
            case scheduleId = "schedule_id", startsAt = "starts_at", totalSeats = "total_seats", soldSeats = "sold_seats"
            case heldSeats = "held_seats", remainingSeats = "remaining_seats", revenue
        }
    }

    var performanceId: Int64
    var schedules: [ScheduleSalesResponse]
    var revenue: Int64

    enum CodingKeys: String, CodingKey { case performanceId = "performance_id", schedules, revenue }

    init(performanceID: Int64, sales: [ScheduleSales]) {
        performanceId = performanceID
        schedules = sales.map {
            ScheduleSalesResponse(
                scheduleId: $0.schedule.id, startsAt: $0.schedule.startsAt, totalSeats: $0.schedule.totalSeats,
                soldSeats: $0.soldSeats, heldSeats: $0.heldSeats, remainingSeats: $0.schedule.remainingSeats, revenue: $0.revenue)
        }
        revenue = sales.reduce(0) { $0 + $1.revenue }
    }
}

extension Idempotent where Value: ResponseGenerator {
    /// The response, marked when it replays an earlier request's result.
    func response(status: HTTPResponse.Status) -> EditedResponse<Value> {
        EditedResponse(status: status, headers: replayed ? [.idempotentReplayed: "true"] : [:], response: value)
    }
}

extension Idempotent {
    func map<T>(_ transform: (Value) -> T) -> Idempotent<T> {
        Idempotent<T>(value: transform(value), replayed: replayed)
    }
}
