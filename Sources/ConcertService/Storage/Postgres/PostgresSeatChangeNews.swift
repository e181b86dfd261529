import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Seat changes told through PostgreSQL's NOTIFY, heard through LISTEN on a connection of its
/// own. Announcements that come while one is being sent are merged into the next, so a burst
/// of holds costs a statement per burst, not per hold. Each instance ignores its own.
final class PostgresSeatChangeNews: SeatChangeNews {
    static let channel = "concert_seat_changes"

    private let storage: PostgresStorage
    /// Marks this instance's own announcements, which it has acted on already.
    private let sender = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    private let outgoing = Mutex<(schedules: Set<Int64>, sending: Bool)>(([], false))

    init(storage: PostgresStorage) {
        self.storage = storage
    }

    func announce(scheduleID: Int64) {
        let start = outgoing.withLock { outgoing in
            outgoing.schedules.insert(scheduleID)
            defer { outgoing.sending = true }
            return !outgoing.sending
        }
        guard start else { return }
        Task {
            while let schedules = nextToSend() {
                let payloads = schedules.map { "\(sender):\($0)" }
                do {
                    try await storage.rows("SELECT pg_notify(\(Self.channel), payload) FROM unnest(\(payloads)::text[]) AS payload")
                } catch {
                    storage.logger.debug("seat change not announced", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// The schedules announced since the last statement; nil (and no longer sending) when none.
    private func nextToSend() -> [Int64]? {
        outgoing.withLock { outgoing in
            guard !outgoing.schedules.isEmpty else {
                outgoing.sending = false
                return nil
            }
            defer { outgoing.schedules = [] }
            return Array(outgoing.schedules)
        }
    }

    /// Listens until cancelled; a lost connection is opened again a second later.
    func listen(listening: @escaping @Sendable () async -> Void, heard: @escaping @Sendable (Int64) -> Void) async {
        while !Task.isCancelled {
            do {
                let listener = try await PostgresConnection.connect(configuration: storage.singleConnection, id: 0, logger: storage.logger)
                do {
                    try await listener.listen(on: Self.channel) { notifications in
                        await listening()
                        for try await notification in notifications {
                            let parts = notification.payload.split(separator: ":")
                            guard parts.count == 2, parts[0] != sender, let scheduleID = Int64(parts[1]) else { continue }
                            heard(scheduleID)
                        }
                    }
                } catch {
                    try? await listener.close()
                    throw error
                }
                try? await listener.close()
            } catch where Task.isCancelled {
                return
            } catch {
                // The database monitor reports an outage already.
                storage.logger.debug("not hearing other instances' seat changes", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
