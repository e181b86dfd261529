import Foundation
import Synchronization
import Testing

@testable import ConcertService

/// SIGTERM while holds and joins are being written in batches: the server finishes what it
/// has taken, the batches are written before the database closes, and what the clients were
/// told is exactly what the database keeps.
extension ServerProcessTests {
    @Suite struct ShutdownTests {
        enum Outcome: Sendable {
            case written(Reply)
            case refused(Reply)
            /// No answer: the request came after the server stopped listening.
            case unanswered
        }

        @Test(arguments: Backend.all)
        func sigtermWritesEveryBatchItTookAndLosesNothing(_ backend: Backend) async throws {
            let database = try await TestDatabase.create(backend)
            var config = AppConfiguration()
            database.configure(&config)
            var environment = [
                "AUTH_JWT_SECRET": TestService.secret, "QUEUE_TICK_MS": "20", "QUEUE_ADMIT_PER_TICK": "5000", "LOG_LEVEL": "warning",
            ]
            if let url = config.databaseURL { environment["DATABASE_URL"] = url } else { environment["SQLITE_PATH"] = config.sqlitePath }
            let server = try ServerProcesses(count: 1, environment: environment)
            let client = SaleClient(ports: server.ports)
            let holders = Array(Int64(1000)..<1150)
            let joiners = Array(Int64(5000)..<5500)
            do {
                try await server.waitUntilReady(client)
                let target = try await client.createSchedule(seats: holders.count, price: 100)
                let schedule = target.schedule
                let tokens = try await withThrowingTaskGroup(of: (Int64, String).self) { group in
                    for user in holders { group.addTask { (user, try await client.admittedToken(user: user, performance: target.performance)) } }
                    return try await group.reduce(into: [Int64: String]()) { $0[$1.0] = $1.1 }
                }

                let answered = AnswerCount()
                let (holds, joins, status) = await withTaskGroup(of: (Int64, Bool, Outcome)?.self) { group in
                    for (index, user) in holders.enumerated() {
                        group.addTask {
                            let body = #"{"schedule_id": \#(schedule), "seat_numbers": [\#(index + 1)]}"#
                            let outcome = await Self.send(client, answered) {
                                try await client.send(.post, "/v1/reservations", user: user, queueToken: tokens[user], body: body)
                            }
                            return (user, true, outcome)
                        }
                    }
                    for user in joiners {
                        group.addTask { (user, false, await Self.send(client, answered) {
                            try await client.send(.post, "/v1/queue/tokens", user: user, body: #"{"performance_id": \#(target.performance)}"#)
                        }) }
                    }
                    // SIGTERM once the first answers are back, while the rest are in flight.
                    group.addTask {
                        while answered.value < 50 { try? await Task.sleep(for: .milliseconds(5)) }
                        return (0, false, .written(Reply(status: .init(code: Int(await server.terminate(0))), headers: [:], body: Data())))
                    }
                    var holds: [Int64: Outcome] = [:]
                    var joins: [Int64: Outcome] = [:]
                    var status: Int32 = -1
                    for await case let (user, isHold, outcome)? in group {
                        if user == 0, case .written(let reply) = outcome { status = Int32(reply.status.code) } else if isHold { holds[user] = outcome } else { joins[user] = outcome }
                    }
                    return (holds, joins, status)
                }

                #expect(status == 0, "the server exits cleanly on SIGTERM")
                let log = server.log(0)
                #expect(!log.contains(" error "), "no error was logged:\n\(log.suffix(2000))")
                for outcomes in [holds, joins] {
                    for case .refused(let reply) in outcomes.values {
                        #expect(reply.status == .serviceUnavailable, "a refusal is a retryable 503, not \(reply.status)")
                    }
                }
                // Every hold told 201 is in the database, and no other.
                let heldIDs = holds.values.compactMap { outcome -> Int? in
                    guard case .written(let reply) = outcome else { return nil }
                    return reply.int("id")
                }
                #expect(heldIDs.count > 0, "some holds were written before the shutdown")
                let stored = try await database.int("SELECT COUNT(*) FROM reservations WHERE state = 'pending'") ?? -1
                #expect(stored == heldIDs.count, "the database keeps exactly the holds the clients were told of")
                for id in heldIDs {
                    #expect(try await database.int("SELECT COUNT(*) FROM seat_claims WHERE reservation_id = \(id) AND live = 1") == 1)
                }
                // Every join told 201 has its place in the line, and no other.
                let joined = joins.values.filter { if case .written = $0 { true } else { false } }.count
                let entries = try await database.int("SELECT COUNT(*) FROM queue_entries WHERE user_id >= 5000") ?? -1
                #expect(entries == joined, "the database keeps exactly the joins the clients were told of")
                print("SIGTERM (\(backend)): \(heldIDs.count) holds and \(joined) joins written, "
                    + "\(holds.count + joins.count - heldIDs.count - joined) refused or unanswered")
                try await checkInvariants(database)
            } catch {
                server.printLogs()
                throw error
            }
            await server.stop()
            try await client.shutdown()
        }

        final class AnswerCount: Sendable {
            private let count = Atomic(0)
            var value: Int { count.load(ordering: .relaxed) }
            func add() { count.add(1, ordering: .relaxed) }
        }

        private static func send(_ client: SaleClient, _ answered: AnswerCount, _ request: () async throws -> Reply) async -> Outcome {
            guard let reply = try? await request() else { return .unanswered }
            answered.add()
            return reply.status.code < 300 ? .written(reply) : .refused(reply)
        }
    }
}
