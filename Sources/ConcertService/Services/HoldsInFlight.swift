import Synchronization

/// The seats this instance is holding right now, so that a crowd wanting one seat sends one
/// hold at a time to the database instead of all of them.
///
/// A hold that wants a seat already in flight waits for that hold to finish and then looks
/// again: usually it has succeeded, or found the seat taken and told `RecentClaims` by whom,
/// and `RecentClaims` answers 409 at once; otherwise the next one goes. Holds of other seats
/// never wait. A waiting hold holds nothing, so waits cannot form a cycle.
final class HoldsInFlight: Sendable {
    private struct SeatKey: Hashable {
        var scheduleID: Int64
        var seatNo: Int
    }

    private struct State {
        var busy: Set<SeatKey> = []
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Marks the selection's seats in flight, or returns false when one of them already is.
    func start(_ selection: SeatSelection) -> Bool {
        let keys = Self.keys(of: selection)
        return state.withLock { state in
            guard state.busy.isDisjoint(with: keys) else { return false }
            state.busy.formUnion(keys)
            return true
        }
    }

    /// Returns once a hold in flight has finished (or at once if none is).
    func waitForAFinish(_ selection: SeatSelection) async {
        let keys = Self.keys(of: selection)
        await withCheckedContinuation { continuation in
            let wait = state.withLock { state in
                guard !state.busy.isDisjoint(with: keys) else { return false }
                state.waiting.append(continuation)
                return true
            }
            if !wait { continuation.resume() }
        }
    }

    /// Ends a hold started with `start`, and wakes the holds that waited for one to finish.
    func finish(_ selection: SeatSelection) {
        let keys = Self.keys(of: selection)
        let woken = state.withLock { state in
            state.busy.subtract(keys)
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for continuation in woken { continuation.resume() }
    }

    private static func keys(of selection: SeatSelection) -> Set<SeatKey> {
        Set(selection.seatNumbers.map { SeatKey(scheduleID: selection.scheduleID, seatNo: $0) })
    }
}
