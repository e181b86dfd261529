import Foundation
import GRDB
import Testing

@testable import ConcertService

/// The hold batch's statements bound and stepped through SQLite's C interface, on a database file.
@Suite struct StatementCInterfaceTests {
    func withDatabase(_ body: (Database) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("concert-c-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE claims (seat INTEGER NOT NULL UNIQUE, grade TEXT NOT NULL, holder INTEGER)")
            try body(db)
        }
    }

    @Test func bindsArgumentsInOrderAndReadsRowsBack() throws {
        try withDatabase { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO claims (seat, grade, holder) VALUES (?, ?, ?)")
            try insert.run(db, .integer(7), .text("VIP ☆"), .integer(-9_000_000_000))
            try insert.run(db, .integer(8), .text("R"), .integer(3))
            var rows: [String] = []
            try db.cachedStatement(sql: "SELECT seat, holder FROM claims WHERE seat >= ? AND grade = ? ORDER BY seat")
                .forEachRow(db, .integer(7), .text("VIP ☆")) { row in rows.append("\(row.integer(at: 0)) \(row.integer(at: 1))") }
            #expect(rows == ["7 -9000000000"])
        }
    }

    @Test func aFailedStepThrowsTheExtendedCodeAndTheStatementRunsAgain() throws {
        try withDatabase { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO claims (seat, grade) VALUES (?, ?)")
            try insert.run(db, .integer(1), .text("R"))
            #expect {
                try insert.run(db, .integer(1), .text("S"))
            } throws: { error in
                (error as? DatabaseError)?.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            }
            try insert.run(db, .integer(2), .text("S"))
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM claims") == 2)
        }
    }
}
