import Foundation
import Synchronization

/// Writes the queue joins that arrive while a batch is committing together, in the next batch.
///
/// Every join takes the queue counter's row lock until its commit has reached the disk (that is
/// what keeps seqs visible in order), so one join per transaction would cap an instance at one
/// join per disk flush. A batch pays for one flush however many joins it carries; under no load
/// a batch is a single join and waits for nothing.
final class QueueJoinBatcher: Sendable {
    struct Join: Sendable {
        var userID: Int64
        var joinedAt: Date
    }

    /// Commits the joins in the order given; returns each user's seq.
    typealias Write = @Sendable ([Join]) async throws -> [Int64: Int64]

    private struct State {
        var waiting: [(join: Join, continuation: CheckedContinuation<Int64, any Error>)] = []
        var writing = false
    }

    /// A bug: the write returned no seq for a join it was given.
    struct Unwritten: Error {
        var userID: Int64
    }

    private let write: Write
    private let maxBatch: Int
    private let state = Mutex(State())

    init(maxBatch: Int = 1_000, write: @escaping Write) {
        self.maxBatch = maxBatch
        self.write = write
    }

    /// The user's seq, once the batch that carries the join has committed.
    func join(userID: Int64, at now: Date) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            let startWriting = state.withLock { state in
                state.waiting.append((Join(userID: userID, joinedAt: now), continuation))
                defer { state.writing = true }
                return !state.writing
            }
            if startWriting { Task { await writeWhileWaiting() } }
        }
    }

    private func writeWhileWaiting() async {
        while true {
            let batch = state.withLock { state in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.writing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let seqs = try await write(batch.map(\.join))
                for (join, continuation) in batch {
                    guard let seq = seqs[join.userID] else {
                        continuation.resume(throwing: Unwritten(userID: join.userID))
                        continue
                    }
                    continuation.resume(returning: seq)
                }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
    }
}
