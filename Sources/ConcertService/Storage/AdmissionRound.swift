import Foundation

/// One admission round, written once for both backends as the statements it runs and the
/// decisions between them. A backend runs it in one transaction with `run`, giving only how to
/// execute one statement and read its rows back (integer columns only).
///
/// The steps: take or renew the admitter lease (anyone else gets no row and the round ends);
/// remove active entries whose window has ended; count the active ones; admit as many waiting
/// entries as the policy allows, in seq order, up to a watermark; and record the admission, so
/// every instance learns the watermark. On PostgreSQL the lease row stays locked until commit,
/// so two rounds never overlap.
struct AdmissionRound {
    /// A statement with `?` placeholders and its arguments.
    struct Statement {
        enum Argument: Equatable {
            case integer(Int64)
            case text(String)
        }

        var sql: String
        var arguments: [Argument]

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

    enum Step {
        case run(Statement)
        case done(AdmissionOutcome)
    }

    private enum Stage {
        case renewLease, removeTimedOut, countActive, findWatermark, admit, record(through: Int64), finished(AdmissionOutcome)
    }

    /// The round on SQLite, whose transactions are synchronous closures.
    static func run(
        now: Date, policy: AdmissionPolicy, lease: AdmitterLease, executing execute: (Statement) throws -> [[Int64?]]
    ) throws -> AdmissionOutcome {
        var round = AdmissionRound(now: now, policy: policy, lease: lease)
        var rows: [[Int64?]]?
        while true {
            switch round.next(rows) {
            case .done(let outcome): return outcome
            case .run(let statement): rows = try execute(statement)
            }
        }
    }

    /// The round on PostgreSQL, whose statements are awaited.
    static func run(
        now: Date, policy: AdmissionPolicy, lease: AdmitterLease, executing execute: (Statement) async throws -> [[Int64?]]
    ) async throws -> AdmissionOutcome {
        var round = AdmissionRound(now: now, policy: policy, lease: lease)
        var rows: [[Int64?]]?
        while true {
            switch round.next(rows) {
            case .done(let outcome): return outcome
            case .run(let statement): rows = try await execute(statement)
            }
        }
    }

    private let now: Int64
    private let policy: AdmissionPolicy
    private let lease: AdmitterLease
    private var stage = Stage.renewLease
    private var activeUntil: Int64 { now + Int64((policy.activeDuration.seconds * 1000).rounded(.down)) }

    init(now: Date, policy: AdmissionPolicy, lease: AdmitterLease) {
        self.now = now.millis
        self.policy = policy
        self.lease = lease
    }

    /// The next statement, given the rows of the one before (nil at the start).
    mutating func next(_ rows: [[Int64?]]?) -> Step {
        switch stage {
        case .renewLease:
            stage = .removeTimedOut
            return .run(
                Statement(
                    sql: """
                        INSERT INTO admitter_lease (id, holder, expires_at) VALUES (1, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                        WHERE admitter_lease.holder = excluded.holder OR admitter_lease.expires_at <= ?
                        RETURNING 1
                        """,
                    arguments: [.text(lease.holder), .integer(now + Int64((lease.duration.seconds * 1000).rounded(.down))), .integer(now)]))
        case .removeTimedOut:
            guard rows?.isEmpty == false else { return finish(.notAdmitter) }
            stage = .countActive
            return .run(
                Statement(
                    sql: "DELETE FROM queue_entries WHERE active_until IS NOT NULL AND active_until <= ?", arguments: [.integer(now)]))
        case .countActive:
            stage = .findWatermark
            return .run(Statement(sql: "SELECT COUNT(*) FROM queue_entries WHERE active_until IS NOT NULL", arguments: []))
        case .findWatermark:
            let slots = policy.admissions(whileActive: Int(rows?.first?.first.flatMap { $0 } ?? 0))
            guard slots > 0 else { return finish(.admitted(count: 0)) }
            stage = .admit
            return .run(
                Statement(
                    sql: "SELECT MAX(seq) FROM (SELECT seq FROM queue_entries WHERE active_until IS NULL ORDER BY seq LIMIT ?) head",
                    arguments: [.integer(Int64(slots))]))
        case .admit:
            guard let through = rows?.first?.first.flatMap({ $0 }) else { return finish(.admitted(count: 0)) }
            stage = .record(through: through)
            // Everything still waiting up to the watermark: a user who re-joined meanwhile has a
            // later seq and keeps waiting.
            return .run(
                Statement(
                    sql: "UPDATE queue_entries SET active_until = ? WHERE active_until IS NULL AND seq <= ? RETURNING seq",
                    arguments: [.integer(activeUntil), .integer(through)]))
        case .record(let through):
            let count = rows?.count ?? 0
            guard count > 0 else { return finish(.admitted(count: 0)) }
            stage = .finished(.admitted(count: count))
            return .run(
                Statement(
                    sql: """
                        INSERT INTO queue_admissions (through_seq, active_until, admitted_count, admitted_by, admitted_at)
                        VALUES (?, ?, ?, ?, ?)
                        """,
                    arguments: [.integer(through), .integer(activeUntil), .integer(Int64(count)), .text(lease.holder), .integer(now)]))
        case .finished(let outcome):
            return .done(outcome)
        }
    }

    private mutating func finish(_ outcome: AdmissionOutcome) -> Step {
        stage = .finished(outcome)
        return .done(outcome)
    }
}
