public import KotoCore
public import KotoStore

/// The replica's side of compaction (`ReplicaStore+Compaction`): each call
/// is one short stay on the actor, so local writes and applies run between
/// the chunks of a run.
extension Replica {
    /// `peer` holds what `vector` covers (from its pull): the floor may rise to it.
    public func notePeerVector(_ peer: String, _ vector: VersionVector) {
        store.notePeerVector(peer, vector)
    }

    public func raiseLogFloor(_ policy: ReplicaStore.FloorPolicy) throws -> (floor: VersionVector, silentPeers: [String]) {
        try store.raiseFloor(policy)
    }

    public func compactLog(after position: UInt64, limit: Int) throws -> ReplicaStore.CompactionStep {
        try store.compactChunk(after: position, limit: limit)
    }

    /// Entries in the change log and its floor, for the status and the metrics.
    public func logFigures() throws -> (entries: Int, floor: VersionVector) {
        (try store.logEntryCount(), store.logFloor)
    }
}
