import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import ConcertService

/// What a client sees when the database goes away, stalls, or loses an answer: a prompt 503
/// with Retry-After, readiness that follows, polls that keep answering, and payments whose
/// retry says whether they were applied. The database is cut off by a proxy between the
/// service and the test's PostgreSQL server.
@Suite struct DatabaseOutageTests {
    /// A service whose database connections go through a proxy the test controls.
    static func proxiedService(
        logs: LogLines? = nil, databaseTimeout: Duration = .seconds(2), configure: @escaping (inout AppConfiguration) -> Void = { _ in }
    ) async throws -> (TestService, DatabaseProxy) {
        let server = try #require(URLComponents(string: Backend.postgresURL ?? ""))
        let proxy = try await DatabaseProxy.start(to: server.host ?? "127.0.0.1", port: server.port ?? 5432)
        let service = try await TestService(.postgres, logs: logs) { config in
            config.databaseURL = config.databaseURL?.replacingOccurrences(of: ":\(server.port ?? 5432)/", with: ":\(proxy.port)/")
            config.databaseTimeout = databaseTimeout
            configure(&config)
        }
        return (service, proxy)
    }

    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func anOutageIsAPrompt503AndTheServiceRecovers() async throws {
        let logs = LogLines()
        let (service, proxy) = try await Self.proxiedService(logs: logs) {
            // One active user holds the only slot, so the second one stays waiting.
            $0.maxActive = 1
            $0.admitPerTick = 1
            $0.activeDuration = .seconds(3600)
        }
        try await service.run { api in
            let schedule = try await api.createSchedule()
            _ = try await api.admittedToken(user: 1, schedule: schedule)
            let waiting = try #require(try await api.join(user: 2, performance: try await service.performance(ofSchedule: schedule)).string("token"))
            #expect(try await api.charge(user: 3, amount: 100).status == .created)

            proxy.set(.refusing)
            #expect(try await eventually(within: .seconds(30)) { try await api.request(.get, "/ready").status == .serviceUnavailable })
            let charge = try await api.charge(user: 3, amount: 100)
            #expect(charge.status == .serviceUnavailable)
            #expect(charge.errorCode == "SERVICE_UNAVAILABLE")
            #expect(charge.headers[.retryAfter] == "1")
            // Polls are answered from memory.
            let poll = try await api.request(.get, "/v1/queue/tokens/current", queueToken: waiting)
            #expect(poll.status == .ok)
            #expect(poll.string("status") == "waiting")
            // The board cannot follow the admissions any more: "you are waiting" may be false.
            #expect(try await eventually(within: .seconds(30)) {
                try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 2, queueToken: waiting).status == .serviceUnavailable
            })

            proxy.set(.forwarding)
            #expect(try await eventually(within: .seconds(30)) { try await api.request(.get, "/ready").status == .ok })
            // One line when the database is lost and one when it is back. (Later lines would be
            // another outage: a machine this busy with other tests can miss two pings in a row.)
            let outage = logs.lines
            #expect(outage.filter { $0.contains("The database cannot be reached") }.count == 1, "\(logs.written)")
            #expect(outage.filter { $0.contains("The database is reachable again") }.count == 1, "\(logs.written)")
            #expect(try await eventually(within: .seconds(30)) { try await api.charge(user: 3, amount: 100).status == .created })
            #expect(try await api.request(.get, "/v1/wallet", user: 3).int("balance") == 200)
            #expect(try await eventually(within: .seconds(30)) {
                try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 2, queueToken: waiting).errorCode == "QUEUE_TOKEN_WAITING"
            })
        }
        await proxy.stop()
        // No warning per failed connection either (PostgresNIO's pools log those at info).
        #expect(logs.lines.filter { $0.contains(" warning ") && $0.contains("[PostgresNIO]") && $0.contains("onnection") && !$0.contains("run()") }
            .isEmpty, "\(logs.written)")
        #expect(!logs.lines.contains { $0.contains(" error ") || $0.contains(" critical ") }, "\(logs.written)")
    }

    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func aSilentDatabaseIsAnsweredWithinTheBound() async throws {
        let (service, proxy) = try await Self.proxiedService()
        try await service.run { api in
            #expect(try await api.charge(user: 5, amount: 100).status == .created)
            proxy.set(.silent)
            // The test's own bound: a service that hung would fail here instead of answering.
            let reads = try await Deadline.run(within: .seconds(20)) {
                [try await api.request(.get, "/v1/wallet", user: 5), try await api.charge(user: 5, amount: 100)]
            }
            for reply in reads {
                #expect(reply.status == .serviceUnavailable)
                #expect(reply.headers[.retryAfter] == "1")
            }
            proxy.set(.forwarding)
            #expect(try await eventually(within: .seconds(30)) { try await api.request(.get, "/ready").status == .ok })
        }
        await proxy.stop()
    }

    @Test(.enabled(if: Backend.all.contains(.postgres), "needs PostgreSQL"))
    func aPaymentWhoseAnswerWasLostIsSettledByItsRetry() async throws {
        // Long enough for the payment's COMMIT to go out on a loaded machine before the answer is given up.
        let (service, proxy) = try await Self.proxiedService(databaseTimeout: .seconds(6))
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 10, 1000)])
            #expect(try await api.charge(user: 40, amount: 5000).status == .created)
            let first = try #require(try await api.hold(user: 40, schedule: schedule, seats: [1]).int("id"))
            let second = try #require(try await api.hold(user: 40, schedule: schedule, seats: [2]).int("id"))

            // The payment commits, and its answer is lost on the way back.
            proxy.set(.losingAnswersAfterCommit)
            let lost = try await api.request(.post, "/v1/reservations/\(first)/payment", user: 40, idempotencyKey: "pay-1")
            #expect(lost.status == .serviceUnavailable)
            proxy.set(.forwarding)
            #expect(try await eventually(within: .seconds(30)) { try await api.request(.get, "/ready").status == .ok })
            let committed = try await service.database.string("SELECT state FROM reservations WHERE id = \(first)") == "confirmed"
            #expect(committed, "the COMMIT reached the database before its answer was lost")
            // The request pool may still be reconnecting when /ready (its own connection) is back:
            // the client retries a 503 as its Retry-After says, with the same key.
            var applied = try await api.request(.post, "/v1/reservations/\(first)/payment", user: 40, idempotencyKey: "pay-1")
            _ = try await eventually(within: .seconds(30), every: .seconds(1)) {
                if applied.status == .serviceUnavailable {
                    applied = try await api.request(.post, "/v1/reservations/\(first)/payment", user: 40, idempotencyKey: "pay-1")
                }
                return applied.status != .serviceUnavailable
            }
            #expect(applied.status == .ok)
            #expect(applied.string("state") == "confirmed")
            #expect((applied.headers[.idempotentReplayed] == "true") == committed, "the retry says whether the first request was applied")

            // The database is gone before the payment reaches it.
            proxy.set(.refusing)
            #expect(try await eventually(within: .seconds(30)) { try await api.request(.get, "/ready").status == .serviceUnavailable })
            #expect(try await api.request(.post, "/v1/reservations/\(second)/payment", user: 40, idempotencyKey: "pay-2").status
                == .serviceUnavailable)
            proxy.set(.forwarding)
            #expect(try await eventually(within: .seconds(30)) { try await api.request(.get, "/ready").status == .ok })
            let fresh = try await api.request(.post, "/v1/reservations/\(second)/payment", user: 40, idempotencyKey: "pay-2")
            #expect(fresh.status == .ok)
            #expect(fresh.headers[.idempotentReplayed] == nil, "the retry says the first request was not applied")

            #expect(try await api.request(.get, "/v1/wallet", user: 40).int("balance") == 3000, "each payment debited once")
            try await checkInvariants(service)
        }
        await proxy.stop()
    }
}

@Suite struct DeadlineTests {
    /// A wait that ignores cancellation (a query on a silent connection) still ends on time.
    @Test func aBodyThatIgnoresCancellationIsCutOff() async throws {
        await #expect(throws: ServiceError.self) {
            try await Deadline.run(within: .milliseconds(100)) {
                await withCheckedContinuation { continuation in
                    Thread {
                        Thread.sleep(forTimeInterval: 2)
                        continuation.resume(returning: "finished")
                    }.start()
                }
            }
        }
        #expect(try await Deadline.run(within: .seconds(30)) { "answered" } == "answered")
        await #expect(throws: ServiceError.self) {
            try await Deadline.run(within: .seconds(30)) { throw ServiceError(.contended, "passed on") }
        }
    }
}

/// How connections are treated: closed when HTTP/1.0 says so, when idle, or when headers
/// never finish; a client that vanishes mid-body is no server error.
@Suite struct ConnectionTests {
    @Test func http10IsClosedAfterItsAnswerAndHTTP11IsKeptUntilIdle() async throws {
        let service = try await TestService(.sqlite) { $0.idleTimeout = .milliseconds(600) }
        try await service.run(.live) { api in
            let port = try #require(api.client.port)
            let old = try RawConnection(port: port)
            try old.send("GET /health HTTP/1.0\r\n\r\n")
            let answer = await old.readUntilClosed(limit: .seconds(30))
            #expect(answer.text.hasPrefix("HTTP/1.1 200"))
            #expect(answer.closed)

            let current = try RawConnection(port: port)
            try current.send("GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            let first = await current.readUntilClosed(limit: .seconds(30), until: #"{"status":"ok"}"#)
            #expect(first.text.hasPrefix("HTTP/1.1 200"))
            // Keep-alive: a second request on the same connection is answered too.
            try current.send("GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            let second = await current.readUntilClosed(limit: .seconds(30), until: #"{"status":"ok"}"#)
            #expect(second.text.hasPrefix("HTTP/1.1 200"), "open after the first answer")
            #expect(await current.readUntilClosed(limit: .seconds(30)).closed, "closed once idle")
        }
    }

    @Test func headersThatNeverFinishAreCutOff() async throws {
        let service = try await TestService(.sqlite) {
            $0.idleTimeout = .seconds(300)
            $0.headerTimeout = .milliseconds(300)
        }
        try await service.run(.live) { api in
            let slow = try RawConnection(port: try #require(api.client.port))
            try slow.send("GET /health HTTP/1.1\r\nHost: te")
            // Generous: the whole suite starting at once can hold up the server's event loops.
            let cut = await slow.readUntilClosed(limit: .seconds(60))
            #expect(cut.closed, "closed long before the idle timeout")
            #expect(cut.text.isEmpty)
        }
    }

    @Test func aClientThatGoesAwayMidBodyIsNeitherA500NorAnErrorLine() async throws {
        let logs = LogLines()
        let service = try await TestService(.sqlite, logs: logs)
        let credential = try await service.token(user: 77)
        try await service.run(.live) { api in
            let port = try #require(api.client.port)
            for _ in 0..<5 {
                let connection = try RawConnection(port: port)
                try connection.send(
                    "POST /v1/wallet/charges HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer \(credential)\r\n"
                        + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\"")
            }
            // The connections above are closed as they go out of scope; let the server notice.
            #expect(try await eventually(within: .seconds(30)) {
                String(decoding: try await api.request(.get, "/metrics").body, as: UTF8.self)
                    .contains(#"http_route="/v1/wallet/charges",http_request_method="POST",http_response_status_code="400""#)
            })
            let metrics = String(decoding: try await api.request(.get, "/metrics").body, as: UTF8.self)
            #expect(!metrics.contains(#"http_route="/v1/wallet/charges",http_request_method="POST",http_response_status_code="500""#))
            #expect(try await api.request(.get, "/v1/wallet", user: 77).int("balance") == 0)
        }
        #expect(!logs.lines.contains { $0.contains(" error ") }, "\(logs.written)")
    }

    @Test func aWrongMethodOnAKnownPathIs405WithAllow() async throws {
        try await TestService(.sqlite).run { api in
            let put = try await api.request(.put, "/v1/wallet", user: 1)
            #expect(put.status == .methodNotAllowed)
            #expect(put.errorCode == "METHOD_NOT_ALLOWED")
            #expect(put.headers[.allow] == "GET")
            let delete = try await api.request(.delete, "/v1/reservations/12")
            #expect(delete.status == .methodNotAllowed)
            #expect(delete.headers[.allow] == "GET")
            #expect(try await api.request(.patch, "/v1/queue/tokens").headers[.allow] == "POST")
            #expect(try await api.request(.put, "/v1/nowhere").status == .notFound)
        }
    }

    @Test func aTakenPortIsNamed() async throws {
        let listener = try RawListener()
        let result = try await runConcert(
            ["serve", "--port", "\(listener.port)"],
            environment: ["AUTH_JWT_SECRET": TestService.secret, "SQLITE_PATH": NSTemporaryDirectory() + "concert-port-\(UUID()).sqlite"])
        #expect(result.status == 1)
        #expect(result.output.contains("Port \(listener.port) on 127.0.0.1 is already in use"), "\(result.output)")
    }
}

/// Bad input is refused with a message that says what is expected, and changes nothing.
@Suite struct InputTests {
    @Test(arguments: Backend.all)
    func datesMustBeRFC3339WithAnOffset(_ backend: Backend) async throws {
        try await TestService(backend).run { api in
            let performance = try #require(try await api.request(
                .post, "/v1/admin/performances", user: 1, admin: true, body: #"{"title": "T", "performer": "P"}"#).int("id"))
            func schedule(startsAt: String) async throws -> Reply {
                try await api.request(.post, "/v1/admin/performances/\(performance)/schedules", user: 1, admin: true, body: """
                    {"starts_at": "\(startsAt)", "sale_opens_at": "2030-01-01T00:00:00Z", "sale_closes_at": "2030-01-02T00:00:00Z",
                     "seats": [{"grade": "R", "count": 1, "price": 1}]}
                    """)
            }
            for loose in ["2030-01-10T20:00:00", "2030-01-10 20:00", "2030-01-10garbage", "2030-01-10", "2030-02-30T20:00:00Z",
                "2030-01-10T24:00:00Z", "2030-01-10T20:00:00+9:00", ""]
            {
                let refused = try await schedule(startsAt: loose)
                #expect(refused.status == .badRequest, "\(loose)")
                #expect(refused.errorMessage?.contains("starts_at") == true, "names the field")
                #expect(refused.errorMessage?.contains("RFC 3339 date-time with an offset") == true, "says the form")
            }
            let offset = try await schedule(startsAt: "2030-01-10T20:00:00.250+09:00")
            #expect(offset.status == .created)
            #expect(offset.string("starts_at") == "2030-01-10T11:00:00Z")
            let sales = try await api.request(.get, "/v1/admin/performances/\(performance)/sales", user: 1, admin: true)
            #expect((sales.json["schedules"] as? [Any])?.count == 1, "only the valid schedule was created")
        }
    }

    @Test func rfc3339Parsing() {
        #expect(APIDate.parse("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
        #expect(APIDate.parse("2024-02-29T12:30:15.5-01:30") == Date(timeIntervalSince1970: 1_709_215_215.5))
        #expect(APIDate.parse("2030-01-10t20:00:00z") != nil)
        #expect(APIDate.parse("2023-02-29T00:00:00Z") == nil)
        #expect(APIDate.parse("2030-01-10T20:00:00.Z") == nil)
        #expect(APIDate.parse("2030-01-10T20:00:00Z ") == nil)
    }

    @Test(arguments: Backend.all)
    func aNonIntegerAmountSaysSo(_ backend: Backend) async throws {
        try await TestService(backend).run { api in
            for amount in ["10.5", "-0.5", "9223372036854775808"] {
                let refused = try await api.request(.post, "/v1/wallet/charges", user: 8, body: #"{"amount": \#(amount)}"#)
                #expect(refused.status == .badRequest, "\(amount)")
                #expect(refused.errorMessage?.hasPrefix("amount must be a whole number") == true, "\(amount): \(refused.errorMessage ?? "")")
            }
            #expect(try await api.request(.get, "/v1/wallet", user: 8).int("balance") == 0)
        }
    }
}

/// Limits per user, per queue token and per address, each a 429 with Retry-After.
@Suite struct RateLimitTests {
    @Test func theLimiterAllowsABurstThenTheSustainedRate() {
        let limiter = RateLimiter<Int>(perMinute: 3)
        let start = Date(timeIntervalSinceReferenceDate: 1_000)
        #expect((0..<3).map { _ in limiter.admit(1, at: start) } == [nil, nil, nil])
        #expect(limiter.admit(1, at: start) == 20, "the next one in 20 s")
        #expect(limiter.admit(2, at: start) == nil, "keys are apart")
        #expect(limiter.admit(1, at: start.addingTimeInterval(19)) == 1)
        #expect(limiter.admit(1, at: start.addingTimeInterval(20)) == nil)
        #expect(RateLimiter<Int>(perMinute: 0).admit(1, at: start) == nil, "0 turns it off")
    }

    @Test func keysWhoseAllowanceIsFullAgainAreForgotten() {
        let limiter = RateLimiter<Int>(perMinute: 60)
        let start = Date(timeIntervalSinceReferenceDate: 1_000)
        let size = RateLimiter<Int>.minimumPruneSize
        for key in 0..<size { _ = limiter.admit(key, at: start) }
        #expect(limiter.trackedKeys == size, "all still spent: none can be forgotten")
        // Two seconds on, those are full again and go when the table next grows to twice that.
        for key in size..<(2 * size) { _ = limiter.admit(key, at: start.addingTimeInterval(2)) }
        #expect(limiter.trackedKeys == size)
        #expect(limiter.admit(0, at: start.addingTimeInterval(2)) == nil)
    }

    @Test func theClientAddressComesFromTrustedProxiesOnly() {
        let proxies: Set<String> = ["10.0.0.2", "10.0.0.3"]
        #expect(ClientAddress.resolve(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"], trustedProxies: proxies) == "203.0.113.9")
        #expect(ClientAddress.resolve(peer: "10.0.0.2", forwardedFor: ["1.2.3.4"], trustedProxies: proxies) == "1.2.3.4")
        #expect(ClientAddress.resolve(peer: "10.0.0.2", forwardedFor: ["6.6.6.6, 1.2.3.4, 10.0.0.3"], trustedProxies: proxies) == "1.2.3.4")
        #expect(ClientAddress.resolve(peer: "10.0.0.2", forwardedFor: [], trustedProxies: proxies) == "10.0.0.2")
        #expect(ClientAddress.resolve(peer: nil, forwardedFor: ["1.2.3.4"], trustedProxies: proxies) == "unknown")
    }

    @Test func writesPollsAndAnonymousRequestsAreLimited() async throws {
        let service = try await TestService(.sqlite) {
            $0.rateLimits.writesPerMinute = 3
            $0.rateLimits.pollsPerMinute = 2
            $0.rateLimits.anonymousPerMinute = 2
        }
        try await service.run { api in
            // Not waiting for the draw: that would spend the anonymous allowance on room views.
            let performance = try await api.createPerformance(sale: "{}")
            for _ in 0..<3 { #expect(try await api.charge(user: 1, amount: 10).status == .created) }
            let limited = try await api.charge(user: 1, amount: 10)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.errorCode == "TOO_MANY_REQUESTS")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try await api.join(user: 1, performance: performance).status == .tooManyRequests, "joins share the allowance")
            #expect(try await api.request(.get, "/v1/wallet", user: 1).int("balance") == 30, "the refused charge changed nothing")
            #expect(try await api.charge(user: 2, amount: 10).status == .created, "another user has their own")

            let token = try #require(try await api.join(user: 3, performance: performance).string("token"))
            for _ in 0..<2 { #expect(try await api.request(.get, "/v1/queue/tokens/current", queueToken: token).status == .ok) }
            #expect(try await api.request(.get, "/v1/queue/tokens/current", queueToken: token).status == .tooManyRequests)

            for _ in 0..<2 { #expect(try await api.request(.get, "/openapi.yaml").status == .ok) }
            #expect(try await api.request(.get, "/openapi.yaml").status == .tooManyRequests)
            for _ in 0..<5 { #expect(try await api.request(.get, "/health").status == .ok, "never limited") }
        }
    }
}

@Suite struct ClientAddressTests {
    /// Behind a trusted balancer, each client named by X-Forwarded-For has its own allowance.
    @Test func aTrustedProxysClientsAreCountedApart() async throws {
        let service = try await TestService(.sqlite) {
            $0.rateLimits.anonymousPerMinute = 1
            $0.trustedProxies = ["127.0.0.1"]
        }
        let statuses = try await service.run(.live) { api in
            var statuses: [HTTPResponse.Status] = []
            for client in ["198.51.100.1", "198.51.100.1", "198.51.100.2"] {
                statuses.append(try await api.request(.get, "/openapi.yaml", headers: [.xForwardedFor: "203.0.113.7, \(client)"]).status)
            }
            return statuses
        }
        #expect(statuses == [.ok, .tooManyRequests, .ok])
    }
}

/// Errors that tell the client what happened and what to do.
@Suite struct ClearErrorTests {
    @Test(arguments: Backend.all)
    func credentialErrorsSayWhatFailed(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        let forged = try await Credentials(secret: String(repeating: "x", count: 40)).mint(userID: 1, admin: false, validFor: .seconds(60), now: Date())
        let expired = try await service.system.credentials.mint(
            userID: 1, admin: false, validFor: .seconds(60), now: Date().addingTimeInterval(-120))
        try await service.run { api in
            func reason(_ header: String?) async throws -> (String?, String?) {
                let reply = try await api.request(.get, "/v1/wallet", headers: header.map { [.authorization: $0] } ?? [:])
                #expect(reply.status == .unauthorized)
                return ((reply.json["error"] as? [String: Any])?["reason"] as? String, reply.errorMessage)
            }
            #expect(try await reason(nil).0 == "missing")
            #expect(try await reason("Bearer nonsense").0 == "malformed")
            let signature = try await reason("Bearer \(forged)")
            #expect(signature.0 == "signature")
            #expect(signature.1?.contains("signature") == true)
            let late = try await reason("Bearer \(expired)")
            #expect(late.0 == "expired")
            #expect(late.1?.contains("expired") == true)
        }
    }

    @Test(arguments: Backend.all)
    func anEndedQueueTokenSaysWhy(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            func reason(_ token: String) async throws -> String? {
                let reply = try await api.request(.get, "/v1/queue/tokens/current", queueToken: token)
                #expect(reply.status == .gone)
                #expect(reply.errorCode == "QUEUE_TOKEN_EXPIRED")
                return (reply.json["error"] as? [String: Any])?["reason"] as? String
            }
            let schedule = try await api.createSchedule()
            let performance = try await service.performance(ofSchedule: schedule)
            let old = try #require(try await api.join(user: 1, performance: performance).string("token"))
            _ = try await api.admittedToken(user: 1, performance: performance)
            #expect(try await reason(old) == "replaced")

            let used = try await api.admittedToken(user: 2, performance: performance)
            #expect(try await api.hold(user: 2, schedule: schedule, seats: [1], queueToken: used).status == .created)
            #expect(try await reason(used) == "used")
            let again = try await api.hold(user: 2, schedule: schedule, seats: [2], queueToken: used)
            #expect((again.json["error"] as? [String: Any])?["reason"] as? String == "used")

            // Past its active window, on the service's clock.
            let active = try await api.admittedToken(user: 3, performance: performance)
            #expect {
                try service.system.queue.poll(token: active, now: Date().addingTimeInterval(7200))
            } throws: { error in
                (error as? ServiceError)?.reason == "expired"
            }
        }
    }

    @Test(arguments: Backend.all)
    func theEstimatedWaitCountsTheActiveCap(_ backend: Backend) async throws {
        let service = try await TestService(backend) {
            $0.maxActive = 1
            $0.admitPerTick = 1
            $0.activeDuration = .seconds(300)
        }
        try await service.run { api in
            let performance = try await api.createPerformance()
            _ = try await api.admittedToken(user: 1, performance: performance)
            let second = try #require(try await api.join(user: 2, performance: performance).string("token"))
            // The only slot is taken for about 300 s more, so position 1 waits about that long.
            #expect(try await eventually(within: .seconds(30)) {
                let poll = try await api.request(.get, "/v1/queue/tokens/current", queueToken: second)
                return (290...301).contains(poll.int("estimated_wait_seconds") ?? 0)
            })
        }
    }
}

/// `concert check` and its admin endpoint find what was broken, on a live database.
@Suite struct IntegrityCheckTests {
    @Test(arguments: Backend.all)
    func theCheckFindsABrokenWallet(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            #expect(try await api.charge(user: 70, amount: 500).status == .created)
            let clean = try await api.request(.get, "/v1/admin/integrity", user: 1, admin: true)
            #expect(clean.json["ok"] as? Bool == true)
            #expect((clean.json["checks"] as? [[String: Any]])?.count == IntegrityCheck.all.count)
            #expect(try await api.request(.get, "/v1/admin/integrity", user: 70).status == .forbidden)

            try await service.database.execute("UPDATE wallets SET balance = balance + 1 WHERE user_id = 70")
            let broken = try await api.request(.get, "/v1/admin/integrity", user: 1, admin: true)
            #expect(broken.json["ok"] as? Bool == false)
            let wallet = (broken.json["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "wallet_ledger" }
            #expect(wallet?["violations"] as? Int == 1)
        }
        let environment = service.config.databaseURL.map { ["DATABASE_URL": $0] } ?? ["SQLITE_PATH": service.config.sqlitePath]
        let found = try await runConcert(["check"], environment: environment.merging(["AUTH_JWT_SECRET": TestService.secret]) { $1 })
        #expect(found.status == 1)
        #expect(found.output.contains("wallet_ledger: VIOLATED by 1 row(s)"), "\(found.output)")
        try await service.database.execute("UPDATE wallets SET balance = balance - 1 WHERE user_id = 70")
        let mended = try await runConcert(["check"], environment: environment.merging(["AUTH_JWT_SECRET": TestService.secret]) { $1 })
        #expect(mended.status == 0)
        #expect(mended.output.contains("All \(IntegrityCheck.all.count) checks passed."), "\(mended.output)")
    }
}
