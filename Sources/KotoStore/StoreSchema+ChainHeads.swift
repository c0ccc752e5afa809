/// Chain heads held without their log entry: a node built from a snapshot
/// starts with an empty log, and compaction drops entries, yet each
/// origin's head (the link at the version vector's entry, with the
/// origin's signature over it) must survive both, for the next change of
/// that origin to verify against and for a later snapshot to carry.
extension StoreSchema {
    /// Migration 4.
    static let chainHeadsTable: [String] = [
        """
        CREATE TABLE chain_heads (
            origin TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, signature BLOB,
            PRIMARY KEY (origin, seq)) WITHOUT ROWID
        """,
    ]
}

extension ReplicaStore {
    /// The link of `origin`'s change at `seq` when the log no longer holds it, from `chain_heads`.
    static func storedChainHead(_ database: Database, origin: String, seq: UInt64) throws -> [UInt8]? {
        try database.query("SELECT hash FROM chain_heads WHERE origin = ? AND seq = ?", [.text(origin), .integer(Int64(seq))]) {
            $0.blob(0) ?? []
        }.first
    }
}
