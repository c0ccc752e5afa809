/// Group commit: many independent local writes in one transaction and one
/// fsync, each in a savepoint of its own so that one failing write fails
/// alone. The node's `Replica` gathers the writes that arrive while a
/// commit is in flight and hands them here as one group.
extension ReplicaStore {
    /// Runs each of `writes` in its own savepoint inside one transaction
    /// (`batch`), signed once at its end; `failed` is told at once about a
    /// write that failed (validation, not found, erased: its savepoint and
    /// its share of the node state are undone, the others go on).
    /// `beforeCommit` runs last inside the transaction: throwing from it
    /// rolls back the whole group. Returns the successes' results, in
    /// order, nil where a write failed; throws when the transaction itself
    /// did not commit, and then nothing of the group is durable.
    public func group<T>(_ writes: [() throws -> T], failed: (Int, any Error) -> Void,
                         beforeCommit: () throws -> Void = {}) throws -> [T?] {
        try batch {
            var results: [T?] = []
            results.reserveCapacity(writes.count)
            for (index, write) in writes.enumerated() {
                do {
                    // A nested batch: a savepoint, and on failure the node state
                    // (seq, HLC, VV, chain head, digest) and signing progress as before it.
                    results.append(try batch { try write() })
                } catch {
                    // Some errors (disk full, I/O) make SQLite roll back the whole
                    // transaction: then no later write may run outside it.
                    guard database.isInTransaction else { throw error }
                    results.append(nil)
                    failed(index, error)
                }
            }
            try beforeCommit()
            return results
        }
    }
}
