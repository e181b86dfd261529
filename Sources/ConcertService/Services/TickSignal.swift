import Synchronization

/// Wakes everyone waiting for the next round of a periodic task: the event streams wait here
/// instead of each keeping a timer, so ten thousand streams cost one wake-up per tick.
public final class TickSignal: Sendable {
    /// One waiting party (an event stream), which can also be ended from outside, so that it
    /// stops waiting at once rather than at the next round.
    public final class Waiter: Sendable {
        private enum State {
            case idle
            case waiting(CheckedContinuation<Void, Never>)
            case ended
        }

        private let state = Mutex<State>(.idle)

        public init() {}

        /// Stops the current wait, if any, and every later one at once.
        public func end() { resume(ending: true) }

        public var isEnded: Bool {
            state.withLock { if case .ended = $0 { true } else { false } }
        }

        /// Starts a wait; false when the waiter has ended, and so will not wait.
        fileprivate func wait(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
            state.withLock { state in
                if case .ended = state { return false }
                state = .waiting(continuation)
                return true
            }
        }

        fileprivate func resume(ending: Bool = false) {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard case .waiting(let continuation) = state else {
                    if ending { state = .ended }
                    return nil
                }
                state = ending ? .ended : .idle
                return continuation
            }
            continuation?.resume()
        }
    }

    private let waiting = Mutex<[Waiter]>([])

    public init() {}

    /// Returns after the next `fire`, or at once when the waiter ends; answers whether the
    /// waiter is still going.
    public func next(_ waiter: Waiter) async -> Bool {
        await withCheckedContinuation { continuation in
            if waiter.wait(continuation) {
                waiting.withLock { $0.append(waiter) }
            } else {
                continuation.resume()
            }
        }
        return !waiter.isEnded
    }

    public func fire() {
        let woken = waiting.withLock { waiting in
            defer { waiting = [] }
            return waiting
        }
        for waiter in woken { waiter.resume() }
    }
}
