import Foundation
import Synchronization
import Testing

@testable import ConcertService

/// The batching of queue joins, over an in-memory write: the PostgreSQL side is covered by
/// the shared-database tests.
@Suite struct QueueJoinBatcherTests {
    /// An in-memory line that hands out seqs in the order of each batch, slowly, as a disk flush would.
    final class Line: Sendable {
        let batches = Mutex<[[Int64]]>([])

        func write(_ batch: [QueueJoinBatcher.Join]) async throws -> [Int64: Int64] {
            try await Task.sleep(for: .milliseconds(20))
            return batches.withLock { batches in
                let first = Int64(batches.joined().count + 1)
                batches.append(batch.map(\.userID))
                return Dictionary(uniqueKeysWithValues: batch.enumerated().map { ($1.userID, first + Int64($0)) })
            }
        }
    }

    @Test func joinsThatArriveDuringAWriteShareTheNextOne() async throws {
        let line = Line()
        let batcher = QueueJoinBatcher(maxBatch: 50) { try await line.write($0) }
        let seqs = try await withThrowingTaskGroup(of: (Int64, Int64).self) { group in
            for user in Int64(1)...200 {
                group.addTask { (user, try await batcher.join(userID: user, at: Date())) }
            }
            return try await group.reduce(into: [Int64: Int64]()) { $0[$1.0] = $1.1 }
        }
        let batches = line.batches.withLock { $0 }
        #expect(Set(seqs.values) == Set(1...200), "every join has its own seq")
        #expect(batches.count < 200, "joins were written together")
        #expect(batches.allSatisfy { $0.count <= 50 })
        // Each user's seq is the one its batch gave it.
        for (user, seq) in seqs { #expect(batches.joined().map { $0 }[Int(seq) - 1] == user) }
    }

    @Test func aFailedWriteFailsEveryJoinInItAndTheNextBatchStillRuns() async throws {
        struct DiskFull: Error {}
        let attempts = Atomic(0)
        let batcher = QueueJoinBatcher { batch in
            if attempts.add(1, ordering: .relaxed).newValue == 1 { throw DiskFull() }
            return Dictionary(uniqueKeysWithValues: batch.map { ($0.userID, $0.userID) })
        }
        await #expect(throws: DiskFull.self) { try await batcher.join(userID: 1, at: Date()) }
        #expect(try await batcher.join(userID: 2, at: Date()) == 2)
    }
}
