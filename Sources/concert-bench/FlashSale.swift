import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Synchronization

/// The users of the flash-sale scenario: each charges its wallet, joins the queue, polls at
/// the pace the server suggests, holds 1-2 seats and pays, or leaves when the schedule is sold out.
final class FlashSale: Sendable {
    struct Outcome: Sendable {
        var user: Int64
        var seats = 0
        var expectedBalance: Int
    }

    /// When holds and payments succeeded, measured from the start of the sale.
    struct Timeline: Sendable {
        var holds = 0
        var payments = 0
        var firstHold = Duration.zero
        var lastHold = Duration.zero
        var firstPayment = Duration.zero
        var lastPayment = Duration.zero
    }

    static let walletCharge = 1_000
    let api: SaleAPI
    let performance: Int
    let schedule: Int
    let seats: Int
    let price: Int
    let timeline = Mutex(Timeline())
    let serverErrors = Atomic<Int>(0)
    private let start = ContinuousClock.now

    init(api: SaleAPI, performance: Int, schedule: Int, seats: Int, price: Int) {
        self.api = api
        self.performance = performance
        self.schedule = schedule
        self.seats = seats
        self.price = price
    }

    func buy(user: Int64, bearer: String) async throws -> Outcome {
        var outcome = Outcome(user: user, expectedBalance: 0)
        let charge = try await send(.POST, "/v1/wallet/charges", bearer: bearer, body: #"{"amount": \#(Self.walletCharge)}"#)
        guard charge.status == 201 else { throw BenchError("charge answered \(charge.status) \(charge.errorCode ?? "")") }
        outcome.expectedBalance = Self.walletCharge
        let token = try await admittedToken(bearer: bearer)

        for attempt in 0..<8 {
            guard try await remainingSeats(bearer: bearer, token: token) > 0 else { return outcome }
            // First guesses are blind, as a user clicking on the map; later ones use the seat map.
            let wanted: [Int]
            if attempt < 2 {
                let first = Int.random(in: 1...seats)
                wanted = Int.random(in: 1...2) == 1 || first == seats ? [first] : [first, first + 1]
            } else {
                let free = try await availableSeats(bearer: bearer, token: token)
                guard !free.isEmpty else { return outcome }
                wanted = Array(free.shuffled().prefix(Int.random(in: 1...2))).sorted()
            }
            let hold = try await send(
                .POST, "/v1/reservations", bearer: bearer, queueToken: token,
                body: #"{"schedule_id": \#(schedule), "seat_numbers": \#(wanted)}"#)
            switch (hold.status, hold.errorCode) {
            case (201, _):
                note { $0.holds += 1; $0.firstHold = $0.holds == 1 ? $1 : $0.firstHold; $0.lastHold = $1 }
                guard let id = hold.json["id"] as? Int else { throw BenchError("a hold without an id") }
                let payment = try await send(.POST, "/v1/reservations/\(id)/payment", bearer: bearer)
                guard payment.status == 200 else { throw BenchError("payment answered \(payment.status) \(payment.errorCode ?? "")") }
                note { $0.payments += 1; $0.firstPayment = $0.payments == 1 ? $1 : $0.firstPayment; $0.lastPayment = $1 }
                outcome.seats = wanted.count
                outcome.expectedBalance -= wanted.count * price
                return outcome
            case (409, "SEAT_UNAVAILABLE"), (409, "CONTENDED"):
                continue
            default:
                throw BenchError("hold answered \(hold.status) \(hold.errorCode ?? "")")
            }
        }
        return outcome
    }

    private func admittedToken(bearer: String) async throws -> String {
        let joined = try await send(.POST, "/v1/queue/tokens", bearer: bearer, body: SaleAPI.joinBody(performance: performance))
        guard let token = joined.json["token"] as? String else { throw BenchError("join answered \(joined.status)") }
        while true {
            let poll = try await send(.GET, "/v1/queue/tokens/current", queueToken: token)
            guard poll.status == 200 else { throw BenchError("poll answered \(poll.status) \(poll.errorCode ?? "")") }
            if poll.json["status"] as? String == "active" { return token }
            // Half the estimated wait, between 0.25 and 3 seconds, with jitter.
            let estimate = Double(poll.json["estimated_wait_seconds"] as? Int ?? 1)
            try await Task.sleep(for: .seconds(min(max(estimate / 2, 0.25), 3) * Double.random(in: 0.8...1.2)))
        }
    }

    private func remainingSeats(bearer: String, token: String) async throws -> Int {
        let detail = try await send(.GET, "/v1/performances/\(performance)", bearer: bearer, queueToken: token)
        let schedules = detail.json["schedules"] as? [[String: Any]] ?? []
        guard let remaining = schedules.first(where: { $0["id"] as? Int == schedule })?["remaining_seats"] as? Int else {
            throw BenchError("performance answered \(detail.status) without the schedule")
        }
        return remaining
    }

    private func availableSeats(bearer: String, token: String) async throws -> [Int] {
        let map = try await send(.GET, "/v1/schedules/\(schedule)/seats", bearer: bearer, queueToken: token)
        return (map.json["seats"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "available" }
            .compactMap { $0["seat_no"] as? Int }
    }

    private func send(_ method: HTTPMethod, _ path: String, bearer: String? = nil, queueToken: String? = nil, body: String? = nil) async throws -> Reply {
        let reply = try await api.send(method, path, bearer: bearer, queueToken: queueToken, body: body)
        if reply.status >= 500 { serverErrors.add(1, ordering: .relaxed) }
        return reply
    }

    private func note(_ change: (inout Timeline, Duration) -> Void) {
        let now = ContinuousClock.now - start
        timeline.withLock { change(&$0, now) }
    }
}
