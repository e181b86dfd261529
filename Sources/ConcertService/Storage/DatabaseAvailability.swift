import Logging
import Synchronization

/// Whether the database answers, as the app's monitor last found it: requests fail fast while
/// it does not, and readiness reports it. The monitor logs one warning when the database is
/// lost and one when it is back, whatever happens to each connection meanwhile.
public final class DatabaseAvailability: Sendable {
    static let unreachable = ServiceError(.serviceUnavailable, "The database cannot be reached; retry shortly.")

    /// Failed pings in a row before the database counts as lost: one slow ping under load
    /// must not turn every request away.
    static let failuresToLose = 2

    private let state = Mutex((reachable: true, failures: 0))
    /// As long as a request may wait for the database: a database that is slow under load is
    /// not one that is down, and declaring it lost would turn its slowness into an outage.
    private let pingTimeout: Duration
    private let logger: Logger

    public init(pingTimeout: Duration, logger: Logger) {
        self.pingTimeout = pingTimeout
        self.logger = logger
    }

    public var isReachable: Bool { state.withLock(\.reachable) }

    /// Pings the database once within `pingTimeout` and records the outcome: through the pools
    /// while it answers, on a new connection once it is lost; when it is back, the storage
    /// reconnects before requests are let through again.
    public func check(_ storage: any Storage) async {
        let wasReachable = isReachable
        var failure: (any Error)?
        do {
            try await Deadline.run(within: pingTimeout) { wasReachable ? try await storage.ping() : try await storage.probe() }
            if !wasReachable { await storage.reconnect() }
        } catch {
            failure = error
        }
        let change: Bool? = state.withLock { state in
            if failure == nil {
                state.failures = 0
                guard !state.reachable else { return nil }
                state.reachable = true
                return true
            }
            state.failures += 1
            guard state.reachable, state.failures >= Self.failuresToLose else { return nil }
            state.reachable = false
            return false
        }
        switch change {
        case true?: logger.warning("The database is reachable again; requests that need it are served.")
        case false?:
            logger.warning(
                "The database cannot be reached: requests that need it answer 503 until it is back.",
                metadata: ["error": "\((failure as? ServiceError)?.message ?? failure.map { String(describing: $0) } ?? "")"])
        case nil: break
        }
    }
}
