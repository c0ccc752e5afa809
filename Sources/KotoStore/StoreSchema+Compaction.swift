/// What compaction needs beyond the log and its floor (migration 3): each
/// peer's version vector as this node last learnt it (from the peer's pulls
/// and pushes and from the batches pulled from it), and when it was last
/// heard from. The floor may rise to at most the pointwise minimum of these,
/// so it is persisted with the floor, in the transaction that raises it.
extension StoreSchema {
    static let peerVectors: [String] = [
        """
        CREATE TABLE peer_vectors (
            peer TEXT PRIMARY KEY NOT NULL, vector BLOB NOT NULL, heard_at INTEGER NOT NULL) WITHOUT ROWID
        """,
    ]
}
