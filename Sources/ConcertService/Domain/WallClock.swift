import Foundation
import Synchronization

/// Where the service reads the time. Every rule that depends on the time (hold deadlines,
/// admission windows, credential expiry, rate limits) gets `now` from the one clock the app
/// is built with, so a test can move time forward instead of waiting for it.
public protocol WallClock: Sendable {
    var now: Date { get }
}

/// The system's clock.
public struct SystemClock: WallClock {
    public init() {}
    public var now: Date { Date() }
}

/// The system's clock moved forward by however much a test has advanced it. Time still
/// passes on its own, so the background tasks that run on intervals keep working.
public final class AdjustableClock: WallClock {
    private let offset = Mutex<TimeInterval>(0)

    public init() {}

    public var now: Date { Date().addingTimeInterval(offset.withLock { $0 }) }

    public func advance(by duration: Duration) {
        offset.withLock { $0 += duration.seconds }
    }
}
