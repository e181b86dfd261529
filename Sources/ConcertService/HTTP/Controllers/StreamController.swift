import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// The live streams (Server-Sent Events): a queue entry's status, and a schedule's seat changes.
/// Both take the queue token from the Queue-Token header or the `queue_token` query parameter.
struct StreamController {
    let clock: any WallClock
    let queue: QueueService
    let reservations: ReservationService
    let feeds: SeatFeeds
    let seatEvents = SeatEventCache()

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("v1/queue/tokens/current/events", use: queueEvents)
        router.get("v1/schedules/:id/seats/events", use: seatEvents)
    }

    /// Whether a request is for one of the streams: their paths, and no other, end in `/events`.
    static func isStream(path: String) -> Bool {
        path.hasSuffix("/events")
    }

    /// `status` events: the poll's answer at once and whenever it changes (looked at once per
    /// tick), a heartbeat every 15 s, and a last event when the entry ends. The open stream
    /// counts as the entry being seen. A token that is not live is answered as a poll would be.
    @Sendable func queueEvents(_ request: Request, context: AppRequestContext) throws -> Response {
        let token = request.streamQueueToken
        let first = try queue.watch(token: token, now: clock.now)
        return EventStream.response { [queue, clock] stream in
            var events = QueueStatusEvents(first: first, now: clock.now)
            try await stream.send(try events.firstEvent())
            while await stream.next(queue.ticked) {
                guard let (event, isLast) = try events.next(now: clock.now, watch: { try queue.watch(token: token, now: $0) }) else { continue }
                try await stream.send(event)
                if isLast { return }
            }
        }
    }

    /// A `snapshot` event (the seat map and its version), then a `seats` event for every change
    /// found, each with its version as the event id. A client resuming with `Last-Event-ID`
    /// gets the changes since, or a new snapshot. Needs what the seat map needs (an active queue
    /// token of the schedule's performance); ends when the token stops being active.
    @Sendable func seatEvents(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.id()
        let now = clock.now
        let ticket = try queue.ticket(from: request.streamQueueToken, now: now)
        try QueueService.checkRoom(of: ticket, is: try await reservations.layout(of: id).schedule.performanceID)
        if let refusal = queue.refusal(for: ticket, now: now) { throw refusal }
        let resumeFrom = request.headers[.lastEventID].flatMap { Int64($0) }
        feeds.subscribe(id)
        do {
            try await feeds.prime(id, now: now)
        } catch {
            feeds.unsubscribe(id)
            throw error
        }
        return EventStream.response { [queue, clock, feeds, seatEvents] stream in
            defer { feeds.unsubscribe(id) }
            // Without Last-Event-ID, or with one this instance cannot resume from: a snapshot.
            var version = resumeFrom ?? 0
            if let update = feeds.update(of: id, after: resumeFrom) { version = try await stream.send(update, of: id, now: clock.now, cache: seatEvents) }
            var lastWrite = clock.now
            while await stream.next(feeds.signal) {
                let now = clock.now
                if let refusal = queue.refusal(for: ticket, now: now), refusal.code != .serviceUnavailable { return }
                if let update = feeds.update(of: id, after: version) {
                    version = try await stream.send(update, of: id, now: now, cache: seatEvents)
                    lastWrite = now
                } else if now.timeIntervalSince(lastWrite) >= EventStream.heartbeatInterval {
                    try await stream.send(EventStream.heartbeat)
                    lastWrite = now
                }
            }
        }
    }
}

/// What a queue stream says: the entry's status at once and whenever it changes, a heartbeat
/// when it has been quiet, and a last event when the entry ends.
///
/// Kept apart from the stream's loop, and out of line, because an async function's locals live
/// in its task's memory, which a stream keeps for as long as it is open; this work's locals
/// then live on the thread's stack only while it runs.
struct QueueStatusEvents {
    private var sent: QueuePass
    private var lastWrite: Date

    init(first: QueuePass, now: Date) {
        (sent, lastWrite) = (first, now)
    }

    func firstEvent() throws -> ByteBuffer {
        try EventStream.event("status", json: QueueTokenResponse(sent))
    }

    /// What to write after a tick, if anything, and whether the stream ends with it.
    @inline(never)
    mutating func next(now: Date, watch: (Date) throws -> QueuePass) throws -> (event: ByteBuffer, isLast: Bool)? {
        do {
            let pass = try watch(now)
            if pass != sent {
                (sent, lastWrite) = (pass, now)
                return (try EventStream.event("status", json: QueueTokenResponse(pass)), false)
            }
        } catch let ended as ServiceError {
            return (try EventStream.event("status", json: EndedEvent(reason: ended.reason, message: ended.message)), true)
        }
        guard now.timeIntervalSince(lastWrite) >= EventStream.heartbeatInterval else { return nil }
        lastWrite = now
        return (EventStream.heartbeat, false)
    }

    /// The last `status` event of a stream whose entry ended.
    struct EndedEvent: Encodable {
        var status = "ended"
        var reason: String?
        var message: String
    }
}

/// A `seats` event: what changed, at `version`.
struct SeatsEvent: Encodable {
    struct Change: Encodable {
        var seatNo: Int
        var status: SeatStatus

        enum CodingKeys: String, CodingKey { case seatNo = "seat_no", status }
    }

    var version: Int64
    var changes: [Change]
}

/// A `snapshot` event: the seat map as `GET /v1/schedules/{id}/seats` answers it, with its version.
struct SeatSnapshotEvent: Encodable {
    var version: Int64
    var map: SeatMapResponse

    enum CodingKeys: String, CodingKey { case version }

    func encode(to encoder: any Encoder) throws {
        try map.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
    }
}

/// The bytes of recent `seats` events: every subscriber of a schedule sends the same event at
/// the same moment, so it is encoded once rather than once per stream.
final class SeatEventCache: Sendable {
    private struct Key: Hashable {
        var scheduleID: Int64
        var version: Int64
    }

    /// Enough for every watched schedule's latest events; when full it starts again.
    static let capacity = 1024
    private let events = Mutex<[Key: ByteBuffer]>([:])

    func event(of scheduleID: Int64, version: Int64, changes: [SeatChange]) throws -> ByteBuffer {
        let key = Key(scheduleID: scheduleID, version: version)
        if let event = events.withLock({ $0[key] }) { return event }
        let changes = changes.map { SeatsEvent.Change(seatNo: $0.seatNo, status: $0.status) }
        let event = try EventStream.event("seats", id: version, json: SeatsEvent(version: version, changes: changes))
        events.withLock { events in
            if events.count >= Self.capacity { events.removeAll(keepingCapacity: true) }
            events[key] = event
        }
        return event
    }
}

extension EventStream.Writer {
    /// Sends a seat feed's update of a schedule; answers the version the client has now.
    mutating func send(_ update: SeatFeeds.Update, of scheduleID: Int64, now: Date, cache: SeatEventCache) async throws -> Int64 {
        switch update {
        case .snapshot(let map, let version):
            try await send("snapshot", id: version, json: SeatSnapshotEvent(version: version, map: SeatMapResponse(map, now: now)))
            return version
        case .changes(let events):
            var last: Int64 = 0
            for event in events {
                try await send(try cache.event(of: scheduleID, version: event.version, changes: event.changes))
                last = event.version
            }
            return last
        }
    }
}
