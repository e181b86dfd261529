/// A failure the client can act on. `code` is part of the public API (clients branch on it);
/// `message` is for people. The HTTP layer maps each code to its status in one place.
public struct ServiceError: Error, Equatable, Sendable {
    public let code: ErrorCode
    public let message: String
    /// The queue position, for a user who is refused because they are still waiting.
    public let position: Int?
    /// Which of a code's causes it was, where a client would act differently on each (a queue
    /// token that expired, was used or was replaced; a credential that is forged or expired).
    public let reason: String?
    /// Seconds after which a retry may succeed (`Retry-After`), for transient refusals.
    public let retryAfter: Int?

    public init(_ code: ErrorCode, _ message: String, position: Int? = nil, reason: String? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.position = position
        self.reason = reason
        self.retryAfter = retryAfter
    }
}

/// Every error code the API can return. Renaming a case's raw value breaks clients.
public enum ErrorCode: String, Sendable, CaseIterable {
    // The request itself is malformed.
    case invalidBody = "INVALID_BODY"
    case invalidParameter = "INVALID_PARAMETER"
    case invalidIdempotencyKey = "INVALID_IDEMPOTENCY_KEY"
    /// Two parameters that are each well formed but do not fit together (a range that ends before it starts).
    case invalidRange = "INVALID_RANGE"
    case bodyTooLarge = "BODY_TOO_LARGE"
    case routeNotFound = "NOT_FOUND"
    case methodNotAllowed = "METHOD_NOT_ALLOWED"
    // Who is asking.
    case unauthenticated = "UNAUTHENTICATED"
    case forbidden = "FORBIDDEN"
    case queueTokenMissing = "QUEUE_TOKEN_MISSING"
    case queueTokenInvalid = "QUEUE_TOKEN_INVALID"
    case queueTokenNotYours = "QUEUE_TOKEN_NOT_YOURS"
    case queueTokenWaiting = "QUEUE_TOKEN_WAITING"
    case queueTokenExpired = "QUEUE_TOKEN_EXPIRED"
    case queueTokenWrongPerformance = "QUEUE_TOKEN_WRONG_PERFORMANCE"
    // Unknown things.
    case performanceNotFound = "PERFORMANCE_NOT_FOUND"
    case scheduleNotFound = "SCHEDULE_NOT_FOUND"
    case reservationNotFound = "RESERVATION_NOT_FOUND"
    // Business rules.
    case seatUnavailable = "SEAT_UNAVAILABLE"
    case seatOutOfRange = "SEAT_OUT_OF_RANGE"
    case invalidSeatSelection = "INVALID_SEAT_SELECTION"
    case saleNotOpen = "SALE_NOT_OPEN"
    case holdExpired = "HOLD_EXPIRED"
    case reservationNotPending = "RESERVATION_NOT_PENDING"
    case reservationNotCancellable = "RESERVATION_NOT_CANCELLABLE"
    case cancellationClosed = "CANCELLATION_CLOSED"
    case insufficientBalance = "INSUFFICIENT_BALANCE"
    case invalidAmount = "INVALID_AMOUNT"
    case amountOverLimit = "AMOUNT_OVER_LIMIT"
    case balanceOverLimit = "BALANCE_OVER_LIMIT"
    case invalidPerformance = "INVALID_PERFORMANCE"
    case invalidSchedule = "INVALID_SCHEDULE"
    case idempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
    case invalidRoom = "INVALID_ROOM"
    case roomNotOpen = "ROOM_NOT_OPEN"
    case soldOut = "SOLD_OUT"
    case drawPending = "DRAW_PENDING"
    // The service itself.
    /// A lock wait ran out under heavy contention; nothing changed, and retrying is safe.
    case contended = "CONTENDED"
    /// A rate limit was reached; `Retry-After` says when to try again.
    case tooManyRequests = "TOO_MANY_REQUESTS"
    case serviceUnavailable = "SERVICE_UNAVAILABLE"
    case internalError = "INTERNAL_ERROR"
}

// The errors more than one layer raises, each worded once.
extension ServiceError {
    static func performanceNotFound(_ id: Int64) -> ServiceError {
        ServiceError(.performanceNotFound, "Performance \(id) not found.")
    }

    static func scheduleNotFound(_ id: Int64) -> ServiceError {
        ServiceError(.scheduleNotFound, "Schedule \(id) not found.")
    }

    /// Also the answer about another user's reservation, so ids reveal nothing.
    static func reservationNotFound(_ id: Int64) -> ServiceError {
        ServiceError(.reservationNotFound, "Reservation \(id) not found.")
    }

    static func seatTaken(_ seat: Int?, of scheduleID: Int64) -> ServiceError {
        ServiceError(.seatUnavailable, "\(seat.map { "Seat \($0)" } ?? "A selected seat") of schedule \(scheduleID) is already held or sold.")
    }
}
