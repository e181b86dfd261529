extension ServiceError {
    /// The client's words for a store's refusal, the same whichever backend refused.
    init(_ refusal: StoreRefusal) {
        self = switch refusal {
        case .performanceNotFound(let id): .performanceNotFound(id)
        case .scheduleNotFound(let id): .scheduleNotFound(id)
        case .reservationNotFound(let id): .reservationNotFound(id)
        case .reservationChanged(let id): ServiceError(.reservationNotPending, "Reservation \(id) changed meanwhile; retry.")
        case .queueEntryEnded: QueueService.ended(.used)
        case .seatTaken(let scheduleID, let seat): .seatTaken(seat, of: scheduleID)
        case .idempotencyKeyReused: ServiceError(.idempotencyKeyReused, "This Idempotency-Key was used for a different request.")
        }
    }
}

/// A store call whose refusal reaches the client as its `ServiceError`.
func worded<T>(_ storeCall: () async throws -> T) async throws -> T {
    do {
        return try await storeCall()
    } catch let refusal as StoreRefusal {
        throw ServiceError(refusal)
    }
}
