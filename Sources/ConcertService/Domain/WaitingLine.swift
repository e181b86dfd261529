/// The entries of one room still waiting, in `place` order (then seq order, for the rare entries
/// of a draw that share a place), so a position is a binary search.
///
/// Entries leave mostly from the front (admission), which is O(1); a user who re-joins
/// leaves from the middle, which shifts the tail once.
public struct WaitingLine: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The order of the line: the draw's place, or the seq for an entry that joined after it.
        public var place: Int64
        public var seq: Int64
        public var user: Int64
        /// When this instance last told the database the entry was seen (seconds of `SeenClock`).
        var reportedSeen: Int32 = 0

        var spot: Spot { Spot(place: place, seq: seq) }
    }

    private var entries: [Entry] = []
    /// Entries before `head` have left; they are dropped in bulk to keep removal cheap.
    private var head = 0

    public init() {}

    public var count: Int { entries.count - head }

    /// The waiting entries, front first.
    var all: ArraySlice<Entry> { entries[head...] }

    /// Where an entry stands in a line: its place, then its seq.
    public struct Spot: Sendable, Equatable, Comparable {
        public var place: Int64
        public var seq: Int64

        public init(place: Int64, seq: Int64) {
            self.place = place
            self.seq = seq
        }

        public static func < (a: Spot, b: Spot) -> Bool { (a.place, a.seq) < (b.place, b.seq) }
    }

    /// 1-based position of the entry at `spot`, or nil if it is not waiting.
    public func position(of spot: Spot) -> Int? {
        index(of: spot).map { $0 - head + 1 }
    }

    public mutating func insert(_ entry: Entry) {
        if let last = entries.last, last.spot >= entry.spot {
            let index = lowerBound(entry.spot)
            guard index == entries.count || entries[index].spot != entry.spot else { return }
            entries.insert(entry, at: index)
        } else {
            entries.append(entry)
        }
    }

    /// Removes the entry at `spot`, and returns it if it was there.
    @discardableResult
    public mutating func remove(_ spot: Spot) -> Entry? {
        if head < entries.count, entries[head].spot == spot {
            head += 1
            defer { compactIfWorthIt() }
            return entries[head - 1]
        }
        guard let index = index(of: spot) else { return nil }
        return entries.remove(at: index)
    }

    /// Removes and returns the entries with `place <= last`, front first.
    public mutating func removeFirst(through last: Int64) -> [Entry] {
        let end = last == .max ? entries.count : lowerBound(Spot(place: last + 1, seq: .min))
        let removed = Array(entries[head..<end])
        head = end
        compactIfWorthIt()
        return removed
    }

    /// Applies `change` to the entry at `spot`, if it is waiting.
    mutating func update<T>(_ spot: Spot, _ change: (inout Entry) -> T) -> T? {
        guard let index = index(of: spot) else { return nil }
        return change(&entries[index])
    }

    private func index(of spot: Spot) -> Int? {
        let index = lowerBound(spot)
        return index < entries.count && entries[index].spot == spot ? index : nil
    }

    private func lowerBound(_ spot: Spot) -> Int {
        var low = head
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].spot < spot { low = mid + 1 } else { high = mid }
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
