import Foundation

/// What a hold's rules need from its schedule: the sale window, the seat range and the seats'
/// grades and prices; and what a reservation tells its buyer was bought (the performance's
/// title and performer). None of it changes once a schedule exists (there is no endpoint that
/// edits one), so an instance reads it once and every hold is checked and priced against it
/// before it goes to the database (`ReservationService.hold`).
public struct SaleLayout: Sendable {
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
    let title: String
    let performer: String

    /// `seats` in seat order.
    init(schedule: Schedule, title: String = "", performer: String = "", seats: some Sequence<Seat>) {
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
        self.title = title
        self.performer = performer
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
