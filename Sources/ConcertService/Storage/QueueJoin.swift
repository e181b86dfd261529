import Foundation

/// A queue join on its way to the database.
///
/// Joins commit one after another in seq order (PostgreSQL: each takes the queue counter's row
/// lock until its commit; SQLite: one writer), and a commit waits for its disk flush, so one
/// join per transaction would cap an instance at one join per flush: both backends write joins
/// in batches (`WriteBatcher`), one flush each.
struct QueueJoin: Sendable {
    var userID: Int64
    var joinedAt: Date

    /// A bug: the write returned no seq for a join it was given.
    struct Unwritten: Error {
        var userID: Int64
    }

    /// Each join's seq, in the batch's order, from the seqs written by user. A user twice in a
    /// batch has one entry, at the later place, and both joins answer it.
    static func seqs(of batch: [QueueJoin], written: [Int64: Int64]) throws -> [Int64] {
        try batch.map { join in
            guard let seq = written[join.userID] else { throw Unwritten(userID: join.userID) }
            return seq
        }
    }
}
