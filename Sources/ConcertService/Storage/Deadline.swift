import NIOCore
import NIOPosix
import Synchronization

/// Bounded waits.
public enum Deadline {
    static let timedOut = ServiceError(.serviceUnavailable, "The database did not answer in time; retry shortly.")

    /// The result of `body`, or `SERVICE_UNAVAILABLE` once `limit` has passed or `abandon`
    /// says so (give or take `DeadlineWatch.resolution`), whichever comes first. `body` runs in
    /// a task of its own, so a wait that ignores cancellation (a query on a connection whose
    /// server went silent) cannot hold the caller; it is cancelled when the time is up and ends
    /// in the background.
    public static func run<T: Sendable>(
        within limit: Duration, abandon: (condition: @Sendable () -> Bool, error: ServiceError)? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = Race<T>()
        return try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
            }
            let watch = DeadlineWatch.shared.watch(until: .now + limit, unless: abandon?.condition) { abandoned in
                if race.finish(.failure(abandoned ? abandon?.error ?? timedOut : timedOut)) { work.cancel() }
            }
            race.whenFinished { DeadlineWatch.shared.forget(watch) }
        }
    }

    /// The first of the work and the deadline to finish answers the caller.
    private final class Race<T: Sendable>: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, finished: Bool, onFinish: (@Sendable () -> Void)?)>(
            (nil, false, nil))

        func start(_ continuation: CheckedContinuation<T, any Error>) {
            state.withLock { $0.continuation = continuation }
        }

        /// Runs `action` once the race is decided (at once if it already is).
        func whenFinished(_ action: @escaping @Sendable () -> Void) {
            let finished = state.withLock { state in
                if !state.finished { state.onFinish = action }
                return state.finished
            }
            if finished { action() }
        }

        /// Answers the caller unless the other side already did; true if this call did.
        @discardableResult
        func finish(_ result: Result<T, any Error>) -> Bool {
            let (continuation, onFinish) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
                guard !state.finished else { return (nil, nil) }
                state.finished = true
                defer { state.continuation = nil; state.onFinish = nil }
                return (state.continuation, state.onFinish)
            }
            guard let continuation else { return false }
            continuation.resume(with: result)
            onFinish?()
            return true
        }
    }
}

/// The deadlines of every call in flight, checked by one timer every `resolution`: setting
/// and clearing one is a dictionary write under a lock, where a timer per call cost a wake-up
/// of an event loop each time, on every database call.
final class DeadlineWatch: Sendable {
    static let shared = DeadlineWatch()
    static let resolution = TimeAmount.milliseconds(50)

    private struct Watches {
        var next: UInt64 = 0
        var pending: [UInt64: (deadline: ContinuousClock.Instant, abandon: (@Sendable () -> Bool)?, expire: @Sendable (Bool) -> Void)] = [:]
        var ticking = false
    }

    private let watches = Mutex(Watches())

    /// Calls `expire(false)` once `deadline` has passed, or `expire(true)` once `abandon` is
    /// true, unless `forget` comes first.
    func watch(
        until deadline: ContinuousClock.Instant, unless abandon: (@Sendable () -> Bool)? = nil, expire: @escaping @Sendable (Bool) -> Void
    ) -> UInt64 {
        let (id, start) = watches.withLock { watches in
            watches.next += 1
            watches.pending[watches.next] = (deadline, abandon, expire)
            defer { watches.ticking = true }
            return (watches.next, !watches.ticking)
        }
        if start {
            MultiThreadedEventLoopGroup.singleton.any().scheduleRepeatedTask(initialDelay: Self.resolution, delay: Self.resolution) { _ in
                self.expireDue()
            }
        }
        return id
    }

    func forget(_ id: UInt64) {
        _ = watches.withLock { $0.pending.removeValue(forKey: id) }
    }

    private func expireDue() {
        let now = ContinuousClock.now
        let due = watches.withLock { watches in
            var due: [(expire: @Sendable (Bool) -> Void, abandoned: Bool)] = []
            for (id, watch) in watches.pending {
                let abandoned = watch.abandon?() ?? false
                guard abandoned || watch.deadline <= now else { continue }
                due.append((watch.expire, abandoned))
                watches.pending[id] = nil
            }
            return due
        }
        for (expire, abandoned) in due { expire(abandoned) }
    }
}
