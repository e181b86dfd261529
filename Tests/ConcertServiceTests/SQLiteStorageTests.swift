import Foundation
import GRDB
import Testing

@testable import ConcertService

/// What the embedded backend does below the service: its durability and its batched joins.
@Suite struct SQLiteStorageTests {
    /// `PRAGMA synchronous` on the connection that writes: 2 is FULL (an fsync of the WAL at every
    /// commit). GRDB sets NORMAL (1) when it turns on WAL mode, after `prepareDatabase` has run:
    /// with NORMAL, a power cut may lose the last commits, a paid reservation among them.
    @Test func theWriterCommitsWithSynchronousFull() async throws {
        try await TestService.withSQLite { _, _, storage in
            let synchronous = try await storage.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            #expect(synchronous == 2)
        }
    }

    /// A batch of joins is written in arrival order, and a user twice in it ends with one entry,
    /// at the later place, which both of their joins answer.
    @Test func aBatchOfJoinsGivesEachUserOneEntryInArrivalOrder() async throws {
        try await TestService.withSQLite { _, api, storage in
            let now = Date()
            let performance = try await api.createPerformance()
            func join(_ user: Int64) -> QueueJoin {
                QueueJoin(performanceID: Int64(performance), userID: user, entryID: FairDraw.newEntryID(), joinedAt: now)
            }
            let batch = [join(1), join(2), join(1)]
            let written = try await SQLiteStorage.writeJoins(batch, pool: storage.pool)
            #expect(written[0] == written[2])
            #expect(written[2].entryID == batch[2].entryID, "the later join's entry")
            let seqs = written.map(\.seq)
            #expect(seqs[0] == seqs[2])
            #expect(seqs[1] < seqs[2])
            let entries = try await storage.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT user_id, seq FROM queue_entries ORDER BY seq").map { [$0["user_id"], $0["seq"]] as [Int64] }
            }
            #expect(entries == [[2, seqs[1]], [1, seqs[2]]])
        }
    }
}
