import Foundation

/// A queue join on its way to the database.
///
/// Joins commit one after another in seq order (PostgreSQL: each takes the queue counter's row
/// lock until its commit; SQLite: one writer), and a commit waits for its disk flush, so one
/// join per transaction would cap an instance at one join per flush: both backends write joins
/// in batches (`WriteBatcher`), one flush each.
public struct QueueJoin: Sendable, Equatable {
    public var performanceID: Int64
    public var userID: Int64
    public var entryID: String
    public var joinedAt: Date

    public init(performanceID: Int64, userID: Int64, entryID: String, joinedAt: Date) {
        self.performanceID = performanceID
        self.userID = userID
        self.entryID = entryID
        self.joinedAt = joinedAt
    }

    /// A user's place in one room: what a user has at most one entry of.
    struct Key: Hashable {
        var performanceID: Int64
        var userID: Int64
    }

    var key: Key { Key(performanceID: performanceID, userID: userID) }

    /// What the database holds after the join. A user twice in a batch has one entry, the later
    /// join's, and both joins answer it.
    public struct Written: Sendable, Equatable {
        public var seq: Int64
        public var entryID: String
        /// Where it waits: in the room's draw (see `FairDraw.place`) or, after it, at its seq.
        public var place: Int64
    }

    /// A bug: the write returned no seq for a join it was given.
    struct Unwritten: Error {
        var userID: Int64
    }

    /// The batch without the earlier of a user's two joins of a room, in the batch's order.
    static func lastOfEach(_ batch: [QueueJoin]) -> [QueueJoin] {
        var seen = Set<Key>()
        return Array(batch.reversed().filter { seen.insert($0.key).inserted }.reversed())
    }

    /// Each join's entry, in the batch's order, from the entries written by key.
    static func entries(of batch: [QueueJoin], written: [Key: Written]) throws -> [Written] {
        try batch.map { join in
            guard let entry = written[join.key] else { throw Unwritten(userID: join.userID) }
            return entry
        }
    }

    /// The entry as it stands after this join was written.
    func entry(_ written: Written) -> QueueEntry {
        QueueEntry(seq: written.seq, performanceID: performanceID, userID: userID, place: written.place, seenAt: joinedAt)
    }
}
