import Foundation
import Synchronization

/// Tokens whose signature was checked recently, by their exact text, with what they said,
/// until they expire: a client sends the same token again and again, and checking a signature
/// costs more than looking the text up.
///
/// Bounded in two generations of `capacity` each: when the current one is full it becomes the
/// previous one and the oldest are forgotten. A token used again moves back to the current
/// generation, so a sale with more users than `capacity` does not forget everyone at once.
final class RecentlyVerified<Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expiresAt: Date
    }

    private struct Generations {
        var current: [String: Entry] = [:]
        var previous: [String: Entry] = [:]

        mutating func insert(_ token: String, _ entry: Entry, capacity: Int) {
            if current.count >= capacity {
                previous = current
                current = [:]
            }
            current[token] = entry
        }
    }

    private let capacity: Int
    private let generations = Mutex(Generations())

    init(capacity: Int) {
        self.capacity = capacity
    }

    func value(of token: String, at now: Date = Date()) -> Value? {
        generations.withLock { generations in
            if let recent = generations.current[token] {
                guard now < recent.expiresAt else {
                    generations.current[token] = nil
                    return nil
                }
                return recent.value
            }
            guard let older = generations.previous.removeValue(forKey: token), now < older.expiresAt else { return nil }
            generations.insert(token, older, capacity: capacity)
            return older.value
        }
    }

    func remember(_ token: String, as value: Value, until expiresAt: Date = .distantFuture) {
        generations.withLock { $0.insert(token, Entry(value: value, expiresAt: expiresAt), capacity: capacity) }
    }
}
