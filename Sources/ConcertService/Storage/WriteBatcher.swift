import Foundation
import Synchronization

/// Writes the items that arrive while earlier batches are being written together, in the
/// next batch: a statement and its commit cost the database about the same for one item as
/// for a hundred. Under no load a batch is a single item and waits for nothing.
final class WriteBatcher<Item: Sendable, Outcome: Sendable>: Sendable {
    /// Writes a batch; answers one outcome per item, in the order given.
    typealias Write = @Sendable ([Item]) async throws -> [Outcome]

    private struct State {
        var waiting: [(item: Item, continuation: CheckedContinuation<Outcome, any Error>)] = []
        var writing = 0
    }

    /// A bug: the write answered a different number of outcomes than it was given items.
    struct MiscountedBatch: Error {
        var items: Int
        var outcomes: Int
    }

    private let write: Write
    private let maxBatch: Int
    private let maxWriters: Int
    private let state = Mutex(State())

    /// At most `maxWriters` batches are written at a time, each of at most `maxBatch` items.
    init(maxBatch: Int, maxWriters: Int = 1, write: @escaping Write) {
        self.maxBatch = maxBatch
        self.maxWriters = maxWriters
        self.write = write
    }

    /// The item's outcome, once the batch that carries it is written.
    func submit(_ item: Item) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let startWriting = state.withLock { state in
                state.waiting.append((item, continuation))
                guard state.writing < maxWriters else { return false }
                state.writing += 1
                return true
            }
            if startWriting { Task { await writeWhileWaiting() } }
        }
    }

    private func writeWhileWaiting() async {
        while true {
            let batch = state.withLock { state in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.writing -= 1 }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let outcomes = try await write(batch.map(\.item))
                guard outcomes.count == batch.count else { throw MiscountedBatch(items: batch.count, outcomes: outcomes.count) }
                for ((_, continuation), outcome) in zip(batch, outcomes) { continuation.resume(returning: outcome) }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
    }
}
