import Foundation
import HTTPTypes
import Logging
import NIOCore
import Testing

@testable import ConcertService

@Suite struct QueueEndpointTests {
    @Test(arguments: Backend.all)
    func joinPollAndRejoin(_ backend: Backend) async throws {
        // One active user fills the only slot for the whole test, so nobody else is admitted
        // however the ticks fall (a slow tick after the joins once admitted user 8).
        let service = try await TestService(backend) {
            $0.maxActive = 1
            $0.admitPerTick = 1
            $0.activeDuration = .seconds(3600)
        }
        try await service.run { api in
            let performance = try await api.createPerformance()
            _ = try await api.admittedToken(user: 1, performance: performance)
            let first = try await api.join(user: 7, performance: performance)
            #expect(first.status == .created)
            #expect(first.string("status") == "waiting")
            #expect(first.int("position") == 1)
            #expect(first.int("performance_id") == performance)
            #expect(FairDraw.isEntryID(first.string("entry_id") ?? ""))
            #expect(first.string("draw_at") != nil)
            #expect(first.json["active_until"] is NSNull)
            _ = try await api.join(user: 8, performance: performance)
            let again = try await api.join(user: 7, performance: performance)
            #expect(again.string("entry_id") != first.string("entry_id"), "a new join is a new entry")
            #expect(again.int("position") == 2)
            #expect(again.int("waiting_total") == 2)
            let old = try await api.request(.get, "/v1/queue/tokens/current", queueToken: first.string("token"))
            #expect(old.status == .gone)
            #expect(old.errorCode == "QUEUE_TOKEN_EXPIRED")
            #expect((old.json["error"] as? [String: Any])?["reason"] as? String == "replaced")
            let poll = try await api.request(.get, "/v1/queue/tokens/current", queueToken: again.string("token"))
            #expect(poll.status == .ok)
            #expect(poll.int("position") == 2)
            #expect(poll.string("token") == again.string("token"))
            #expect(poll.int("estimated_wait_seconds") ?? 0 > 0)
        }
    }

    @Test(arguments: Backend.all)
    func badQueueTokensAreRefused(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            #expect(try await api.request(.get, "/v1/queue/tokens/current").errorCode == "QUEUE_TOKEN_MISSING")
            let forged = try await api.request(.get, "/v1/queue/tokens/current", queueToken: "AAAAAAAAACoAAAAAAAAAAQ.forged")
            #expect(forged.status == .unauthorized)
            #expect(forged.errorCode == "QUEUE_TOKEN_INVALID")
            #expect(try await api.request(.post, "/v1/queue/tokens").status == .unauthorized)
        }
    }

    @Test(arguments: Backend.all)
    func admissionActivatesAndWaitingUsersAreRefusedWithTheirPosition(_ backend: Backend) async throws {
        let service = try await TestService(backend) {
            $0.maxActive = 1
            $0.admitPerTick = 1
        }
        try await service.run { api in
            let schedule = try await api.createSchedule()
            let first = try await api.admittedToken(user: 10, schedule: schedule)
            let active = try await api.request(.get, "/v1/queue/tokens/current", queueToken: first)
            #expect(active.int("position") == 0)
            #expect(active.string("active_until") != nil)
            let performance = try await service.performance(ofSchedule: schedule)
            let second = try #require(try await api.join(user: 11, performance: performance).string("token"))
            // A board that has not read the database for a while answers 503 rather than
            // "waiting" (a machine this busy with other tests can delay its ticks): ask again.
            var refused = try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 11, queueToken: second)
            for _ in 0..<100 where refused.status == .serviceUnavailable {
                try await Task.sleep(for: .milliseconds(100))
                refused = try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 11, queueToken: second)
            }
            #expect(refused.status == .forbidden)
            #expect(refused.errorCode == "QUEUE_TOKEN_WAITING")
            #expect((refused.json["error"] as? [String: Any])?["position"] as? Int == 1)
            let notYours = try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 11, queueToken: first)
            #expect(notYours.errorCode == "QUEUE_TOKEN_NOT_YOURS")
        }
    }
}

@Suite struct CatalogueEndpointTests {
    @Test(arguments: Backend.all)
    func listingDetailAndSeatMap(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("VIP", 2, 5000), ("R", 3, 1000)])
            let token = try await api.admittedToken(user: 5, schedule: schedule)
            // The listing and a performance's page need neither a credential nor a queue token.
            let list = try await api.request(.get, "/v1/performances")
            #expect(list.status == .ok)
            let performances = try #require(list.json["performances"] as? [[String: Any]])
            #expect(performances.count == 1)
            let schedules = try #require(performances[0]["schedules"] as? [[String: Any]])
            #expect(schedules.first?["remaining_seats"] as? Int == 5)
            #expect(schedules.first?["reservable"] as? Bool == true)

            let id = try #require(performances[0]["id"] as? Int)
            #expect(try await api.request(.get, "/v1/performances/\(id)").string("title") == "Test Show")
            #expect(try await api.request(.get, "/v1/performances/999").errorCode == "PERFORMANCE_NOT_FOUND")

            let map = try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 5, queueToken: token)
            let seats = try #require(map.json["seats"] as? [[String: Any]])
            #expect(seats.map { $0["grade"] as? String } == ["VIP", "VIP", "R", "R", "R"])
            #expect(seats.allSatisfy { $0["status"] as? String == "available" })
            #expect(try await api.request(.get, "/v1/schedules/999/seats", user: 5, queueToken: token).status == .notFound)

            let outOfRange = try await api.request(
                .get, "/v1/performances?from=2030-01-01T00:00:00Z&to=2031-01-01T00:00:00%2B09:00", user: 5, queueToken: token)
            #expect((outOfRange.json["performances"] as? [Any])?.isEmpty == true)
            let inverted = try await api.request(
                .get, "/v1/performances?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z", user: 5, queueToken: token)
            #expect(inverted.errorCode == "INVALID_RANGE")
            for loose in ["yesterday", "2030-01-01", "2030-01-01T00:00:00"] {
                let refused = try await api.request(.get, "/v1/performances?from=\(loose)", user: 5, queueToken: token)
                #expect(refused.status == .badRequest)
                #expect(refused.errorMessage?.contains("from: expected an RFC 3339 date-time with an offset") == true)
            }
            #expect(try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 5).errorCode == "QUEUE_TOKEN_MISSING")
        }
    }

    @Test(arguments: Backend.all)
    func adminEndpointsNeedTheAdminScopeAndValidInput(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let body = #"{"title": "T", "performer": "P"}"#
            #expect(try await api.request(.post, "/v1/admin/performances", body: body).status == .unauthorized)
            #expect(try await api.request(.post, "/v1/admin/performances", user: 3, body: body).errorCode == "FORBIDDEN")
            #expect(try await api.request(.post, "/v1/admin/performances", user: 1, admin: true, body: #"{"title": " ", "performer": "P"}"#).status == .unprocessableContent)
            #expect(try await api.request(.post, "/v1/admin/performances/99/schedules", user: 1, admin: true, body: """
                {"starts_at": "2030-01-02T00:00:00Z", "sale_opens_at": "2030-01-01T00:00:00Z", "sale_closes_at": "2030-01-01T12:00:00Z",
                 "seats": [{"grade": "R", "count": 1, "price": 1}]}
                """).errorCode == "PERFORMANCE_NOT_FOUND")
            _ = try await api.createSchedule()
            #expect(try await api.request(.post, "/v1/admin/performances/1/schedules", user: 1, admin: true, body: """
                {"starts_at": "2030-01-02T00:00:00Z", "sale_opens_at": "2030-01-03T00:00:00Z", "sale_closes_at": "2030-01-01T12:00:00Z",
                 "seats": [{"grade": "R", "count": 1, "price": 1}]}
                """).errorCode == "INVALID_SCHEDULE")
            let sales = try await api.request(.get, "/v1/admin/performances/1/sales", user: 1, admin: true)
            #expect(sales.status == .ok)
            #expect(sales.int("revenue") == 0)
            #expect(try await api.request(.get, "/v1/admin/performances/1/sales", user: 2).status == .forbidden)
        }
    }
}

@Suite struct ReservationEndpointTests {
    @Test(arguments: Backend.all)
    func holdPayCancelAndRefund(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("VIP", 4, 5000)])
            let token = try await api.admittedToken(user: 20, schedule: schedule)
            let held = try await api.hold(user: 20, schedule: schedule, seats: [2, 1], queueToken: token)
            #expect(held.status == .created)
            #expect(held.json["seat_numbers"] as? [Int] == [1, 2])
            #expect(held.int("total_price") == 10000)
            #expect(held.string("state") == "pending")
            let id = try #require(held.int("id"))
            // The token was spent by the hold.
            #expect(try await api.request(.get, "/v1/queue/tokens/current", queueToken: token).status == .gone)

            #expect(try await api.request(.post, "/v1/reservations/\(id)/payment", user: 20).errorCode == "INSUFFICIENT_BALANCE")
            #expect(try await api.request(.post, "/v1/reservations/\(id)/payment", user: 20).status.code == 402)
            #expect(try await api.charge(user: 20, amount: 15000).int("balance") == 15000)
            let paid = try await api.request(.post, "/v1/reservations/\(id)/payment", user: 20)
            #expect(paid.string("state") == "confirmed")
            #expect(try await api.request(.get, "/v1/wallet", user: 20).int("balance") == 5000)
            #expect(try await api.request(.post, "/v1/reservations/\(id)/payment", user: 20).errorCode == "RESERVATION_NOT_PENDING")

            let one = try await api.request(.get, "/v1/reservations/\(id)", user: 20)
            #expect(one.string("state") == "confirmed")
            let mine = try await api.request(.get, "/v1/reservations", user: 20)
            #expect((mine.json["reservations"] as? [[String: Any]])?.count == 1)

            let cancelled = try await api.request(.post, "/v1/reservations/\(id)/cancel", user: 20)
            #expect(cancelled.string("state") == "cancelled")
            #expect(try await api.request(.get, "/v1/wallet", user: 20).int("balance") == 15000)
            #expect(try await api.request(.post, "/v1/reservations/\(id)/cancel", user: 20).errorCode == "RESERVATION_NOT_CANCELLABLE")
            // The seats are free again at once, for anyone.
            #expect(try await api.hold(user: 21, schedule: schedule, seats: [1]).status == .created)

            let ledger = try await api.request(.get, "/v1/wallet/entries", user: 20)
            let entries = try #require(ledger.json["entries"] as? [[String: Any]])
            #expect(entries.map { $0["kind"] as? String } == ["refund", "payment", "charge"])
            #expect(entries.map { $0["amount"] as? Int } == [10000, -10000, 15000])
            try await checkInvariants(service)
        }
    }

    @Test(arguments: Backend.all)
    func badHoldsChangeNothing(_ backend: Backend) async throws {
        let service = try await TestService(backend) { $0.maxSeatsPerHold = 2 }
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 5, 100)])
            let token = try await api.admittedToken(user: 30, schedule: schedule)
            func hold(_ body: String) async throws -> Reply {
                try await api.request(.post, "/v1/reservations", user: 30, queueToken: token, body: body)
            }
            #expect(try await hold(#"{"schedule_id": \#(schedule), "seat_numbers": [6]}"#).errorCode == "SEAT_OUT_OF_RANGE")
            #expect(try await hold(#"{"schedule_id": \#(schedule), "seat_numbers": [0]}"#).errorCode == "SEAT_OUT_OF_RANGE")
            #expect(try await hold(#"{"schedule_id": \#(schedule), "seat_numbers": [1, 1]}"#).errorCode == "INVALID_SEAT_SELECTION")
            #expect(try await hold(#"{"schedule_id": \#(schedule), "seat_numbers": [1, 2, 3]}"#).errorCode == "INVALID_SEAT_SELECTION")
            #expect(try await hold(#"{"schedule_id": \#(schedule), "seat_numbers": []}"#).status == .unprocessableContent)
            #expect(try await hold(#"{"schedule_id": 999, "seat_numbers": [1]}"#).errorCode == "SCHEDULE_NOT_FOUND")
            #expect(try await hold(#"{"schedule_id": "one", "seat_numbers": [1]}"#).errorCode == "INVALID_BODY")
            #expect(try await hold(#"{"schedule_id": 99999999999999999999, "seat_numbers": [1]}"#).errorCode == "INVALID_BODY")
            let missing = try await hold(#"{"seat_numbers": [1]}"#)
            #expect(missing.errorCode == "INVALID_BODY")
            #expect(missing.errorMessage == "Missing field schedule_id.")
            #expect(try await hold(#"{"scheduleId": \#(schedule), "seatNumbers": [1]}"#).errorCode == "INVALID_BODY")
            #expect(try await hold("{not json").errorCode == "INVALID_BODY")
            #expect(try await hold(String(repeating: " ", count: 70_000) + "{}").status == .contentTooLarge)
            // None of that spent the token or took a seat.
            #expect(try await api.request(.get, "/v1/queue/tokens/current", queueToken: token).string("status") == "active")
            let map = try await api.request(.get, "/v1/schedules/\(schedule)/seats", user: 30, queueToken: token)
            #expect(map.int("remaining_seats") == 5)
        }
    }

    @Test(arguments: Backend.all)
    func closedSalesAndUnknownOrForeignIdsAreRefused(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let schedule = try await api.createSchedule(seats: [("R", 5, 100)])
            try await service.database.execute("UPDATE schedules SET sale_opens_at = sale_closes_at - 1 WHERE id = \(schedule)")
            #expect(try await api.hold(user: 40, schedule: schedule, seats: [1]).errorCode == "SALE_NOT_OPEN")
            #expect(try await api.request(.get, "/v1/reservations/abc", user: 40).errorCode == "INVALID_PARAMETER")
            #expect(try await api.request(.get, "/v1/reservations/99999999999999999999", user: 40).status == .badRequest)
            #expect(try await api.request(.get, "/v1/reservations/0", user: 40).status == .badRequest)
            #expect(try await api.request(.post, "/v1/reservations/12345/payment", user: 40).errorCode == "RESERVATION_NOT_FOUND")
            #expect(try await api.request(.get, "/v1/nowhere").errorCode == "NOT_FOUND")
        }
    }
}

@Suite struct WalletEndpointTests {
    @Test(arguments: Backend.all)
    func chargesAreValidatedAndTheLedgerPages(_ backend: Backend) async throws {
        let service = try await TestService(backend) { $0.walletMaxCharge = 1000 }
        try await service.run { api in
            #expect(try await api.request(.get, "/v1/wallet", user: 50).int("balance") == 0)
            #expect(try await api.charge(user: 50, amount: 0).errorCode == "INVALID_AMOUNT")
            #expect(try await api.charge(user: 50, amount: -10).status == .unprocessableContent)
            #expect(try await api.charge(user: 50, amount: 1001).errorCode == "AMOUNT_OVER_LIMIT")
            #expect(try await api.request(.post, "/v1/wallet/charges", user: 50, body: #"{"amount": 1.5}"#).errorCode == "INVALID_BODY")
            #expect(try await api.request(.post, "/v1/wallet/charges", user: 50, body: #"{"amount": 9223372036854775808}"#).status == .badRequest)
            for amount in 1...5 { #expect(try await api.charge(user: 50, amount: amount).status == .created) }
            let first = try await api.request(.get, "/v1/wallet/entries?limit=2", user: 50)
            let entries = try #require(first.json["entries"] as? [[String: Any]])
            #expect(entries.map { $0["amount"] as? Int } == [5, 4])
            let cursor = try #require(first.string("next_cursor"))
            let last = try await api.request(.get, "/v1/wallet/entries?limit=3&cursor=\(cursor)", user: 50)
            #expect((last.json["entries"] as? [[String: Any]])?.map { $0["amount"] as? Int } == [3, 2, 1])
            #expect(last.json["next_cursor"] is NSNull)
            #expect(try await api.request(.get, "/v1/wallet/entries?limit=0", user: 50).status == .badRequest)
            #expect(try await api.request(.get, "/v1/wallet/entries?cursor=x", user: 50).status == .badRequest)
            #expect(try await api.request(.get, "/v1/wallet", user: 50).int("balance") == 15)
        }
    }

    @Test(arguments: Backend.all)
    func idempotencyKeysReplayTheFirstResult(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let body = #"{"amount": 700}"#
            let first = try await api.request(.post, "/v1/wallet/charges", user: 60, idempotencyKey: "charge-1", body: body)
            let again = try await api.request(.post, "/v1/wallet/charges", user: 60, idempotencyKey: "charge-1", body: body)
            #expect(first.int("balance") == 700)
            #expect(again.status == .created)
            #expect(again.int("balance") == 700)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            let reused = try await api.request(.post, "/v1/wallet/charges", user: 60, idempotencyKey: "charge-1", body: #"{"amount": 1}"#)
            #expect(reused.errorCode == "IDEMPOTENCY_KEY_REUSED")
            #expect(try await api.request(.post, "/v1/wallet/charges", user: 60, idempotencyKey: String(repeating: "k", count: 300), body: body).errorCode == "INVALID_IDEMPOTENCY_KEY")
            // Keys belong to their user.
            #expect(try await api.request(.post, "/v1/wallet/charges", user: 61, idempotencyKey: "charge-1", body: body).headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            #expect(try await api.request(.get, "/v1/wallet", user: 60).int("balance") == 700)
        }
    }
}

@Suite struct CredentialTests {
    @Test(arguments: Backend.all)
    func forgedExpiredAndMalformedCredentialsAreRefused(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        let other = await Credentials(secret: String(repeating: "x", count: 40))
        let forged = try await other.mint(userID: 1, admin: true, validFor: .seconds(60), now: Date())
        let expired = try await service.system.credentials.mint(userID: 1, admin: false, validFor: .seconds(60), now: Date().addingTimeInterval(-120))
        try await service.run { api in
            let valid = try await service.token(user: 1, admin: false)
            for header in [
                "Bearer \(forged)", "Bearer \(expired)", "Bearer nonsense", "Basic abc", "Bearer ", "Bearer\(valid)",
                "Bearerx \(valid)", "Basic \(valid)",
            ] {
                let reply = try await api.request(.get, "/v1/wallet", headers: [.authorization: header])
                #expect(reply.status == .unauthorized)
                #expect(reply.errorCode == "UNAUTHENTICATED")
            }
            // The scheme is case-insensitive and blanks around the credential do not matter.
            for header in ["bearer \(valid)", "BEARER  \(valid)\t "] {
                #expect(try await api.request(.get, "/v1/wallet", headers: [.authorization: header]).status == .ok)
            }
        }
    }

    /// Authentication runs before the handler reads anything the request carries, so a caller
    /// without a credential learns that first, whatever else is wrong with the request.
    @Test(arguments: Backend.all)
    func theCredentialIsCheckedBeforeThePathAndBody(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            let anonymous = try await api.request(.get, "/v1/reservations/not-a-number")
            #expect(anonymous.status == .unauthorized)
            #expect(try await api.request(.get, "/v1/reservations/not-a-number", user: 1).status == .badRequest)
            let notAdmin = try await api.request(.post, "/v1/admin/performances/not-a-number/schedules", user: 1, body: "{")
            #expect(notAdmin.status == .forbidden)
            #expect(try await api.request(.post, "/v1/admin/performances/1/schedules", user: 2, admin: true, body: "{").status == .badRequest)
        }
    }

    /// Credentials expire by the service's clock.
    @Test(arguments: Backend.all)
    func aCredentialExpiresByTheServicesClock(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        let credential = try await service.system.credentials.mint(userID: 1, admin: false, validFor: .seconds(60), now: service.clock.now)
        try await service.run { api in
            let header: HTTPFields = [.authorization: "Bearer \(credential)"]
            #expect(try await api.request(.get, "/v1/wallet", headers: header).status == .ok)
            service.clock.advance(by: .seconds(61))
            let expired = try await api.request(.get, "/v1/wallet", headers: header)
            #expect(expired.status == .unauthorized)
            #expect((expired.json["error"] as? [String: Any])?["reason"] as? String == "expired")
        }
    }
}

@Suite struct CredentialCacheTests {
    /// A credential verified once is not verified again, but it still expires on time.
    @Test func aRememberedCredentialStillExpires() async throws {
        let credentials = await Credentials(secret: String(repeating: "k", count: 40))
        let clock = AdjustableClock()
        let token = try await credentials.mint(userID: 42, admin: false, validFor: .seconds(60), now: clock.now)
        #expect(try await credentials.identity(fromToken: token, now: clock.now) == Identity(userID: 42, isAdmin: false))
        clock.advance(by: .seconds(59))
        #expect(try await credentials.identity(fromToken: token, now: clock.now) == Identity(userID: 42, isAdmin: false))
        clock.advance(by: .seconds(2))
        let expired = await #expect(throws: ServiceError.self) { try await credentials.identity(fromToken: token, now: clock.now) }
        #expect(expired?.reason == "expired")
    }

    @Test func aFullGenerationForgetsOnlyTheCredentialsNotUsedSince() {
        let cache = RecentlyVerified<Identity>(capacity: 2)
        let later = Date().addingTimeInterval(60)
        let user = { (id: Int64) in Identity(userID: id, isAdmin: false) }
        cache.remember("a", as: user(1), until: later)
        cache.remember("b", as: user(2), until: later)
        cache.remember("c", as: user(3), until: later)  // a and b become the previous generation
        #expect(cache.value(of: "a", at: Date()) == user(1), "used again: back in the current generation")
        cache.remember("d", as: user(4), until: later)  // c and a become the previous generation; b is forgotten
        #expect(cache.value(of: "b", at: Date()) == nil)
        #expect(cache.value(of: "a", at: Date()) == user(1))
        #expect(cache.value(of: "a ", at: Date()) == nil, "known by the exact text")
        #expect(cache.value(of: "c", at: Date()) == user(3))
        #expect(cache.value(of: "d", at: Date()) == user(4))
        #expect(cache.value(of: "d", at: later) == nil, "expired at its deadline")
        #expect(cache.value(of: "d", at: Date()) == nil, "and forgotten")
        #expect(cache.value(of: "a", at: later) == nil, "expired in the previous generation too")
    }
}

/// Error bodies are written without JSONEncoder, so any message must still come out as JSON.
@Suite struct ErrorBodyTests {
    @Test(arguments: ["Seat 7 is taken.", #"got "2026-13-01" \ here"#, "control \u{0}\u{1F}\n\t end", "unicode é 🎫 \u{7F}"])
    func anyMessageComesOutAsTheSameJSONString(_ message: String) throws {
        let body = ErrorMiddleware.body(for: ServiceError(.invalidBody, message, position: 3))
        let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        let error = try #require(json?["error"] as? [String: Any])
        #expect(error["code"] as? String == "INVALID_BODY")
        #expect(error["message"] as? String == message)
        #expect(error["position"] as? Int == 3)
        #expect(error.count == 3)
    }

    @Test func noPositionNoKey() {
        let body = ErrorMiddleware.body(for: ServiceError(.seatUnavailable, "Taken."))
        #expect(String(buffer: body) == #"{"error":{"code":"SEAT_UNAVAILABLE","message":"Taken."}}"#)
    }
}

/// The service's log handler renders metadata only when it writes a line, and then all of it.
@Suite struct ServiceLoggerTests {
    @Test func aWrittenLineCarriesTheLoggersAndTheCallsMetadata() {
        let lines = LogLines()
        var logger = lines.logger(level: .info)
        logger[metadataKey: "hb.request.id"] = "42"
        logger.debug("below the level")
        logger.info("Seat held", metadata: ["seat": "7"])
        #expect(!lines.written.contains("below the level"))
        #expect(lines.written.contains("concert: hb.request.id=42 seat=7 [ConcertServiceTests] Seat held"))
    }
}

@Suite struct OperationsEndpointTests {
    @Test(arguments: Backend.all)
    func healthReadinessMetricsAndTheAPIDocument(_ backend: Backend) async throws {
        let service = try await TestService(backend)
        try await service.run { api in
            #expect(try await api.request(.get, "/health").string("status") == "ok")
            #expect(try await api.request(.get, "/ready").string("status") == "ready")
            _ = try await api.join(user: 1, performance: try await api.createPerformance())
            let metrics = try await api.request(.get, "/metrics")
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains("hb_requests"))
            #expect(text.contains("concert_queue_waiting"))
            let document = try await api.request(.get, "/openapi.yaml")
            #expect(String(decoding: document.body, as: UTF8.self).hasPrefix("openapi: 3"))
        }
    }
}

/// The cache's tests name their tokens by literal text.
extension TokenKey: ExpressibleByStringLiteral {
    public init(stringLiteral text: String) {
        self.init(text)
    }
}
