import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import Synchronization
import Testing

@testable import ConcertService

/// A Server-Sent Events stream of a live server, read event by event as it arrives.
/// (Sendable only to be handed out of a test body: one task reads it at a time.)
final class EventReader: @unchecked Sendable {
    struct Event: Equatable {
        var name: String?
        var id: String?
        var data: String
        /// A comment line (a heartbeat), not an event.
        var isComment = false

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:] }
    }

    let status: Int
    let contentType: String?
    private var body: HTTPClientResponse.Body.AsyncIterator
    private var pending = ""

    init(port: Int, path: String, headers: [String: String] = [:]) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        // The whole stream's deadline: a test that waits longer has failed.
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        status = Int(response.status.code)
        contentType = response.headers.first(name: "content-type")
        body = response.body.makeAsyncIterator()
    }

    /// The next event or comment; nil once the server has closed the stream.
    func next() async throws -> Event? {
        while true {
            if let end = pending.range(of: "\n\n") {
                let block = String(pending[..<end.lowerBound])
                pending.removeSubrange(..<end.upperBound)
                return Self.parse(block)
            }
            guard let chunk = try await body.next() else { return nil }
            pending += String(buffer: chunk)
        }
    }

    /// The next event that is not a comment.
    func nextEvent() async throws -> Event? {
        while let event = try await next() { if !event.isComment { return event } }
        return nil
    }

    private static func parse(_ block: String) -> Event {
        var event = Event(data: "")
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") { event.isComment = true }
            if line.hasPrefix("event: ") { event.name = String(line.dropFirst(7)) }
            if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
            if line.hasPrefix("data: ") { event.data += line.dropFirst(6) }
        }
        return event
    }
}

@Suite struct QueueStreamTests {
    /// The status at once, every change in order, heartbeats, and a last event when the entry
    /// ends, after which the stream closes; a token that is not live is refused as a poll is.
    @Test(arguments: Backend.all)
    func theStatusStreamFollowsTheEntryUntilItEnds(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run(.live) { api in
            let port = try #require(api.client.port)
            let schedule = try await api.createSchedule()
            let performance = try await service.performance(ofSchedule: schedule)
            // Paused: the entry waits until the test resumes admission.
            try await api.changeRoom(of: performance, #"{"paused": true}"#)
            let token = try #require(try await api.join(user: 5, performance: performance).string("token"))

            let stream = try await EventReader(port: port, path: "/v1/queue/tokens/current/events?queue_token=\(token)")
            #expect(stream.status == 200)
            #expect(stream.contentType == "text/event-stream")
            let first = try #require(try await stream.nextEvent())
            #expect(first.name == "status")
            #expect(first.json["status"] as? String == "waiting")
            #expect(first.json["position"] as? Int == 1)

            // A heartbeat comes once 15 s have passed on the service's clock with nothing to say.
            // (The estimate may change with the clock too: such events may come first.)
            service.clock.advance(by: .seconds(16))
            var heartbeat = false
            for _ in 0..<5 {
                let next = try #require(try await stream.next())
                if next.isComment { heartbeat = true; break }
                #expect(next.json["status"] as? String == "waiting")
            }
            #expect(heartbeat)

            try await api.changeRoom(of: performance, #"{"paused": false}"#)
            let admitted = try #require(try await stream.nextEvent())
            #expect(admitted.json["status"] as? String == "active")

            // A hold spends the token: the last event says why, and the stream closes.
            #expect(try await api.hold(user: 5, schedule: schedule, seats: [1], queueToken: token).status == .created)
            let last = try #require(try await stream.nextEvent())
            #expect(last.json["status"] as? String == "ended")
            #expect(last.json["reason"] as? String == "used")
            #expect(try await stream.next() == nil, "the stream closes after the last event")

            // An ended, a missing and a forged token are answered as a poll would be.
            let ended = try await EventReader(port: port, path: "/v1/queue/tokens/current/events", headers: ["Queue-Token": token])
            #expect(ended.status == 410)
            #expect(try await EventReader(port: port, path: "/v1/queue/tokens/current/events").status == 401)
            #expect(try await EventReader(port: port, path: "/v1/queue/tokens/current/events?queue_token=forged").status == 401)
        }
    }
}

extension QueueStreamTests {
    /// An open stream counts as the fan being there: its entry is admitted when its turn comes,
    /// while an entry nobody polled or watched is passed over.
    @Test(arguments: Backend.all)
    func anOpenStreamKeepsItsEntryFromBeingPassedOver(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run(.live) { api in
            let port = try #require(api.client.port)
            let start = service.clock.now.addingTimeInterval(30)
            let performance = try await api.createPerformance(
                sale: #"{"starts_at": "\#(iso(start))", "active_per_seat": 0, "abandon_after_s": 10}"#)
            let watched = try #require(try await api.join(user: 1, performance: performance).string("token"))
            let silent = try #require(try await api.join(user: 2, performance: performance).string("token"))
            let stream = try await EventReader(port: port, path: "/v1/queue/tokens/current/events?queue_token=\(watched)")
            #expect(try await stream.nextEvent()?.json["status"] as? String == "prequeue")
            // 40 s pass on the service's clock, 2 s at a time; after each step the test waits until
            // the stream's sighting has reached the database, or the entry was admitted (a busy
            // machine may delay ticks).
            for _ in 0..<20 {
                service.clock.advance(by: .seconds(2))
                let recent = service.clock.now.addingTimeInterval(-4).millis
                let reported = try await eventually(within: .seconds(30), every: .milliseconds(20)) {
                    try await service.database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id = 1 AND (seen_at >= \(recent) OR active_until IS NOT NULL)") == 1
                }
                #expect(reported, "the open stream reported its entry seen")
            }
            let admitted = try await eventually(within: .seconds(30)) { try await api.poll(watched).string("status") == "active" }
            #expect(admitted, "the watched entry was admitted")
            let passedOver = try await api.poll(silent)
            #expect(passedOver.status == .gone)
            #expect((passedOver.json["error"] as? [String: Any])?["reason"] as? String == "abandoned")
        }
    }
}

extension ServerProcessTests {
    @Suite struct StreamShutdownTests {
        /// SIGTERM while a fan follows a stream: the server ends the stream and exits, rather than
        /// waiting for the client to hang up.
        @Test func aServerStoppingEndsItsOpenStreams() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-sse-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = try ServerProcesses(count: 1, environment: [
                "SQLITE_PATH": directory.appendingPathComponent("sse.sqlite").path, "AUTH_JWT_SECRET": TestService.secret,
                "QUEUE_TICK_MS": "100", "LOG_LEVEL": "warning",
            ])
            let client = SaleClient(ports: server.ports)
            try await server.waitUntilReady(client)
            let created = try await client.send(
                .post, "/v1/admin/performances", user: 1, admin: true, body: #"{"title": "T", "performer": "P", "sale": {"starts_at": "\#(iso(Date().addingTimeInterval(86400)))"}}"#)
            let performance = try #require(created.int("id"))
            let joined = try await client.send(.post, "/v1/queue/tokens", user: 2, body: #"{"performance_id": \#(performance)}"#)
            let token = try #require(joined.string("token"))
            let stream = try await EventReader(port: server.ports[0], path: "/v1/queue/tokens/current/events?queue_token=\(token)")
            #expect(try await stream.nextEvent()?.name == "status")
            let started = ContinuousClock.now
            let status = await server.terminate(0)
            #expect(status == 0)
            #expect(ContinuousClock.now - started < .seconds(10), "the server waited for the stream")
            #expect(try await stream.next() == nil, "the stream was closed")
            try await client.shutdown()
        }
    }
}

@Suite struct SeatStreamTests {
    /// A second fan watching the seat map sees a hold's seats turn held and then sold, made
    /// through another instance on the same database; resuming with Last-Event-ID picks up the
    /// changes since, and an unknown version gets a new snapshot.
    @Test(arguments: Backend.all)
    func aWatcherSeesSeatsTurnHeldThenSoldAcrossInstances(_ backend: Backend) async throws {
        let first = try await TestService(backend)
        let second = try await TestService(sharingDatabaseOf: first)
        try await first.run(.live) { buyer in
            try await second.run(.live) { watcher in
                let port = try #require(watcher.client.port)
                let schedule = try await buyer.createSchedule(seats: [("S", 4, 5000), ("A", 6, 2000)])
                let performance = try await first.performance(ofSchedule: schedule)
                let watching = try await watcher.admittedToken(user: 8, performance: performance)
                let buying = try await buyer.admittedToken(user: 7, performance: performance)

                let stream = try await EventReader(port: port, path: "/v1/schedules/\(schedule)/seats/events", headers: ["Queue-Token": watching])
                #expect(stream.status == 200)
                let snapshot = try #require(try await stream.nextEvent())
                #expect(snapshot.name == "snapshot")
                #expect((snapshot.json["seats"] as? [[String: Any]])?.count == 10)
                #expect(snapshot.id == (snapshot.json["version"] as? NSNumber).map { "\($0)" })

                let held = try await buyer.hold(user: 7, schedule: schedule, seats: [2, 5], queueToken: buying)
                #expect(held.status == .created)
                // The reservation says what was bought.
                #expect(held.int("performance_id") == performance)
                #expect(held.string("title") == "Test Show")
                #expect(held.string("performer") == "Tester")
                #expect(held.string("starts_at") != nil)
                let bought = try #require(held.json["seats"] as? [[String: Any]])
                #expect(bought.map { $0["seat_no"] as? Int } == [2, 5])
                #expect(bought.map { $0["grade"] as? String } == ["S", "A"])
                #expect(bought.map { $0["price"] as? Int } == [5000, 2000])

                let heldEvent = try #require(try await stream.nextEvent())
                #expect(heldEvent.name == "seats")
                #expect(Self.changes(heldEvent) == [2: "held", 5: "held"])
                let heldVersion = try #require(heldEvent.id)
                #expect(Int64(heldVersion)! > Int64(snapshot.id!)!, "versions increase")

                #expect(try await buyer.charge(user: 7, amount: 7000).status == .created)
                let reservation = try #require(held.int("id"))
                #expect(try await buyer.request(.post, "/v1/reservations/\(reservation)/payment", user: 7).status == .ok)
                let soldEvent = try #require(try await stream.nextEvent())
                #expect(Self.changes(soldEvent) == [2: "sold", 5: "sold"])

                // Resuming after the held event: the sold change again, no snapshot.
                let resumed = try await EventReader(
                    port: port, path: "/v1/schedules/\(schedule)/seats/events?queue_token=\(watching)", headers: ["Last-Event-ID": heldVersion])
                let missed = try #require(try await resumed.nextEvent())
                #expect(missed.name == "seats")
                #expect(Self.changes(missed) == [2: "sold", 5: "sold"])
                // A version this instance never sent: a new snapshot, with the seats as they are.
                let fresh = try await EventReader(
                    port: port, path: "/v1/schedules/\(schedule)/seats/events?queue_token=\(watching)", headers: ["Last-Event-ID": "12"])
                let again = try #require(try await fresh.nextEvent())
                #expect(again.name == "snapshot")
                let statuses = (again.json["seats"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "sold" }.compactMap { $0["seat_no"] as? Int }
                #expect(statuses == [2, 5])

                // The gate is the seat map's: a spent token, another room's token, no token.
                // (Asked of the instance that spent it: the other one hears of it at its next tick.)
                let buyerPort = try #require(buyer.client.port)
                #expect(try await EventReader(port: buyerPort, path: "/v1/schedules/\(schedule)/seats/events?queue_token=\(buying)").status == 410)
                let other = try await watcher.createPerformance()
                let otherToken = try await watcher.admittedToken(user: 8, performance: other)
                #expect(try await EventReader(port: port, path: "/v1/schedules/\(schedule)/seats/events?queue_token=\(otherToken)").status == 403)
                #expect(try await EventReader(port: port, path: "/v1/schedules/\(schedule)/seats/events").status == 401)
            }
        }
        try await checkInvariants(first.database)
    }

    /// On PostgreSQL, instances tell each other of seat changes through NOTIFY, so a stream
    /// on one hears of a hold made through another without waiting for its next read; an
    /// instance does not hear its own announcements, which it has acted on already.
    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func instancesHearEachOthersSeatChangesButNotTheirOwn() async throws {
        let one = try await TestService(.postgres)
        let two = try await TestService(sharingDatabaseOf: one)
        let oneNews = try #require(one.system.seatChangeNews)
        let twoNews = try #require(two.system.seatChangeNews)
        let heard = Listened()
        try await one.system.storage.whileRunning(logger: one.logger) { () async throws in
            try await two.system.storage.whileRunning(logger: two.logger) { () async throws in
                let listeners = [("one", oneNews), ("two", twoNews)].map { name, news in
                    Task {
                        await news.listen(
                            listening: { heard.listening.add(1, ordering: .relaxed) },
                            heard: { schedule in heard.lines.withLock { $0.append("\(name) heard \(schedule)") } })
                    }
                }
                #expect(try await eventually(within: .seconds(30)) { heard.listening.load(ordering: .relaxed) == 2 })
                oneNews.announce(scheduleID: 5)
                twoNews.announce(scheduleID: 7)
                twoNews.announce(scheduleID: 8)
                #expect(try await eventually(within: .seconds(30)) { heard.lines.withLock { $0.count } >= 3 })
                for listener in listeners { listener.cancel() }
                for listener in listeners { await listener.value }
                #expect(heard.lines.withLock { Set($0) } == ["two heard 5", "one heard 7", "one heard 8"])
            }
        }
    }

    /// The same through whole instances whose watcher never re-reads on its own (its refresh
    /// is an hour away): each hold made through the other instance reaches its stream by
    /// notification alone.
    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"), .timeLimit(.minutes(2)))
    func holdsReachAnotherInstancesStreamsByNotificationAlone() async throws {
        let buying = try await TestService(.postgres)
        let watching = try await TestService(sharingDatabaseOf: buying) { $0.seatFeedRefresh = .seconds(3600) }
        try await buying.run(.live) { buyer in
            try await watching.run(.live) { watcher in
                let schedule = try await buyer.createSchedule(seats: [("S", 3, 5000)])
                let performance = try await buying.performance(ofSchedule: schedule)
                let token = try await watcher.admittedToken(user: 8, performance: performance)
                let stream = try await EventReader(
                    port: try #require(watcher.client.port), path: "/v1/schedules/\(schedule)/seats/events", headers: ["Queue-Token": token])
                #expect(try await stream.nextEvent()?.name == "snapshot")
                for seat in 1...3 {
                    let user = Int64(10 + seat)
                    let held = try await buyer.hold(user: user, schedule: schedule, seats: [seat], queueToken: try await buyer.admittedToken(user: user, performance: performance))
                    #expect(held.status == .created)
                    let event = try #require(try await stream.nextEvent())
                    #expect(Self.changes(event) == [seat: "held"])
                }
            }
        }
    }

    /// An instance that stops ends its open streams at once, rather than when their next round
    /// would have woken them (here an hour away), and a hold through it reaches its own streams
    /// without waiting for that round either.
    @Test(.timeLimit(.minutes(2)), arguments: Backend.all)
    func aStoppingInstanceEndsItsStreamsWithoutWaitingForARound(_ backend: Backend) async throws {
        let service = try await TestService(backend) { $0.seatFeedRefresh = .seconds(3600) }
        let stream = try await service.run(.live) { client in
            let schedule = try await client.createSchedule(seats: [("S", 2, 5000)])
            let token = try await client.admittedToken(user: 8, schedule: schedule)
            let stream = try await EventReader(
                port: try #require(client.client.port), path: "/v1/schedules/\(schedule)/seats/events", headers: ["Queue-Token": token])
            #expect(try await stream.nextEvent()?.name == "snapshot")
            #expect(try await client.hold(user: 9, schedule: schedule, seats: [2]).status == .created)
            #expect(Self.changes(try #require(try await stream.nextEvent())) == [2: "held"])
            return stream
        }
        #expect(try await stream.next() == nil, "the stream was closed")
    }

    /// What the listeners of `instancesHearEachOthersSeatChangesButNotTheirOwn` heard.
    final class Listened: Sendable {
        let lines = Mutex<[String]>([])
        let listening = Atomic<Int>(0)
    }

    static func changes(_ event: EventReader.Event) -> [Int: String] {
        var changes: [Int: String] = [:]
        for change in event.json["changes"] as? [[String: Any]] ?? [] {
            if let seat = change["seat_no"] as? Int { changes[seat] = change["status"] as? String }
        }
        return changes
    }
}

@Suite struct BrowserAccessTests {
    /// Demo sign-in exists only in demo mode; the credentials it hands out work.
    @Test func demoSignInHandsOutCredentialsOnlyInDemoMode() async throws {
        let plain = try await TestService(.sqlite)
        try await plain.run { api in
            let refused = try await api.request(.post, "/v1/demo/sign-in", body: #"{"user_id": 3}"#)
            #expect(refused.status == .notFound)
        }
        let demo = try await TestService(.sqlite) { $0.demoSignIn = true }
        try await demo.run { api in
            let signedIn = try await api.request(.post, "/v1/demo/sign-in", body: #"{"user_id": 3, "admin": false}"#)
            #expect(signedIn.status == .created)
            let credential = try #require(signedIn.string("credential"))
            let wallet = try await api.request(.get, "/v1/wallet", headers: [.authorization: "Bearer \(credential)"])
            #expect(wallet.status == .ok)
            #expect(try await api.request(.get, "/v1/admin/integrity", headers: [.authorization: "Bearer \(credential)"]).status == .forbidden)
            let admin = try #require(try await api.request(.post, "/v1/demo/sign-in", body: #"{"user_id": 4, "admin": true}"#).string("credential"))
            #expect(try await api.request(.get, "/v1/admin/integrity", headers: [.authorization: "Bearer \(admin)"]).status == .ok)
            #expect(try await api.request(.post, "/v1/demo/sign-in", body: #"{"user_id": 0}"#).errorCode == "INVALID_BODY")
            #expect(try await api.request(.post, "/v1/demo/sign-in", body: #"{"admin": true}"#).errorCode == "INVALID_BODY")
        }
    }

    /// CORS for the configured origins only, preflight included, on error answers too.
    @Test func corsAnswersTheConfiguredOriginsOnly() async throws {
        let service = try await TestService(.sqlite) { $0.corsAllowedOrigins = ["https://tickets.example"] }
        try await service.run { api in
            let preflight = try await api.request(.options, "/v1/reservations", headers: [
                .origin: "https://tickets.example", .accessControlRequestMethod: "POST",
                .accessControlRequestHeaders: "authorization, content-type, queue-token, idempotency-key",
            ])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://tickets.example")
            #expect(preflight.headers[.accessControlAllowHeaders]?.lowercased().contains("queue-token") == true)
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            let refused = try await api.request(.get, "/v1/wallet", headers: [.origin: "https://tickets.example"])
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.accessControlAllowOrigin] == "https://tickets.example")
            let stranger = try await api.request(.get, "/v1/performances", headers: [.origin: "https://elsewhere.example"])
            #expect(stranger.status == .ok)
            #expect(stranger.headers[.accessControlAllowOrigin] == nil)
        }
        let closed = try await TestService(.sqlite)
        try await closed.run { api in
            let answer = try await api.request(.get, "/v1/performances", headers: [.origin: "https://tickets.example"])
            #expect(answer.headers[.accessControlAllowOrigin] == nil, "no origin is allowed by default")
        }
    }

    /// The web app is served from the binary: the pages, their modules and styles, nothing else.
    @Test func theWebAppIsServed() async throws {
        let service = try await TestService(.sqlite)
        try await service.run { api in
            let page = try await api.request(.get, "/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(String(decoding: page.body, as: UTF8.self).contains(#"src="/app/fan.js""#))
            #expect(try await api.request(.get, "/admin").status == .ok)
            let script = try await api.request(.get, "/app/fan.js")
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(String(decoding: script.body, as: UTF8.self).contains(#"data-testid="hold""#))
            let missing = try await api.request(.get, "/app/missing.js")
            #expect(missing.status == .notFound, "\(missing.status) \(String(decoding: missing.body, as: UTF8.self))")
            #expect(try await api.request(.get, "/app/..%2Fadmin.html").status == .notFound)
        }
    }
}


@Suite struct TickSignalTests {
    /// An ended waiter is woken without a fire, whether it was waiting already or comes to wait
    /// afterwards, and is told to stop; a fire wakes the others, which go on.
    @Test func endingAWaiterWakesItWithoutAFire() async throws {
        let signal = TickSignal()
        let (going, ending) = (TickSignal.Waiter(), TickSignal.Waiter())
        let goingWait = Task { await signal.next(going) }
        let endingWait = Task { await signal.next(ending) }
        ending.end()
        #expect(await endingWait.value == false)
        #expect(await signal.next(ending) == false, "an ended waiter no longer waits")
        // A fire before the other waiter has begun to wait wakes no one: fire until it is woken.
        let woken = Atomic<Bool>(false)
        let firing = Task {
            while !woken.load(ordering: .relaxed) {
                signal.fire()
                await Task.yield()
            }
        }
        #expect(await goingWait.value == true)
        woken.store(true, ordering: .relaxed)
        await firing.value
    }
}

@Suite struct SeatEventCacheTests {
    /// A schedule's event at a version is encoded once: later asks get those bytes, whatever
    /// they pass; another schedule or version is encoded anew.
    @Test func anEventIsEncodedOncePerScheduleAndVersion() throws {
        let cache = SeatEventCache()
        let held = [SeatChange(seatNo: 2, status: .held)]
        let first = try cache.event(of: 1, version: 7, changes: held)
        #expect(String(buffer: first) == "id: 7\nevent: seats\ndata: {\"changes\":[{\"seat_no\":2,\"status\":\"held\"}],\"version\":7}\n\n")
        #expect(try cache.event(of: 1, version: 7, changes: []) == first)
        #expect(try cache.event(of: 2, version: 7, changes: []) != first)
        #expect(try cache.event(of: 1, version: 8, changes: held) != first)
    }
}

@Suite struct QueueStatusEventsTests {
    /// A status event when the pass changes and nothing while it stays the same; a heartbeat
    /// once nothing has been written for the heartbeat interval; a last `ended` event, which
    /// ends the stream, when the entry ends.
    @Test func aQueueStreamSaysWhatChangedAndWhenItEnds() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let ticket = QueueTicket(userID: 1, performanceID: 2, seq: 3, entryID: String(repeating: "ab", count: 16))
        var pass = QueuePass(
            token: "t", ticket: ticket, status: .waiting, position: 5, waitingTotal: 9, estimatedWaitSeconds: 10, activeUntil: nil, drawAt: start)
        var events = QueueStatusEvents(first: pass, now: start)
        #expect(String(buffer: try events.firstEvent()).contains(#""position":5"#))

        #expect(try events.next(now: start.addingTimeInterval(1)) { _ in pass } == nil)
        pass.position = 4
        let moved = try #require(try events.next(now: start.addingTimeInterval(2)) { _ in pass })
        #expect(String(buffer: moved.event).hasPrefix("event: status\n") && String(buffer: moved.event).contains(#""position":4"#))
        #expect(!moved.isLast)

        #expect(try events.next(now: start.addingTimeInterval(2 + EventStream.heartbeatInterval - 1)) { _ in pass } == nil)
        let beat = try #require(try events.next(now: start.addingTimeInterval(2 + EventStream.heartbeatInterval)) { _ in pass })
        #expect(beat.event == EventStream.heartbeat && !beat.isLast)

        let ended = try #require(try events.next(now: start.addingTimeInterval(20)) { _ in
            throw ServiceError(.queueTokenExpired, "Your turn has passed.", reason: "expired")
        })
        #expect(String(buffer: ended.event).contains(#""status":"ended""#) && String(buffer: ended.event).contains(#""reason":"expired""#))
        #expect(ended.isLast)
    }
}
