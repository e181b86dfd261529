/// The entries of one room still waiting, in `place` order, so a position is a binary search.
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
    }

    private var entries: [Entry] = []
    /// Entries before `head` have left; they are dropped in bulk to keep removal cheap.
    private var head = 0

    public init() {}

    public var count: Int { entries.count - head }

    /// The waiting entries, front first.
    var all: ArraySlice<Entry> { entries[head...] }

    /// 1-based position of the entry at `place`, or nil if it is not waiting.
    public func position(of place: Int64) -> Int? {
        index(of: place).map { $0 - head + 1 }
    }

    public mutating func insert(_ entry: Entry) {
        if let last = entries.last, last.place >= entry.place {
            let index = lowerBound(entry.place)
            guard index == entries.count || entries[index].place != entry.place else { return }
            entries.insert(entry, at: index)
        } else {
            entries.append(entry)
        }
    }

    /// Removes the entry at `place`, and returns it if it was there.
    @discardableResult
    public mutating func remove(_ place: Int64) -> Entry? {
        if head < entries.count, entries[head].place == place {
            head += 1
            defer { compactIfWorthIt() }
            return entries[head - 1]
        }
        guard let index = index(of: place) else { return nil }
        return entries.remove(at: index)
    }

    /// Removes and returns the entries with `place <= last`, front first.
    public mutating func removeFirst(through last: Int64) -> [Entry] {
        let end = lowerBound(last + 1)
        let removed = Array(entries[head..<end])
        head = end
        compactIfWorthIt()
        return removed
    }

    /// Applies `change` to the entry at `place`, if it is waiting.
    mutating func update<T>(_ place: Int64, _ change: (inout Entry) -> T) -> T? {
        guard let index = index(of: place) else { return nil }
        return change(&entries[index])
    }

    /// Reorders the line with new places (the draw); `place` gives each entry's.
    mutating func reorder(_ place: (Entry) -> Int64) {
        entries = entries[head...].map { entry in
            var entry = entry
            entry.place = place(entry)
            return entry
        }.sorted { $0.place < $1.place }
        head = 0
    }

    private func index(of place: Int64) -> Int? {
        let index = lowerBound(place)
        return index < entries.count && entries[index].place == place ? index : nil
    }

    private func lowerBound(_ place: Int64) -> Int {
        var low = head
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].place < place { low = mid + 1 } else { high = mid }
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
