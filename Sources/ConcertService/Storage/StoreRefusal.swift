import Foundation

/// Why a store refused a write, as data: the services word it for the client
/// (`ServiceError.init(_:)`), so each message is written once whichever backend refused.
public enum StoreRefusal: Error, Sendable, Equatable {
    case performanceNotFound(Int64)
    case scheduleNotFound(Int64)
    /// No such reservation of this user (another user's reads the same).
    case reservationNotFound(Int64)
    /// Another request changed the reservation between its read and its write.
    case reservationChanged(Int64)
    /// The hold's queue entry is no longer active: spent by another hold, timed out, or replaced.
    case queueEntryEnded
    /// A wanted seat is in another live reservation; which one, when the store knows.
    case seatTaken(scheduleID: Int64, seatNo: Int?)
    /// The idempotency key was recorded with a different request.
    case idempotencyKeyReused
}
