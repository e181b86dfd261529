import Foundation
import Synchronization

/// The sale layouts of the schedules this instance sold from lately, each read once even when
/// a crowd asks for it at the same moment. Bounded: when full it starts over.
final class SaleLayouts: Sendable {
    private let loads = Mutex<[Int64: Task<SaleLayout?, any Error>]>([:])
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    /// The layout of `scheduleID`, from `load` the first time; nil while there is no such
    /// schedule (not remembered: it may be created later).
    func layout(of scheduleID: Int64, load: @escaping @Sendable () async throws -> SaleLayout?) async throws -> SaleLayout? {
        let task = loads.withLock { loads in
            if let task = loads[scheduleID] { return task }
            if loads.count >= capacity { loads.removeAll() }
            let task = Task { try await load() }
            loads[scheduleID] = task
            return task
        }
        do {
            if let layout = try await task.value { return layout }
        } catch {
            forget(task, of: scheduleID)
            throw error
        }
        forget(task, of: scheduleID)
        return nil
    }

    private func forget(_ task: Task<SaleLayout?, any Error>, of scheduleID: Int64) {
        loads.withLock { loads in
            if loads[scheduleID] == task { loads[scheduleID] = nil }
        }
    }
}
