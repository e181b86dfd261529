import Foundation
import Synchronization

/// What a hold's rules need from its schedule: the sale window, the seat range and the seats'
/// grades and prices. None of it changes once a schedule exists (there is no endpoint that
/// edits one), so an instance reads it once and a hold can check its rules and price its
/// seats before it goes to the database (`PostgresStorage.quickHold`).
struct SaleLayout: Sendable {
    /// Consecutive seats of one grade and price.
    struct Run: Sendable, Equatable {
        var seats: ClosedRange<Int>
        var grade: String
        var price: Int64
    }

    /// The schedule as created; its `remainingSeats` is not kept current, and not read.
    let schedule: Schedule
    /// In seat order; a layout is a few runs however many seats it has.
    let runs: [Run]

    /// `seats` in seat order.
    init(schedule: Schedule, seats: some Sequence<Seat>) {
        var runs: [Run] = []
        for seat in seats {
            if let last = runs.last, last.seats.upperBound + 1 == seat.seatNo, last.grade == seat.grade, last.price == seat.price {
                runs[runs.count - 1].seats = last.seats.lowerBound...seat.seatNo
            } else {
                runs.append(Run(seats: seat.seatNo...seat.seatNo, grade: seat.grade, price: seat.price))
            }
        }
        self.schedule = schedule
        self.runs = runs
    }

    /// The seats among `numbers` that exist, in the order given.
    func seats(_ numbers: [Int]) -> [Seat] {
        numbers.compactMap { number in
            // Binary search: the last run that starts at or before the seat.
            var low = 0, high = runs.count
            while low < high {
                let middle = (low + high) / 2
                if runs[middle].seats.lowerBound <= number { low = middle + 1 } else { high = middle }
            }
            guard low > 0, runs[low - 1].seats.contains(number) else { return nil }
            return Seat(seatNo: number, grade: runs[low - 1].grade, price: runs[low - 1].price)
        }
    }
}

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
