/// A statement with `?` placeholders and its arguments: SQL written once for both backends.
struct SQLStatement: Sendable {
    enum Argument: Sendable, Equatable {
        case integer(Int64)
        case text(String)
    }

    var sql: String
    var arguments: [Argument]

    init(_ sql: String, _ arguments: [Argument] = []) {
        self.sql = sql
        self.arguments = arguments
    }

    init(sql: String, arguments: [Argument]) {
        self.init(sql, arguments)
    }

    /// The text with PostgreSQL's numbered placeholders.
    var numberedSQL: String {
        var number = 0
        return sql.split(separator: "?", omittingEmptySubsequences: false).enumerated().map { index, part in
            guard index > 0 else { return String(part) }
            number += 1
            return "$\(number)" + part
        }.joined()
    }
}

/// A column value as a shared statement reads it back.
enum StoredColumn: Sendable, Equatable {
    case null
    case integer(Int64)
    case text(String)

    var integer: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    var text: String? {
        if case .text(let value) = self { value } else { nil }
    }
}
