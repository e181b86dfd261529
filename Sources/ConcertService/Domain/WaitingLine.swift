/// The queue entries still waiting, in `seq` order, so a position is a binary search.
///
/// Entries leave mostly from the front (admission), which is O(1); a user who re-joins
/// leaves from the middle, which shifts the tail once.
public struct WaitingLine: Sendable {
    public struct Entry: Sendable, Equatable {
        public var seq: Int64
        public var user: Int64
    }

    private var entries: [Entry] = []
    /// Entries before `head` have left; they are dropped in bulk to keep removal cheap.
    private var head = 0

    public init() {}

    public var count: Int { entries.count - head }

    /// 1-based position of `seq`, or nil if it is not waiting.
    public func position(of seq: Int64) -> Int? {
        let index = lowerBound(seq)
        guard index < entries.count, entries[index].seq == seq else { return nil }
        return index - head + 1
    }

    public mutating func insert(_ seq: Int64, user: Int64) {
        if let last = entries.last, last.seq >= seq {
            let index = lowerBound(seq)
            guard index == entries.count || entries[index].seq != seq else { return }
            entries.insert(Entry(seq: seq, user: user), at: index)
        } else {
            entries.append(Entry(seq: seq, user: user))
        }
    }

    public mutating func remove(_ seq: Int64) {
        if head < entries.count, entries[head].seq == seq {
            head += 1
            compactIfWorthIt()
            return
        }
        let index = lowerBound(seq)
        if index < entries.count, entries[index].seq == seq {
            entries.remove(at: index)
        }
    }

    /// Removes and returns the entries with `seq <= last`, front first.
    public mutating func removeFirst(through last: Int64) -> [Entry] {
        let end = lowerBound(last + 1)
        let removed = Array(entries[head..<end])
        head = end
        compactIfWorthIt()
        return removed
    }

    private func lowerBound(_ seq: Int64) -> Int {
        var low = head
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].seq < seq { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private mutating func compactIfWorthIt() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096, head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
