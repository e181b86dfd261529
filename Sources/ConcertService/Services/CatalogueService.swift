import Foundation

/// Browsing the catalogue and administering it.
public struct CatalogueService: Sendable {
    /// The widest date range one listing may ask for.
    public static let maxListingRange: TimeInterval = 366 * 24 * 3600

    let store: any CatalogueStore

    /// Performances with schedules starting in [from, to).
    public func performances(from: Date, to: Date, now: Date) async throws -> [PerformanceListing] {
        guard from < to else {
            throw ServiceError(.invalidRange, "from must be before to.")
        }
        guard to.timeIntervalSince(from) <= Self.maxListingRange else {
            throw ServiceError(.invalidRange, "A listing covers at most 366 days.")
        }
        return try await store.performances(startingIn: from..<to, now: now)
    }

    public func performance(_ id: Int64, now: Date) async throws -> PerformanceListing {
        guard let listing = try await store.performance(id: id, now: now) else {
            throw ServiceError.performanceNotFound(id)
        }
        return listing
    }

    /// One performance with its schedules.
    public func seatMap(scheduleID: Int64, now: Date) async throws -> SeatMap {
        guard let map = try await store.seatMap(scheduleID: scheduleID, now: now) else {
            throw ServiceError.scheduleNotFound(scheduleID)
        }
        return map
    }

    /// Creates the performance with its waiting room, which gets its own secret seed for the draw.
    public func createPerformance(_ performance: NewPerformance, sale: RoomSettings, now: Date) async throws -> Performance {
        try await store.createPerformance(performance, room: NewRoom(settings: try sale.validated(), seed: FairDraw.newSeed()), now: now)
    }

    public func createSchedule(_ schedule: NewSchedule, performanceID: Int64, now: Date) async throws -> Schedule {
        try await worded { try await store.createSchedule(schedule, performanceID: performanceID, now: now) }
    }

    public func sales(performanceID: Int64, now: Date) async throws -> [ScheduleSales] {
        guard let sales = try await store.sales(performanceID: performanceID, now: now) else {
            throw ServiceError.performanceNotFound(performanceID)
        }
        return sales
    }
}
