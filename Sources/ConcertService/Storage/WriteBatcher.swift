import Foundation
import ServiceLifecycle
import Synchronization

/// Writes the items that arrive while earlier batches are being written together, in the
/// next batch: a statement and its commit cost the database about the same for one item as
/// for a hundred. Under no load a batch is a single item and waits for nothing.
///
/// A service of the application: its writers are tasks of `run`, and at graceful shutdown it
/// stops taking items, writes every item it has taken, and only then returns, so the
/// database's connections close after the last batch.
final class WriteBatcher<Item: Sendable, Outcome: Sendable>: Service, Sendable {
    /// Writes a batch; answers one outcome per item, in the order given.
    typealias Write = @Sendable ([Item]) async throws -> [Outcome]

    private struct State {
        var waiting: [(item: Item, continuation: CheckedContinuation<Outcome, any Error>)] = []
        /// Writers running or asked for.
        var writers = 0
        var isOpen = true
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
    private let writerRequests: AsyncStream<Void>
    private let requestWriter: AsyncStream<Void>.Continuation

    /// At most `maxWriters` batches are written at a time, each of at most `maxBatch` items.
    init(maxBatch: Int, maxWriters: Int = 1, write: @escaping Write) {
        self.maxBatch = maxBatch
        self.maxWriters = maxWriters
        self.write = write
        (writerRequests, requestWriter) = AsyncStream.makeStream()
    }

    /// The item's outcome, once the batch that carries it is written.
    func submit(_ item: Item) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter: Bool? = state.withLock { state in
                guard state.isOpen else { return nil }
                state.waiting.append((item, continuation))
                guard state.writers < maxWriters else { return false }
                state.writers += 1
                return true
            }
            switch startWriter {
            case nil: continuation.resume(throwing: Self.shuttingDown)
            case true?: requestWriter.yield()
            case false?: break
            }
        }
    }

    func run() async {
        await withDiscardingTaskGroup { group in
            for await _ in writerRequests.cancelOnGracefulShutdown() {
                group.addTask { await self.writeWhileWaiting() }
            }
            // Shutting down: no new items; the ones taken are written by the writers still
            // running, or by one more.
            state.withLock { $0.isOpen = false }
            group.addTask { await self.writeWhileWaiting() }
        }
        // Only a cancelled (not graceful) shutdown leaves items unwritten.
        let unwritten = state.withLock { state in
            let waiting = state.waiting.map(\.continuation)
            state.waiting = []
            return waiting
        }
        for continuation in unwritten { continuation.resume(throwing: Self.shuttingDown) }
    }

    private static var shuttingDown: ServiceError {
        ServiceError(.serviceUnavailable, "The service is shutting down; retry shortly.")
    }

    private func writeWhileWaiting() async {
        while !Task.isCancelled {
            let batch = state.withLock { state in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.writers -= 1 }
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
