import Foundation

/// A show: what is performed and by whom. It has many schedules.
public struct Performance: Sendable, Equatable, Codable {
    public var id: Int64
    public var title: String
    public var performer: String
    public var description: String
}

/// One date and time of a performance, with its seat stock and sale window.
public struct Schedule: Sendable, Equatable, Codable {
    public var id: Int64
    public var performanceID: Int64
    public var startsAt: Date
    public var saleOpensAt: Date
    public var saleClosesAt: Date
    public var totalSeats: Int
    /// Seats not in a live reservation, as of the moment this value was read.
    public var remainingSeats: Int

    public func isOnSale(at now: Date) -> Bool {
        saleOpensAt <= now && now < saleClosesAt
    }

    public func isReservable(at now: Date) -> Bool {
        isOnSale(at: now) && remainingSeats > 0
    }

    /// The rules a hold must pass against this schedule.
    public func checkHold(of selection: SeatSelection, at now: Date) throws {
        guard isOnSale(at: now) else {
            throw ServiceError(.saleNotOpen, "Schedule \(id) is not on sale.")
        }
        if let seat = selection.seatNumbers.first(where: { $0 > totalSeats }) {
            throw ServiceError(.seatOutOfRange, "Seat \(seat) does not exist; schedule \(id) has seats 1 to \(totalSeats).")
        }
    }
}

/// A performance with the schedules a listing shows.
public struct PerformanceListing: Sendable, Equatable {
    public var performance: Performance
    public var schedules: [Schedule]
}

/// A numbered seat of a schedule.
public struct Seat: Sendable, Equatable {
    public var seatNo: Int
    public var grade: String
    public var price: Int64

    public init(seatNo: Int, grade: String, price: Int64) {
        self.seatNo = seatNo
        self.grade = grade
        self.price = price
    }
}

public enum SeatStatus: String, Sendable, Codable {
    case available, held, sold

    /// A seat's status from the reservation that claims it, if any. A hold past its
    /// deadline no longer counts, even before the sweeper has released it.
    public init(claim: Reservation.State?, holdExpiresAt: Date?, at now: Date) {
        switch claim {
        case .confirmed: self = .sold
        case .pending where (holdExpiresAt ?? .distantPast) > now: self = .held
        default: self = .available
        }
    }
}

public struct SeatMap: Sendable, Equatable {
    public var schedule: Schedule
    public var seats: [(seat: Seat, status: SeatStatus)]

    public static func == (lhs: SeatMap, rhs: SeatMap) -> Bool {
        lhs.schedule == rhs.schedule && lhs.seats.elementsEqual(rhs.seats) { $0.seat == $1.seat && $0.status == $1.status }
    }
}

/// How one schedule is selling, for the admin sales figures.
public struct ScheduleSales: Sendable, Equatable {
    public var schedule: Schedule
    public var soldSeats: Int
    public var heldSeats: Int
    public var revenue: Int64
}

// MARK: - Creating the catalogue (admin)

/// A validated request to create a performance.
public struct NewPerformance: Sendable, Equatable {
    public static let maxNameLength = 200
    public static let maxDescriptionLength = 2000

    public let title: String
    public let performer: String
    public let description: String

    public init(title: String, performer: String, description: String) throws {
        // Lengths count Unicode code points of the text as sent, as JSON Schema's maxLength does.
        func clean(_ value: String, _ field: String, max: Int, required: Bool = true) throws -> String {
            guard value.unicodeScalars.count <= max else {
                throw ServiceError(.invalidPerformance, "\(field) must be at most \(max) characters.")
            }
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !required || !trimmed.isEmpty else {
                throw ServiceError(.invalidPerformance, "\(field) must not be empty.")
            }
            return trimmed
        }
        self.title = try clean(title, "title", max: Self.maxNameLength)
        self.performer = try clean(performer, "performer", max: Self.maxNameLength)
        self.description = try clean(description, "description", max: Self.maxDescriptionLength, required: false)
    }
}

/// A group of seats in a layout: `count` seats of one grade and price.
public struct SeatGroup: Sendable, Equatable, Codable {
    public var grade: String
    public var count: Int
    public var price: Int64

    public init(grade: String, count: Int, price: Int64) {
        self.grade = grade
        self.count = count
        self.price = price
    }
}

/// A validated request to create a schedule; seats are numbered from 1 in group order.
public struct NewSchedule: Sendable, Equatable {
    public static let maxSeats = 100_000
    public static let maxPrice: Int64 = 100_000_000
    public static let maxGroups = 100

    public let startsAt: Date
    public let saleOpensAt: Date
    public let saleClosesAt: Date
    public let seats: [Seat]

    public init(startsAt: Date, saleOpensAt: Date, saleClosesAt: Date, groups: [SeatGroup]) throws {
        func invalid(_ message: String) -> ServiceError { ServiceError(.invalidSchedule, message) }
        guard saleOpensAt < saleClosesAt else { throw invalid("sale_opens_at must be before sale_closes_at.") }
        guard saleClosesAt <= startsAt else { throw invalid("sale_closes_at must not be after starts_at.") }
        guard (1...Self.maxGroups).contains(groups.count) else { throw invalid("seats must list 1 to \(Self.maxGroups) groups.") }
        var seats: [Seat] = []
        for group in groups {
            let grade = group.grade.trimmingCharacters(in: .whitespaces)
            guard !grade.isEmpty, group.grade.unicodeScalars.count <= 20 else { throw invalid("A seat grade must have 1 to 20 characters.") }
            guard group.count > 0 else { throw invalid("A seat group's count must be positive.") }
            guard group.count <= Self.maxSeats - seats.count else {
                throw invalid("A schedule has at most \(Self.maxSeats) seats.")
            }
            guard (1...Self.maxPrice).contains(group.price) else {
                throw invalid("A seat's price must be between 1 and \(Self.maxPrice).")
            }
            let first = seats.count + 1
            seats += (first..<first + group.count).map { Seat(seatNo: $0, grade: grade, price: group.price) }
        }
        self.startsAt = startsAt
        self.saleOpensAt = saleOpensAt
        self.saleClosesAt = saleClosesAt
        self.seats = seats
    }
}
