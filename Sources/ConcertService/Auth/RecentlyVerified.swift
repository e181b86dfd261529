import Crypto
import Foundation
import Synchronization

/// A token as `RecentlyVerified` knows it: the SHA-256 of its exact text. As sure as the text
/// for telling tokens apart, and 32 bytes kept inline, where a credential's text is a string of
/// 150-250 bytes on the heap, so an entry takes about a quarter of the memory. A caller makes
/// the key once and uses it for the lookup and, on a miss, for remembering.
struct TokenKey: Hashable, Sendable {
    private let digest: SHA256.Digest

    init(_ text: String) {
        var text = text
        digest = text.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }
}

/// Tokens whose signature was checked recently, with what they said, until they expire: a
/// client sends the same token again and again, and checking a signature costs more than
/// looking the token up.
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
        var current: [TokenKey: Entry] = [:]
        var previous: [TokenKey: Entry] = [:]

        mutating func insert(_ key: TokenKey, _ entry: Entry, capacity: Int) {
            if current.count >= capacity {
                previous = current
                // Sized once, not grown by doubling: the copies would stay in the heap's peak.
                current = Dictionary(minimumCapacity: capacity)
            }
            current[key] = entry
        }
    }

    private let capacity: Int
    private let generations = Mutex(Generations())

    init(capacity: Int) {
        self.capacity = capacity
    }

    func value(of key: TokenKey, at now: Date) -> Value? {
        generations.withLock { generations in
            if let recent = generations.current[key] {
                guard now < recent.expiresAt else {
                    generations.current[key] = nil
                    return nil
                }
                return recent.value
            }
            guard let older = generations.previous.removeValue(forKey: key), now < older.expiresAt else { return nil }
            generations.insert(key, older, capacity: capacity)
            return older.value
        }
    }

    func remember(_ key: TokenKey, as value: Value, until expiresAt: Date = .distantFuture) {
        generations.withLock { $0.insert(key, Entry(value: value, expiresAt: expiresAt), capacity: capacity) }
    }
}
