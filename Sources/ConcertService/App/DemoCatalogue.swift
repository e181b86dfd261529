import Foundation

/// A small catalogue for trying the service: shows in two weeks, two of them on sale now and
/// one whose waiting room takes joins now and draws its order a minute later, so that a
/// newcomer sees a draw.
public enum DemoCatalogue {
    /// How long after seeding the pre-queue show's sale starts.
    public static let drawDelay: TimeInterval = 60

    /// Creates the demo performances and returns them with their schedules.
    public static func seed(into catalogue: CatalogueService, now: Date) async throws -> [PerformanceListing] {
        let day: TimeInterval = 24 * 3600
        let shows: [(title: String, performer: String, description: String, layout: [SeatGroup], drawsLater: Bool)] = [
            (
                "Winter Symphony", "Seoul Philharmonic", "Beethoven's Ninth, with full choir.",
                [SeatGroup(grade: "VIP", count: 10, price: 150_000), SeatGroup(grade: "R", count: 20, price: 120_000),
                 SeatGroup(grade: "S", count: 20, price: 90_000)],
                false
            ),
            (
                "Neon Nights Tour", "The Midnight Echo", "The arena tour of the year.",
                [SeatGroup(grade: "VIP", count: 50, price: 198_000), SeatGroup(grade: "R", count: 150, price: 154_000),
                 SeatGroup(grade: "S", count: 300, price: 110_000)],
                true
            ),
            (
                "Jazz at the Harbour", "Blue Tide Quartet", "An intimate evening of standards.",
                [SeatGroup(grade: "R", count: 40, price: 80_000)],
                false
            ),
        ]
        var created: [PerformanceListing] = []
        for (index, show) in shows.enumerated() {
            let sale = RoomSettings(prequeueOpensAt: now, startsAt: show.drawsLater ? now.addingTimeInterval(drawDelay) : now)
            let performance = try await catalogue.createPerformance(
                try NewPerformance(title: show.title, performer: show.performer, description: show.description), sale: sale, now: now)
            var schedules: [Schedule] = []
            for evening in 0..<2 {
                let startsAt = now.addingTimeInterval(Double(14 + index * 7 + evening) * day)
                let schedule = try NewSchedule(
                    startsAt: startsAt, saleOpensAt: sale.startsAt.addingTimeInterval(-3600),
                    saleClosesAt: startsAt.addingTimeInterval(-3600), groups: show.layout)
                schedules.append(try await catalogue.createSchedule(schedule, performanceID: performance.id, now: now))
            }
            created.append(PerformanceListing(performance: performance, schedules: schedules))
        }
        return created
    }
}
