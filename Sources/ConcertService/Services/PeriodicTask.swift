import Logging
import ServiceLifecycle

/// Background work that runs every `interval` until graceful shutdown: the queue admitter
/// and the hold sweeper. A failed round is logged and the next one runs as usual.
public struct PeriodicTask: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    let work: @Sendable () async throws -> Void

    public init(name: String, every interval: Duration, logger: Logger, work: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.work = work
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await work()
                } catch where Task.isCancelled {
                    return  // shutting down: the work was interrupted, not failed
                } catch {
                    logger.error("\(name) failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
