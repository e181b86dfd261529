import Synchronization

/// Wakes everyone waiting for the next round of a periodic task: the event streams wait here
/// instead of each keeping a timer, so ten thousand streams cost one wake-up per tick.
public final class TickSignal: Sendable {
    private let waiting = Mutex<[CheckedContinuation<Void, Never>]>([])

    public init() {}

    /// Returns after the next `fire`.
    public func next() async {
        await withCheckedContinuation { continuation in waiting.withLock { $0.append(continuation) } }
    }

    public func fire() {
        let woken = waiting.withLock { waiting in
            defer { waiting = [] }
            return waiting
        }
        for continuation in woken { continuation.resume() }
    }
}
