import Foundation

/// A user's prepaid points. The balance never goes negative and always equals the sum of
/// the ledger's amounts: each rule below returns the ledger line that moves it.
public struct Wallet: Sendable, Equatable, Codable {
    /// The largest balance a wallet may hold; keeps sums far from integer overflow.
    public static let maxBalance: Int64 = 1_000_000_000_000

    public var userID: Int64
    public var balance: Int64

    public init(userID: Int64, balance: Int64) {
        self.userID = userID
        self.balance = balance
    }

    /// Adds `amount` points. `maxCharge` is the configured largest single charge.
    public func charge(_ amount: Int64, maxCharge: Int64) throws -> WalletMovement {
        guard amount > 0 else {
            throw ServiceError(.invalidAmount, "The amount must be greater than 0.")
        }
        guard amount <= maxCharge else {
            throw ServiceError(.amountOverLimit, "A single charge may be at most \(maxCharge).")
        }
        return try credit(amount, kind: .charge, reservationID: nil)
    }

    /// Debits the price of a reservation.
    public func pay(_ price: Int64, for reservationID: Int64) throws -> WalletMovement {
        guard price <= balance else {
            throw ServiceError(.insufficientBalance, "The balance \(balance) does not cover the price \(price).")
        }
        return WalletMovement(kind: .payment, amount: -price, balanceAfter: balance - price, reservationID: reservationID)
    }

    /// Returns the price of a cancelled reservation.
    public func refund(_ price: Int64, for reservationID: Int64) throws -> WalletMovement {
        try credit(price, kind: .refund, reservationID: reservationID)
    }

    private func credit(_ amount: Int64, kind: LedgerEntry.Kind, reservationID: Int64?) throws -> WalletMovement {
        guard amount <= Self.maxBalance - balance else {
            throw ServiceError(.balanceOverLimit, "A wallet may hold at most \(Self.maxBalance).")
        }
        return WalletMovement(kind: kind, amount: amount, balanceAfter: balance + amount, reservationID: reservationID)
    }
}

/// A ledger line before it is written: the store gives it an id and a time.
public struct WalletMovement: Sendable, Equatable {
    public var kind: LedgerEntry.Kind
    /// Signed: charges and refunds are positive, payments negative, so the ledger sums to the balance.
    public var amount: Int64
    public var balanceAfter: Int64
    public var reservationID: Int64?
}

/// One written line of a wallet's ledger.
public struct LedgerEntry: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case charge, payment, refund
    }

    public var id: Int64
    public var kind: Kind
    public var amount: Int64
    public var balanceAfter: Int64
    public var reservationID: Int64?
    public var createdAt: Date
}

/// One page of a ledger, newest first; `nextCursor` continues it.
public struct LedgerPage: Sendable, Equatable {
    public var entries: [LedgerEntry]
    public var nextCursor: Int64?
}
