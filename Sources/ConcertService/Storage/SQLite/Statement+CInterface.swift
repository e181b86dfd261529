import GRDB
import GRDBSQLite

/// A value bound to a statement parameter through SQLite's C interface.
enum SQLiteArgument {
    case integer(Int64)
    case text(String)
}

/// The hold batch's statements run through SQLite's C interface, on statements GRDB prepared
/// and caches (GRDB exposes `sqliteStatement` for this). Binding plain values skips GRDB's
/// boxing of every argument and row, a third of the writer thread's time per hold.
extension Statement {
    /// Runs the statement with `arguments` bound to its parameters in order.
    func run(_ db: Database, _ arguments: SQLiteArgument...) throws {
        try forEachRow(db, arguments) { _ in }
    }

    /// Runs the statement with `arguments` bound to its parameters in order, calling `body` with
    /// the statement positioned on each result row (read it with `integer(at:)` and friends).
    func forEachRow(_ db: Database, _ arguments: SQLiteArgument..., body: (Statement) throws -> Void) throws {
        try forEachRow(db, arguments, body: body)
    }

    private func forEachRow(_ db: Database, _ arguments: [SQLiteArgument], body: (Statement) throws -> Void) throws {
        defer { sqlite3_reset(sqliteStatement) }
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            switch argument {
            case .integer(let value): try check(db, sqlite3_bind_int64(sqliteStatement, index, value))
            case .text(let value): try check(db, sqlite3_bind_text(sqliteStatement, index, value, -1, Self.copyText))
            }
        }
        while true {
            switch sqlite3_step(sqliteStatement) {
            case SQLITE_ROW: try body(self)
            case SQLITE_DONE: return
            case let code: try check(db, code)  // throws: no step answers SQLITE_OK
            }
        }
    }

    func integer(at column: Int32) -> Int64 { sqlite3_column_int64(sqliteStatement, column) }

    /// SQLite's SQLITE_TRANSIENT: it copies the text before the call returns.
    private static let copyText = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// The error GRDB itself would throw, with the extended code (a unique constraint, say).
    private func check(_ db: Database, _ code: Int32) throws {
        guard code != SQLITE_OK else { return }
        throw DatabaseError(
            resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
            message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
    }
}
