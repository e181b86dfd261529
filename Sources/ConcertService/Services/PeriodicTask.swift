import Logging
import ServiceLifecycle

/// Background work that runs every `interval` until graceful shutdown: the queue tick and
/// the hold sweeper. Rounds start at a fixed rate (a round that overruns delays the next one
/// rather than stacking up). A failed round is logged and the next one runs as usual.
public struct PeriodicTask: Service {
    let name: String
    let interval: Duration
    let gate: StartupGate?
    let logger: Logger
    let work: @Sendable () async throws -> Void

    /// The first round runs once `gate` (if any) is open.
    public init(
        name: String, every interval: Duration, after gate: StartupGate? = nil, logger: Logger,
        work: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.gate = gate
        self.logger = logger
        self.work = work
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await gate?.wait()
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled {
                do {
                    try await work()
                } catch where Task.isCancelled {
                    return  // shutting down: the work was interrupted, not failed
                } catch let error as ServiceError where error.code == .serviceUnavailable {
                    // The database is away: the monitor says so once, not every round.
                    logger.debug("\(name) skipped", metadata: ["error": "\(error.message)"])
                } catch {
                    logger.error("\(name) failed", metadata: ["error": "\(error)"])
                }
                next = max(next + interval, clock.now)
                try await Task.sleep(until: next, clock: clock)
            }
        }
    }
}
