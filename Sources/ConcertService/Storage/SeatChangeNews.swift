/// How the instances that share a database tell each other that a schedule's seats changed,
/// so that their seat streams hear of a hold, payment or cancellation made elsewhere at once
/// rather than at their next read of the seat maps. Best effort: every instance still re-reads
/// the maps its streams watch every `SEAT_FEED_REFRESH_MS`, which catches anything lost.
public protocol SeatChangeNews: Sendable {
    /// Tells the other instances that `scheduleID`'s seats changed; returns at once.
    func announce(scheduleID: Int64)
    /// Calls `heard` with each schedule that another instance announces, until cancelled, and
    /// `listening` each time it starts to hear them (again, after a lost connection: what was
    /// announced meanwhile is lost, so the listener reads everything it watches).
    func listen(listening: @escaping @Sendable () async -> Void, heard: @escaping @Sendable (Int64) -> Void) async
}
