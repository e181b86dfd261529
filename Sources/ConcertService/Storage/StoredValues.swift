import Foundation

/// A stored value the code does not know: a schema and code out of step, or a row written by
/// hand. Reading it as some default would hide the damage.
public struct UnknownStoredValue: Error, CustomStringConvertible {
    public let column: String
    public let value: String
    public var description: String { "Unknown value \"\(value)\" in column \(column)." }
}

/// How rows become domain values, for both backends: each backend reads the columns, this
/// says what they mean.
enum StoredValues {
    static func reservation(
        id: Int64, userID: Int64, scheduleID: Int64, state: String, seatNumbers: String, totalPrice: Int64,
        holdExpiresAt: Int64, createdAt: Int64
    ) throws -> Reservation {
        Reservation(
            id: id, userID: userID, scheduleID: scheduleID, seatNumbers: try seatList(seatNumbers), state: try reservationState(state),
            totalPrice: totalPrice,
            holdExpiresAt: Date(millis: holdExpiresAt), createdAt: Date(millis: createdAt))
    }

    static func reservationState(_ text: String) throws -> Reservation.State {
        guard let state = Reservation.State(rawValue: text) else { throw UnknownStoredValue(column: "reservations.state", value: text) }
        return state
    }

    static func ledgerEntry(
        id: Int64, kind: String, amount: Int64, balanceAfter: Int64, reservationID: Int64?, createdAt: Int64
    ) throws -> LedgerEntry {
        guard let kind = LedgerEntry.Kind(rawValue: kind) else { throw UnknownStoredValue(column: "wallet_entries.kind", value: kind) }
        return LedgerEntry(
            id: id, kind: kind, amount: amount, balanceAfter: balanceAfter, reservationID: reservationID, createdAt: Date(millis: createdAt))
    }

    /// Seat numbers as `reservations.seat_numbers` stores them: "1,2".
    static func seatList(_ numbers: some Sequence<some BinaryInteger>) -> String {
        numbers.map { String($0) }.joined(separator: ",")
    }

    static func seatList(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map { number in
            guard let seat = Int(number) else { throw UnknownStoredValue(column: "reservations.seat_numbers", value: text) }
            return seat
        }
    }
}
