import Foundation
import PostgresNIO

extension PostgresStorage {
    public func wallet(userID: Int64) async throws -> Wallet {
        let balance = try await rows("SELECT balance FROM wallets WHERE user_id = \(userID)").first?.decode(Int64.self)
        return Wallet(userID: userID, balance: balance ?? 0)
    }

    public func charge(userID: Int64, amount: Int64, maxCharge: Int64, now: Date, idempotency: IdempotencyKey?) async throws -> Idempotent<Wallet> {
        try await transaction { connection in
            try await Self.idempotent(idempotency, connection, now: now, logger: logger) {
                let movement = try await Self.lockedWallet(connection, userID: userID, now: now, logger: logger)
                    .charge(amount, maxCharge: maxCharge)
                try await Self.record(connection, movement, userID: userID, now: now, logger: logger)
                return Wallet(userID: userID, balance: movement.balanceAfter)
            }
        }
    }

    public func ledger(userID: Int64, before cursor: Int64?, limit: Int) async throws -> LedgerPage {
        let rows = try await rows(
            """
            SELECT id, kind, amount, balance_after, reservation_id, created_at FROM wallet_entries
            WHERE user_id = \(userID) AND id < \(cursor ?? Int64.max) ORDER BY id DESC LIMIT \(limit + 1)
            """)
        let entries = try rows.prefix(limit).map { row in
            let (id, kind, amount, balanceAfter, reservationID, createdAt) = try row.decode(
                (Int64, String, Int64, Int64, Int64?, Int64).self)
            return try StoredValues.ledgerEntry(
                id: id, kind: kind, amount: amount, balanceAfter: balanceAfter, reservationID: reservationID, createdAt: createdAt)
        }
        return LedgerPage(entries: entries, nextCursor: rows.count > limit ? entries.last?.id : nil)
    }

    /// The user's wallet, locked until the transaction ends; created empty if it never was,
    /// so that two first charges also wait for each other.
    static func lockedWallet(_ connection: PostgresConnection, userID: Int64, now: Date, logger: Logger) async throws -> Wallet {
        let balance = try await connection.rows(
            """
            INSERT INTO wallets (user_id, balance, updated_at) VALUES (\(userID), 0, \(now.millis))
            ON CONFLICT (user_id) DO UPDATE SET updated_at = wallets.updated_at
            RETURNING balance
            """, logger: logger
        )[0].decode(Int64.self)
        return Wallet(userID: userID, balance: balance)
    }

    /// Writes a ledger line and the balance it leaves, in the caller's transaction.
    static func record(_ connection: PostgresConnection, _ movement: WalletMovement, userID: Int64, now: Date, logger: Logger)
        async throws
    {
        try await connection.rows(
            """
            WITH wallet AS (
                UPDATE wallets SET balance = \(movement.balanceAfter), updated_at = \(now.millis) WHERE user_id = \(userID)
            )
            INSERT INTO wallet_entries (user_id, kind, amount, balance_after, reservation_id, created_at)
            VALUES (\(userID), \(movement.kind.rawValue), \(movement.amount), \(movement.balanceAfter), \(movement.reservationID),
                    \(now.millis))
            """, logger: logger)
    }
}
