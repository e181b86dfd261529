import Foundation
import Synchronization

/// One change of a seat's status, as the seat streams send it.
public struct SeatChange: Sendable, Equatable {
    public var seatNo: Int
    public var status: SeatStatus
}

/// The seat maps that this instance's seat streams watch, read again at every `refresh` and
/// compared with the last read. A hold, payment or cancellation made through this instance is
/// read at once (`changed`), and announced to the other instances sharing the database, which
/// read it as soon as they hear (`heard`); while changes keep coming, a schedule is read at
/// most once every `readGap`, so that subscribers are not sent an event per hold. The regular
/// refresh catches lapsed holds and any announcement lost. A schedule is read only while
/// someone watches it.
///
/// Each change gets a version: the time of the read that found it, in milliseconds, made
/// strictly increasing. Versions are this instance's own: a stream that resumes here with a
/// version it was sent here gets the changes since, and any other version (too old, or from
/// another instance) gets a new snapshot.
public final class SeatFeeds: Sendable {
    /// How many of a schedule's latest change events a resuming stream can pick up from.
    static let kept = 256
    /// The shortest time between the starts of two reads of one feed prompted by changes: long
    /// enough that a burst of holds costs each subscriber a few events a second, short enough
    /// that a change still reaches the streams within a quarter of a second.
    static let readGap: Duration = .milliseconds(150)

    struct Feed {
        var subscribers = 0
        var map: SeatMap?
        var version: Int64 = 0
        /// The version the oldest kept event follows.
        var base: Int64 = 0
        var events: [(version: Int64, changes: [SeatChange])] = []
        /// When the read behind `map` started (`reads`): an older read that ends later is dropped.
        var readNumber: UInt64 = 0
        /// A read of this feed alone is under way; `again`: another change came meanwhile.
        var reading = false
        var again = false
    }

    /// What a stream is to send next.
    public enum Update: Sendable {
        case snapshot(SeatMap, version: Int64)
        case changes([(version: Int64, changes: [SeatChange])])
    }

    private let catalogue: CatalogueService
    /// How the other instances hear of this one's changes; nil where none share the database.
    private let news: (any SeatChangeNews)?
    private let feeds = Mutex<[Int64: Feed]>([:])
    /// Numbers the reads in the order they start.
    private let reads = Atomic<UInt64>(0)
    /// Fired after every round of reads.
    public let signal = TickSignal()

    public init(catalogue: CatalogueService, news: (any SeatChangeNews)? = nil) {
        self.catalogue = catalogue
        self.news = news
    }

    /// Starts watching a schedule for one stream; `unsubscribe` ends it.
    public func subscribe(_ scheduleID: Int64) {
        feeds.withLock { $0[scheduleID, default: Feed()].subscribers += 1 }
    }

    public func unsubscribe(_ scheduleID: Int64) {
        feeds.withLock { feeds in
            feeds[scheduleID]?.subscribers -= 1
            if feeds[scheduleID]?.subscribers ?? 0 <= 0 { feeds[scheduleID] = nil }
        }
    }

    /// Makes sure the schedule's feed has been read, so that a new stream can start with a snapshot.
    public func prime(_ scheduleID: Int64, now: Date) async throws {
        guard feeds.withLock({ $0[scheduleID]?.map == nil }) else { return }
        try await read(scheduleID, now: now)
    }

    /// Seats of a schedule changed through this instance: the other instances are told, and if
    /// anyone here watches it, it is read now rather than at the next refresh.
    public func changed(_ scheduleID: Int64, now: @escaping @Sendable () -> Date) {
        news?.announce(scheduleID: scheduleID)
        heard(scheduleID, now: now)
    }

    /// Seats of a schedule changed: if anyone here watches it, read it now. Reads of one feed
    /// run one at a time; changes meanwhile cause one more.
    public func heard(_ scheduleID: Int64, now: @escaping @Sendable () -> Date) {
        let start = feeds.withLock { feeds -> Bool in
            guard feeds[scheduleID] != nil else { return false }
            if feeds[scheduleID]!.reading {
                feeds[scheduleID]!.again = true
                return false
            }
            feeds[scheduleID]!.reading = true
            return true
        }
        guard start else { return }
        Task {
            while true {
                let started = ContinuousClock.now
                try? await read(scheduleID, now: now())
                signal.fire()
                let again = feeds.withLock { feeds in
                    let again = feeds[scheduleID]?.again ?? false
                    feeds[scheduleID]?.again = false
                    if !again { feeds[scheduleID]?.reading = false }
                    return again
                }
                guard again else { return }
                // While changes keep coming, reads start at most every `readGap`: a burst of
                // holds costs a few reads of the map, not one read after another.
                try? await Task.sleep(until: started + Self.readGap)
            }
        }
    }

    /// What a stream that has seen up to `version` (nil: nothing) is to send now; nil when there
    /// is nothing new, or the schedule has not been read yet.
    public func update(of scheduleID: Int64, after version: Int64?) -> Update? {
        feeds.withLock { feeds in
            guard let feed = feeds[scheduleID], let map = feed.map else { return nil }
            guard let version else { return .snapshot(map, version: feed.version) }
            if version == feed.version { return nil }
            guard version == feed.base || feed.events.contains(where: { $0.version == version }) else {
                return .snapshot(map, version: feed.version)
            }
            return .changes(feed.events.filter { $0.version > version })
        }
    }

    /// Reads every watched schedule, records what changed, and wakes the streams.
    public func refresh(now: Date) async throws {
        defer { signal.fire() }
        let watched = feeds.withLock { Array($0.keys) }
        for scheduleID in watched { try await read(scheduleID, now: now) }
    }

    private func read(_ scheduleID: Int64, now: Date) async throws {
        let number = reads.add(1, ordering: .relaxed).newValue
        let map = try await catalogue.seatMap(scheduleID: scheduleID, now: now)
        feeds.withLock { feeds in
            guard let feed = feeds[scheduleID], number > feed.readNumber else { return }
            feeds[scheduleID]?.readNumber = number
            feeds[scheduleID]?.take(map, at: now)
        }
    }
}

extension SeatFeeds.Feed {
    mutating func take(_ new: SeatMap, at now: Date) {
        let next = max(version + 1, now.millis)
        guard let old = map else {
            (map, version, base) = (new, next, next)
            return
        }
        var before: [Int: SeatStatus] = [:]
        for entry in old.seats { before[entry.seat.seatNo] = entry.status }
        let changes = new.seats.compactMap { entry in
            before[entry.seat.seatNo] == entry.status ? nil : SeatChange(seatNo: entry.seat.seatNo, status: entry.status)
        }
        map = new
        guard !changes.isEmpty else { return }
        version = next
        events.append((next, changes))
        if events.count > SeatFeeds.kept {
            base = events[events.count - SeatFeeds.kept - 1].version
            events.removeFirst(events.count - SeatFeeds.kept)
        }
    }
}
