/// A set of redelivery keys that costs about 16 bytes per key: a sorted array searched by bisection, plus a small
/// hash set of the newest keys that is merged into the array once it holds a sixteenth as many.
///
/// A plain `Set` needs 21 to 43 bytes per key (power-of-two capacity, at most three quarters full), and a worker
/// keeps every key of the retention window, so the difference is most of its memory at high volumes.
struct KeySet {
    private var sorted: [RedeliveryKey] = []
    private var recent: Set<RedeliveryKey> = []

    var count: Int { sorted.count + recent.count }

    func contains(_ key: RedeliveryKey) -> Bool {
        if recent.contains(key) { return true }
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            let candidate = sorted[middle]
            if candidate == key { return true }
            if candidate < key { low = middle + 1 } else { high = middle }
        }
        return false
    }

    mutating func insert(_ key: RedeliveryKey) {
        guard !contains(key) else { return }
        recent.insert(key)
        if recent.count >= max(1024, sorted.count / 16) { merge() }
    }

    /// Moves the recent keys into the sorted array, merging from the back so no second array is needed.
    private mutating func merge() {
        let incoming = recent.sorted()
        recent.removeAll(keepingCapacity: true)
        let oldCount = sorted.count
        let newCount = oldCount + incoming.count
        if sorted.capacity < newCount {
            // Grow by a quarter rather than doubling: the slack is memory every worker holds.
            sorted.reserveCapacity(newCount + newCount / 4)
        }
        sorted.append(contentsOf: incoming)
        sorted.withUnsafeMutableBufferPointer { buffer in
            var read = oldCount - 1
            var take = incoming.count - 1
            var write = newCount - 1
            while take >= 0 {
                if read >= 0 && buffer[read] > incoming[take] {
                    buffer[write] = buffer[read]
                    read -= 1
                } else {
                    buffer[write] = incoming[take]
                    take -= 1
                }
                write -= 1
            }
        }
    }
}
