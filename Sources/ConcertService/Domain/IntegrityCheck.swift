/// One rule the stored data must keep, as a query that counts the rows breaking it. The
/// queries read the same on SQLite and PostgreSQL, so both backends are checked by one text.
public struct IntegrityCheck: Sendable, Equatable {
    /// A stable name, for reports and alerts.
    public var name: String
    /// What holds when the count is zero.
    public var rule: String
    var countingSQL: String

    /// Everything `concert check` verifies on a live database.
    public static let all: [IntegrityCheck] = [
        IntegrityCheck(
            name: "seat_sold_once", rule: "No seat is in two live (pending or confirmed) reservations.",
            countingSQL: """
                SELECT COUNT(*) FROM (SELECT c.schedule_id, c.seat_no FROM seat_claims c
                  JOIN reservations r ON r.id = c.reservation_id
                  WHERE r.state IN ('pending', 'confirmed') GROUP BY c.schedule_id, c.seat_no HAVING COUNT(*) > 1) doubles
                """),
        IntegrityCheck(
            name: "claims_follow_reservations", rule: "A seat claim is live exactly when its reservation is pending or confirmed.",
            countingSQL: """
                SELECT COUNT(*) FROM seat_claims c JOIN reservations r ON r.id = c.reservation_id
                WHERE (c.live = 1) != (r.state IN ('pending', 'confirmed'))
                """),
        IntegrityCheck(
            name: "remaining_seats", rule: "Each schedule's remaining seats equal its seats minus its live claims.",
            countingSQL: """
                SELECT COUNT(*) FROM schedules s JOIN schedule_remaining_seats v ON v.schedule_id = s.id
                WHERE v.remaining_seats != s.total_seats - (SELECT COUNT(*) FROM seat_claims c WHERE c.schedule_id = s.id AND c.live = 1)
                """),
        IntegrityCheck(
            name: "wallet_ledger", rule: "Every wallet's balance is not negative and equals the sum of its ledger.",
            countingSQL: """
                SELECT COUNT(*) FROM wallets w WHERE w.balance < 0 OR w.balance !=
                  (SELECT COALESCE(SUM(amount), 0) FROM wallet_entries e WHERE e.user_id = w.user_id)
                """),
        IntegrityCheck(
            name: "paid_once", rule: "Each confirmed reservation was paid exactly once, its price, by its user.",
            countingSQL: """
                SELECT COUNT(*) FROM reservations r WHERE r.state = 'confirmed' AND NOT EXISTS
                  (SELECT 1 FROM wallet_entries e WHERE e.reservation_id = r.id AND e.kind = 'payment'
                   GROUP BY e.reservation_id HAVING COUNT(*) = 1 AND SUM(e.amount) = -r.total_price AND MIN(e.user_id) = r.user_id)
                """),
        IntegrityCheck(
            name: "queue_order", rule: "Nobody waits behind their room's admission watermark: admission went in queue order.",
            countingSQL: """
                SELECT COUNT(*) FROM queue_entries w
                WHERE w.active_until IS NULL AND w.abandoned_in IS NULL
                  AND w.place <= (SELECT MAX(a.through_place) FROM queue_admissions a WHERE a.performance_id = w.performance_id)
                """),
        IntegrityCheck(
            name: "draw_once",
            rule: "Every drawn room's published draw lists as many entries as it counted, each once, and every entry waiting at a place in it.",
            countingSQL: """
                SELECT COUNT(*) FROM rooms r WHERE r.drawn_at IS NOT NULL AND (
                  (SELECT COUNT(*) FROM room_draw_entries d WHERE d.performance_id = r.performance_id) != r.draw_entries
                  OR (SELECT COUNT(DISTINCT d.entry_id) FROM room_draw_entries d WHERE d.performance_id = r.performance_id) != r.draw_entries
                  OR EXISTS (SELECT 1 FROM queue_entries q WHERE q.performance_id = r.performance_id AND q.place < 0 AND NOT EXISTS (
                      SELECT 1 FROM room_draw_entries d WHERE d.performance_id = q.performance_id AND d.entry_id = q.entry_id)))
                """),
    ]
}

/// The outcome of every integrity check on one database.
public struct IntegrityReport: Sendable, Equatable {
    public struct Finding: Sendable, Equatable {
        public var check: IntegrityCheck
        public var violations: Int
    }

    public var findings: [Finding]

    public var isClean: Bool { findings.allSatisfy { $0.violations == 0 } }
}
