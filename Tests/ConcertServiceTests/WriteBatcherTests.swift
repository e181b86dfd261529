import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import ConcertService

/// The batching of writes (queue joins, quick holds), over an in-memory write: the PostgreSQL
/// side is covered by the shared-database and race tests.
@Suite struct WriteBatcherTests {
    /// An in-memory line that hands out seqs in the order of each batch, slowly, as a disk
    /// flush would, and notes how many batches it wrote at once.
    final class Line: Sendable {
        let batches = Mutex<[[Int64]]>([])
        let writing = Mutex((now: 0, most: 0))

        func write(_ batch: [Int64]) async throws -> [Int64] {
            writing.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            defer { writing.withLock { $0.now -= 1 } }
            try await Task.sleep(for: .milliseconds(20))
            return batches.withLock { batches in
                let first = Int64(batches.joined().count + 1)
                batches.append(batch)
                return batch.indices.map { first + Int64($0) }
            }
        }
    }

    static func submitAll(_ users: ClosedRange<Int64>, to batcher: WriteBatcher<Int64, Int64>) async throws -> [Int64: Int64] {
        try await withThrowingTaskGroup(of: (Int64, Int64).self) { group in
            for user in users {
                group.addTask { (user, try await batcher.submit(user)) }
            }
            return try await group.reduce(into: [Int64: Int64]()) { $0[$1.0] = $1.1 }
        }
    }

    /// Runs `batcher` as the app does, in a service group, around `body`.
    @discardableResult
    static func running<T: Sendable>(
        _ batcher: WriteBatcher<Int64, Int64>, _ body: @Sendable (ServiceGroup) async throws -> T
    ) async throws -> T {
        let services = ServiceGroup(services: [batcher], logger: Logger(label: "batcher-test"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            let value = try await body(services)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return value
        }
    }

    @Test func itemsThatArriveDuringAWriteShareTheNextOne() async throws {
        let line = Line()
        let batcher = WriteBatcher<Int64, Int64>(maxBatch: 50) { try await line.write($0) }
        let seqs = try await Self.running(batcher) { _ in try await Self.submitAll(1...200, to: batcher) }
        let batches = line.batches.withLock { $0 }
        #expect(Set(seqs.values) == Set(1...200), "every join has its own seq")
        #expect(batches.count < 200, "joins were written together")
        #expect(batches.allSatisfy { $0.count <= 50 })
        #expect(line.writing.withLock { $0.most } == 1)
        // Each user's seq is the one its batch gave it.
        for (user, seq) in seqs { #expect(batches.joined().map { $0 }[Int(seq) - 1] == user) }
    }

    @Test func severalWritersWriteSeveralBatchesAtOnceButNoMore() async throws {
        let line = Line()
        let batcher = WriteBatcher<Int64, Int64>(maxBatch: 10, maxWriters: 3) { try await line.write($0) }
        let seqs = try await Self.running(batcher) { _ in try await Self.submitAll(1...300, to: batcher) }
        #expect(Set(seqs.values) == Set(1...300))
        #expect(line.batches.withLock { $0.allSatisfy { $0.count <= 10 } })
        #expect(line.writing.withLock { $0.most } == 3)
    }

    @Test func aFailedWriteFailsEveryItemInItAndTheNextBatchStillRuns() async throws {
        struct DiskFull: Error {}
        let attempts = Atomic(0)
        let batcher = WriteBatcher<Int64, Int64>(maxBatch: 10) { batch in
            if attempts.add(1, ordering: .relaxed).newValue == 1 { throw DiskFull() }
            return batch
        }
        try await Self.running(batcher) { _ async throws in
            await #expect(throws: DiskFull.self) { try await batcher.submit(1) }
            #expect(try await batcher.submit(2) == 2)
        }
    }

    @Test func aWriteThatMiscountsFailsItsItems() async throws {
        let batcher = WriteBatcher<Int64, Int64>(maxBatch: 10) { _ in [] }
        try await Self.running(batcher) { _ async throws in
            await #expect(throws: WriteBatcher<Int64, Int64>.MiscountedBatch.self) { try await batcher.submit(1) }
        }
    }

    /// At graceful shutdown every item already taken is written before the batcher returns,
    /// and an item that comes after is refused with a retryable error, not left waiting.
    @Test func shutdownWritesEveryItemTakenAndRefusesLaterOnes() async throws {
        let line = Line()
        let batcher = WriteBatcher<Int64, Int64>(maxBatch: 10) { try await line.write($0) }
        let services = ServiceGroup(services: [batcher], logger: Logger(label: "batcher-test"))
        let outcomes = try await withThrowingTaskGroup(of: Result<Int64, any Error>?.self) { group in
            group.addTask { try await services.run(); return nil }
            for user in Int64(1)...100 {
                group.addTask {
                    do { return .success(try await batcher.submit(user)) } catch { return .failure(error) }
                }
            }
            // Shut down while the first batch is being written.
            while line.writing.withLock({ $0.now }) == 0 { try await Task.sleep(for: .milliseconds(1)) }
            await services.triggerGracefulShutdown()
            return try await group.reduce(into: []) { outcomes, outcome in outcome.map { outcomes.append($0) } }
        }
        let written = outcomes.compactMap { try? $0.get() }
        let refused = outcomes.compactMap { outcome -> ServiceError? in
            guard case .failure(let error) = outcome else { return nil }
            return error as? ServiceError
        }
        #expect(written.count + refused.count == 100, "every item was answered")
        #expect(refused.allSatisfy { $0.code == ErrorCode.serviceUnavailable })
        #expect(Set(written) == Set(1...Int64(written.count)), "what was answered was written, once")
        #expect(line.batches.withLock { $0.joined().count } == written.count, "nothing was written without an answer")
        await #expect(throws: ServiceError.self) { try await batcher.submit(101) }
    }
}
