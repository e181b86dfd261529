import Foundation
import GRDB

extension SQLiteStorage {
    public func wallet(userID: Int64) async throws -> Wallet {
        try await read { db in try Self.wallet(db, userID: userID) }
    }

    public func charge(userID: Int64, amount: Int64, maxCharge: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<
        Wallet
    > {
        try await write { db in
            try Self.idempotent(idempotency, db, now: now) {
                let movement = try Self.wallet(db, userID: userID).charge(amount, maxCharge: maxCharge)
                try Self.record(db, movement, userID: userID, now: now)
                return Wallet(userID: userID, balance: movement.balanceAfter)
            }
        }
    }

    public func ledger(userID: Int64, before cursor: Int64?, limit: Int) async throws -> LedgerPage {
        try await read { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT * FROM wallet_entries WHERE user_id = ? AND id < ?
                        ORDER BY id DESC LIMIT ?
                        """), arguments: [userID, cursor ?? Int64.max, limit + 1])
            let entries = try rows.prefix(limit).map { row in
                try StoredValues.ledgerEntry(
                    id: row["id"], kind: row["kind"], amount: row["amount"], balanceAfter: row["balance_after"],
                    reservationID: row["reservation_id"], createdAt: row["created_at"])
            }
            return LedgerPage(entries: entries, nextCursor: rows.count > limit ? entries.last?.id : nil)
        }
    }

    /// A wallet that was never charged has a balance of 0.
    static func wallet(_ db: Database, userID: Int64) throws -> Wallet {
        let balance = try Int64.fetchOne(db.cachedStatement(sql: "SELECT balance FROM wallets WHERE user_id = ?"), arguments: [userID])
        return Wallet(userID: userID, balance: balance ?? 0)
    }

    /// Writes a ledger line and the balance it leaves, in the caller's transaction.
    static func record(_ db: Database, _ movement: WalletMovement, userID: Int64, now: Date) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO wallets (user_id, balance, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (user_id) DO UPDATE SET balance = excluded.balance, updated_at = excluded.updated_at
                """
        ).execute(arguments: [userID, movement.balanceAfter, now.millis])
        try db.cachedStatement(
            sql: """
                INSERT INTO wallet_entries (user_id, kind, amount, balance_after, reservation_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [userID, movement.kind.rawValue, movement.amount, movement.balanceAfter, movement.reservationID, now.millis])
    }
}
