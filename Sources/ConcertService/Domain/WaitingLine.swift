/// The queue sequence numbers still waiting, in order, so a position is a binary search.
///
/// Entries leave mostly from the front (admission), which is O(1); a user who re-joins
/// leaves from the middle, which shifts the tail once.
public struct WaitingLine: Sendable {
    private var seqs: [Int64] = []
    /// Entries before `head` have left; they are dropped in bulk to keep removal cheap.
    private var head = 0

    public init() {}

    public var count: Int { seqs.count - head }

    /// 1-based position of `seq`, or nil if it is not waiting.
    public func position(of seq: Int64) -> Int? {
        let index = lowerBound(seq)
        guard index < seqs.count, seqs[index] == seq else { return nil }
        return index - head + 1
    }

    public mutating func insert(_ seq: Int64) {
        if let last = seqs.last, last >= seq {
            let index = lowerBound(seq)
            guard index == seqs.count || seqs[index] != seq else { return }
            seqs.insert(seq, at: index)
        } else {
            seqs.append(seq)
        }
    }

    public mutating func remove(_ seq: Int64) {
        if head < seqs.count, seqs[head] == seq {
            head += 1
            compactIfWorthIt()
            return
        }
        let index = lowerBound(seq)
        if index < seqs.count, seqs[index] == seq {
            seqs.remove(at: index)
        }
    }

    private func lowerBound(_ seq: Int64) -> Int {
        var low = head
        var high = seqs.count
        while low < high {
            let mid = (low + high) / 2
            if seqs[mid] < seq { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private mutating func compactIfWorthIt() {
        if head == seqs.count {
            seqs.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096, head * 2 >= seqs.count {
            seqs.removeFirst(head)
            head = 0
        }
    }
}
