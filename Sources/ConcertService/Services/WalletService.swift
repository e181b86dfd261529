import Foundation

/// Reading and charging the prepaid wallet.
public struct WalletService: Sendable {
    public static let maxPageSize = 100

    let store: any WalletStore
    let maxCharge: Int64
    var limits = RateLimits(.off)

    public func wallet(of identity: Identity) async throws -> Wallet {
        try await store.wallet(userID: identity.userID)
    }

    public func charge(_ identity: Identity, amount: Int64, idempotency: IdempotencyKey?, now: Date) async throws
        -> Idempotent<Wallet>
    {
        try limits.checkWrite(userID: identity.userID, at: now)
        return try await worded {
            try await store.charge(userID: identity.userID, amount: amount, maxCharge: maxCharge, now: now, idempotency: idempotency)
        }
    }

    public func ledger(of identity: Identity, cursor: Int64?, limit: Int) async throws -> LedgerPage {
        guard (1...Self.maxPageSize).contains(limit) else {
            throw ServiceError(.invalidParameter, "limit must be between 1 and \(Self.maxPageSize).")
        }
        return try await store.ledger(userID: identity.userID, before: cursor, limit: limit)
    }
}
