import Foundation
public import KotoCore

/// A bounded change log: the floor rises as the configured peers are known
/// to hold changes, and compaction drops the entries nobody needs any more.
///
/// The drop rule (design/replication.md, "Log floor, compaction and
/// snapshots"): an entry goes only when
/// - the floor covers it (every configured peer holds it, so no pull this
///   node still answers asks for it: a puller that lacks it is refused with
///   410 `snapshot_required`, see `readLog`),
/// - it is in no frontier: it is neither the winning stamp of a field of
///   its row nor an open conflict entry (each field it wrote has since been
///   written by a change that saw it, or the row was erased),
/// - it is not an erase (erases are kept, so a purge reaches every node),
/// - it is not its origin's chain head at this node's version vector (the
///   head's link is read back from the log at open), and
/// - its row does not await an erase (a purged change held before its erase).
///
/// The merge never reads the log (each row holds its whole frontier), so a
/// dropped entry changes no merged state and no state digest; it only can no
/// longer be relayed, and every configured peer already holds it.
extension ReplicaStore {
    /// What compaction keeps in memory between runs: peers' version vectors
    /// as last learnt (persisted when the floor rises), and the log's entry
    /// count at some log end (so the count needs no table scan per status).
    struct CompactionState {
        var loaded = false
        var peers: [String: PeerVector] = [:]
        /// This process's first look at the peers: silence is counted from
        /// here at the earliest, so a node that was itself down does not
        /// count its peers silent for it.
        var openedAtMillis: UInt64 = 0
        var countedEntries = 0
        var countedAtLogEnd: UInt64 = 0
    }

    /// The floor may rise to at most the pointwise minimum of the configured
    /// peers' version vectors, less those silent for longer than `horizonMillis`.
    public struct FloorPolicy: Sendable, Equatable {
        /// The configured peers: every node that reads this log.
        public var peers: [String]
        /// A peer unheard from for longer than this (while this node runs) no
        /// longer holds the floor back; it is told 410 `snapshot_required` when it returns.
        public var horizonMillis: UInt64

        public init(peers: [String], horizonMillis: UInt64) {
            self.peers = peers
            self.horizonMillis = horizonMillis
        }
    }

    /// One chunk of compaction: the log position it reached (nil: the log's
    /// end was reached), the entries it examined and dropped.
    public struct CompactionStep: Sendable, Equatable {
        public let nextPosition: UInt64?
        public let examined: Int
        public let dropped: Int
    }

    /// What a whole run did.
    public struct CompactionResult: Sendable, Equatable {
        public var floor: VersionVector
        /// Configured peers that were left out of the floor for being silent past the horizon.
        public var silentPeers: [String]
        public var dropped: Int
        /// Entries in the log after the run.
        public var entries: Int
    }

    // MARK: Peers' version vectors

    /// `peer` holds every change `vector` covers (it said so in a pull, or
    /// its batch's heads did); the latest word counts, lower or not (a peer
    /// restored from a backup holds less than it did). Kept in memory,
    /// written with the next floor raise.
    public func notePeerVector(_ peer: String, _ vector: VersionVector) {
        guard peer != nodeID else { return }
        try? loadCompactionState()
        compaction.peers[peer] = PeerVector(vector: vector, heardAtMillis: options.now())
    }

    /// What this node last learnt of `peer`'s version vector, and when.
    public func peerVector(_ peer: String) throws -> PeerVector? {
        try loadCompactionState()
        return compaction.peers[peer]
    }

    /// Entries in the change log now (its own and its peers' changes, less those compaction dropped).
    public func logEntryCount() throws -> Int {
        try loadCompactionState()
        if state.logEnd < compaction.countedAtLogEnd { try recountLogEntries() }
        return compaction.countedEntries + Int(state.logEnd - compaction.countedAtLogEnd)
    }

    /// Counts the log. Outside a transaction on a read-only connection of
    /// its own with a small page cache, closed at once: counting a million
    /// entries walks their index, and those pages must not stay in the
    /// writer's 32 MiB cache for the rest of an idle daemon's life.
    private func recountLogEntries() throws {
        let sql = "SELECT count(*) FROM change_log"
        if database.isInTransaction || database.path.isEmpty || database.path == ":memory:" {
            compaction.countedEntries = Int(try database.query(sql) { $0.int64(0) }.first ?? 0)
        } else {
            let counter = try Database(path: database.path, readOnly: true)
            defer { try? counter.close() }
            try counter.execute("PRAGMA cache_size = -256")
            compaction.countedEntries = Int(try counter.query(sql) { $0.int64(0) }.first ?? 0)
        }
        compaction.countedAtLogEnd = state.logEnd
    }

    private func loadCompactionState() throws {
        guard !compaction.loaded else { return }
        let stored = try database.query("SELECT peer, vector, heard_at FROM peer_vectors") { row in
            (row.string(0) ?? "", try WireFormat.decodeClock(row.blob(1) ?? []), UInt64(max(0, row.int64(2))))
        }
        for (peer, vector, heard) in stored {
            compaction.peers[peer] = PeerVector(vector: vector, heardAtMillis: heard)
        }
        compaction.openedAtMillis = options.now()
        try recountLogEntries()
        compaction.loaded = true
    }

    // MARK: The floor

    /// What the floor may rise to now under `policy`: the pointwise minimum
    /// of this node's version vector and the vectors of the configured peers
    /// heard from within the horizon; never below the floor. A node that pulls
    /// from here without being configured (an asymmetric configuration) holds
    /// the floor back too while it is heard from within the horizon. With no
    /// peer configured or heard nothing reads this log and the floor is the
    /// version vector. When every configured peer is silent, this node is more
    /// likely the one cut off: the floor stays where it is.
    public func floorTarget(_ policy: FloorPolicy) throws -> (floor: VersionVector, silentPeers: [String]) {
        try loadCompactionState()
        let now = options.now()
        func isSilent(_ peer: String) -> Bool {
            let since = max(compaction.peers[peer]?.heardAtMillis ?? 0, compaction.openedAtMillis)
            return now > since && now - since > policy.horizonMillis
        }
        let configured = Set(policy.peers).subtracting([nodeID])
        let silent = configured.filter(isSilent).sorted()
        if !configured.isEmpty && silent.count == configured.count { return (state.floor, silent) }
        let unconfigured = compaction.peers.keys.filter { !configured.contains($0) && !isSilent($0) }
        var target = state.versionVector
        for peer in configured.subtracting(silent).union(unconfigured) {
            target = target.intersection(compaction.peers[peer]?.vector ?? VersionVector())
        }
        return (state.floor.union(target), silent)
    }

    /// Raises the floor as far as `policy` allows and persists it with the
    /// peers' vectors it rests on, in one short transaction. Returns the floor
    /// and the peers left out for silence.
    @discardableResult
    public func raiseFloor(_ policy: FloorPolicy) throws -> (floor: VersionVector, silentPeers: [String]) {
        let (floor, silent) = try floorTarget(policy)
        try setFloor(floor)
        return (floor, silent)
    }

    /// Sets the floor to `floor` (it never falls, nor rises past this node's
    /// version vector: every change this node holds that the floor does not
    /// cover stays in its log), with the peers' vectors learnt so far.
    public func setFloor(_ floor: VersionVector) throws {
        try loadCompactionState()
        let next = state.floor.union(floor.intersection(state.versionVector))
        try database.transaction {
            for (peer, known) in compaction.peers.sorted(by: { $0.key < $1.key }) {
                try database.run("""
                    INSERT INTO peer_vectors (peer, vector, heard_at) VALUES (?, ?, ?)
                    ON CONFLICT (peer) DO UPDATE SET vector = excluded.vector, heard_at = excluded.heard_at
                    """, .text(peer), .blob(WireFormat.encodeClock(known.vector)), .integer(Int64(known.heardAtMillis)))
            }
            for (origin, seq) in next.sorted where seq != state.floor[origin] {
                try database.run("INSERT INTO log_floor (origin, seq) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq",
                                 .text(origin), .integer(Int64(seq)))
            }
        }
        state.floor = next
    }

    // MARK: Dropping entries

    /// Drops, in one transaction, the entries among the `limit` after log
    /// position `position` that the rule above lets go. Chunked so a run
    /// never holds the writer for long: the node's job calls it chunk by
    /// chunk, letting writes and applies in between.
    public func compactChunk(after position: UInt64, limit: Int = 2_000) throws -> CompactionStep {
        try loadCompactionState()
        let floor = state.floor, heads = state.versionVector
        guard !floor.isEmpty else { return CompactionStep(nextPosition: nil, examined: 0, dropped: 0) }
        let erase = Int64(ChangeKind.erase.rawValue)
        let step: CompactionStep = try database.transaction {
            let entries = try database.query("""
                SELECT pos, origin, seq, record, row_id, kind FROM change_log WHERE pos > ? ORDER BY pos LIMIT ?
                """, [.integer(Int64(position)), .integer(Int64(max(1, limit)))]) { row in
                (pos: UInt64(row.int64(0)), dot: Dot(origin: row.string(1) ?? "", seq: UInt64(row.int64(2))),
                 record: row.string(3) ?? "", rowID: row.string(4) ?? "", erase: row.int64(5) == erase)
            }
            guard let last = entries.last else { return CompactionStep(nextPosition: nil, examined: 0, dropped: 0) }
            var candidates: [RowAddress: [(pos: UInt64, dot: Dot)]] = [:]
            for entry in entries where !entry.erase && floor.covers(entry.dot) && entry.dot.seq != heads[entry.dot.origin] {
                candidates[RowAddress(table: entry.record, id: entry.rowID), default: []].append((entry.pos, entry.dot))
            }
            var dropped = 0
            for (address, list) in candidates {
                guard let kind = RecordKind(table: address.table), let id = UUID(uuidString: address.id) else { continue }
                let row = try rows.load(kind, id: id.lowercased)
                guard row.exists, !row.state.awaitingErase else { continue }
                var frontier = Set(row.state.stamps.values.map(\.dot))
                for entries in row.state.conflicts.values { frontier.formUnion(entries.map(\.stamp.dot)) }
                for (pos, dot) in list where !frontier.contains(dot) {
                    try database.run("DELETE FROM change_log WHERE pos = ?", .integer(Int64(pos)))
                    dropped += 1
                }
            }
            return CompactionStep(nextPosition: entries.count < limit ? nil : last.pos, examined: entries.count, dropped: dropped)
        }
        compaction.countedEntries -= step.dropped
        return step
    }

    /// Raises the floor under `policy` and drops what the rule lets go, a
    /// chunk per transaction (tests, the benchmark; the node runs the chunks
    /// itself so other work interleaves).
    @discardableResult
    public func compact(_ policy: FloorPolicy, chunk: Int = 2_000) throws -> CompactionResult {
        let (floor, silent) = try raiseFloor(policy)
        return CompactionResult(floor: floor, silentPeers: silent, dropped: try compactBelowFloor(chunk: chunk),
                                entries: try logEntryCount())
    }

    /// Raises the floor to `floor` (clamped as `setFloor` does) and drops what the rule lets go below it.
    @discardableResult
    public func compact(floor: VersionVector, chunk: Int = 2_000) throws -> Int {
        try setFloor(floor)
        return try compactBelowFloor(chunk: chunk)
    }

    /// Drops what the rule lets go under the current floor; returns how many entries went.
    @discardableResult
    public func compactBelowFloor(chunk: Int = 2_000) throws -> Int {
        var position: UInt64? = 0
        var dropped = 0
        while let after = position {
            let step = try compactChunk(after: after, limit: chunk)
            dropped += step.dropped
            position = step.nextPosition
        }
        return dropped
    }
}

/// A peer's version vector as this node last learnt it, and when.
public struct PeerVector: Sendable, Equatable {
    public let vector: VersionVector
    /// This node's wall clock (Unix ms) when it learnt it.
    public let heardAtMillis: UInt64
}

/// A row of a record table, as the change log names it.
private struct RowAddress: Hashable {
    let table: String
    let id: String
}
