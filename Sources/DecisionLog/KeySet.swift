#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A set of redelivery keys that costs about 17 bytes per key: a sorted array searched by bisection, plus a small
/// hash set of the newest keys that is merged into the array once it holds a thirty-second as many.
///
/// A plain `Set` needs 21 to 43 bytes per key (power-of-two capacity, at most three quarters full), and a worker
/// keeps every key of the retention window, so the difference is most of its memory at high volumes. The sorted
/// array lives in its own anonymous mapping, grown by a sixteenth at a time and unmapped when replaced, so its
/// memory goes back to the system at once instead of leaving holes in the malloc heap.
final class KeySet {
    private var base: UnsafeMutablePointer<RedeliveryKey>? = nil
    private var capacity = 0
    private var sortedCount = 0
    private var recent: Set<RedeliveryKey> = []

    var count: Int { sortedCount + recent.count }

    deinit {
        if let base { munmap(base, capacity * MemoryLayout<RedeliveryKey>.stride) }
    }

    func contains(_ key: RedeliveryKey) -> Bool {
        if recent.contains(key) { return true }
        guard let base else { return false }
        var low = 0
        var high = sortedCount
        while low < high {
            let middle = (low + high) / 2
            let candidate = base[middle]
            if candidate == key { return true }
            if candidate < key { low = middle + 1 } else { high = middle }
        }
        return false
    }

    func insert(_ key: RedeliveryKey) {
        guard !contains(key) else { return }
        recent.insert(key)
        if recent.count >= max(1024, sortedCount / 32) { merge() }
    }

    /// Calls `body` with every key, in no particular order.
    func forEach(_ body: (RedeliveryKey) -> Void) {
        if let base { for position in 0..<sortedCount { body(base[position]) } }
        for key in recent { body(key) }
    }

    /// Moves the recent keys into the sorted array, merging from the back so no second array is needed.
    private func merge() {
        let incoming = recent.sorted()
        let newCount = sortedCount + incoming.count
        guard reserve(newCount), let base else { return }  // Out of memory: the keys stay in `recent`.
        recent.removeAll(keepingCapacity: true)
        var read = sortedCount - 1
        var take = incoming.count - 1
        var write = newCount - 1
        while take >= 0 {
            if read >= 0 && base[read] > incoming[take] {
                base[write] = base[read]
                read -= 1
            } else {
                base[write] = incoming[take]
                take -= 1
            }
            write -= 1
        }
        sortedCount = newCount
    }

    /// Makes room for `needed` sorted keys; false when the system has no memory to give.
    private func reserve(_ needed: Int) -> Bool {
        guard needed > capacity else { return true }
        let stride = MemoryLayout<RedeliveryKey>.stride
        let page = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        let bytes = ((needed + needed / 16) * stride + page - 1) / page * page
        // MAP_FAILED is (void *)-1.
        guard let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != UnsafeMutableRawPointer(bitPattern: -1)
        else { return false }
        let grown = mapped.bindMemory(to: RedeliveryKey.self, capacity: bytes / stride)
        if let base {
            grown.initialize(from: base, count: sortedCount)
            munmap(base, capacity * stride)
        }
        base = grown
        capacity = bytes / stride
        return true
    }
}
