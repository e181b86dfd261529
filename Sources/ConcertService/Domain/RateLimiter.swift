import Foundation
import Synchronization

/// At most `perMinute` requests a minute per key, in bursts of up to `perMinute`: the generic
/// cell rate algorithm, which keeps one time per key (when the key's allowance is next full
/// again) rather than a count per window. Keys whose allowance is full again are dropped as
/// the table grows, so it holds only the keys seen in about the last minute.
public final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private struct Table {
        var fullAt: [Key: TimeInterval] = [:]
        var pruneAt = RateLimiter.minimumPruneSize
    }

    static var minimumPruneSize: Int { 10_000 }

    /// Seconds between requests at the sustained rate.
    private let interval: TimeInterval
    /// How far ahead of now a key's allowance may be spent: the burst.
    private let tolerance: TimeInterval
    private let table = Mutex(Table())

    /// 0 turns the limit off.
    public let perMinute: Int

    public init(perMinute: Int) {
        self.perMinute = perMinute
        interval = perMinute > 0 ? 60 / Double(perMinute) : 0
        tolerance = 60 - interval
    }

    /// Counts one request of `key` at `now`: nil if it is allowed, otherwise the whole seconds
    /// (at least 1) until the key may send again.
    public func admit(_ key: Key, at now: Date) -> Int? {
        guard perMinute > 0 else { return nil }
        let time = now.timeIntervalSinceReferenceDate
        return table.withLock { table in
            let spentUntil = max(table.fullAt[key] ?? time, time)
            if spentUntil - time > tolerance {
                return max(1, Int((spentUntil - tolerance - time).rounded(.up)))
            }
            table.fullAt[key] = spentUntil + interval
            if table.fullAt.count >= table.pruneAt {
                table.fullAt = table.fullAt.filter { $0.value > time }
                table.pruneAt = max(Self.minimumPruneSize, table.fullAt.count * 2)
            }
            return nil
        }
    }

    /// Keys currently remembered (for tests of the pruning).
    var trackedKeys: Int { table.withLock(\.fullAt.count) }
}
