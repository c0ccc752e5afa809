import Foundation
public import KotoCore
public import KotoCrypto

/// One office's replica: the records, the change log and the replication
/// metadata in one SQLite file. Every local write and every applied batch is
/// one transaction. Not Sendable: the node gives it exactly one owner.
///
/// The class is split by concern: local writes (`+LocalWrites`), applying
/// peers' batches (`+Apply`), the log as peers read it (`+Log`), peer
/// cursors (`+PeerCursors`), rows and their persistence (`RowStore`), the
/// merged view's queries (`MergedView`).
public final class ReplicaStore {
    public let nodeID: String
    public let options: StoreOptions
    /// This node's signing key and every member's public keys.
    public let identity: StoreIdentity
    /// The schema version peers must share to sync.
    public static var schemaVersion: Int { StoreSchema.currentVersion }

    let database: Database
    let validator: RecordValidator
    let rows: RowStore
    /// The merged view over the writer's connection (the node's readers use their own, read-only).
    public let view: MergedView
    var state: NodeState

    /// Nesting depth of `batch {}`: inside one, local writes leave their
    /// VV entry, node state and final signature for the batch to write once at its end.
    var batchDepth = 0
    /// Inside `batch {}`: own changes appended since the last signed one, and the last of them.
    var unsignedRun = 0
    var lastUnsigned: (position: UInt64, chainHash: [UInt8])?

    /// Peers' version vectors as learnt from exchanges, and the log's entry count (`+Compaction`).
    var compaction = CompactionState()

    /// Test hook: called before each entry of a batch is applied; throwing
    /// from it simulates a failure halfway through a batch.
    var beforeApplyingEntry: ((Int) throws -> Void)?

    /// The replicated state that lives in memory between transactions and is
    /// written in each; a transaction works on a copy, kept only on commit.
    struct NodeState {
        var seq: UInt64
        var clock: HybridClock
        var versionVector: VersionVector
        var logEnd: UInt64
        var incarnation: String
        var floor: VersionVector
        /// Per origin, the chain link of the change at `versionVector[origin]`.
        var heads: [String: [UInt8]]
        var digest: StateDigest
        /// Rows holding a purged change whose erase has not arrived: the digest is provisional.
        var awaitingEraseRows: Int
        /// Set when this node's own chain was found forked; cleared only by a repair.
        var ownFork: String?
    }

    /// Opens (creating and migrating if needed) the replica at `path` for `nodeID`.
    public init(path: String, nodeID: String, identity: StoreIdentity, options: StoreOptions = StoreOptions()) throws {
        guard NodeID.isValid(nodeID) else { throw ReplicaStoreError.corrupt("invalid node id") }
        guard identity.region.isMember(nodeID) else { throw ReplicaStoreError.notMember(nodeID) }
        guard identity.region.keys(of: nodeID).contains(identity.signingKey.publicKey) else {
            throw ReplicaStoreError.keyNotListed(nodeID)
        }
        self.nodeID = nodeID
        self.options = options
        self.identity = identity
        self.validator = RecordValidator(registry: options.registry)
        database = try Database(path: path, synchronous: options.synchronous)
        try StoreSchema.migrate(database, deadlineRules: options.deadlineRules)
        rows = try RowStore(database: database)
        view = MergedView(database: database, rows: rows)
        state = try Self.loadOrCreateState(database, nodeID: nodeID, now: options.now())
        // An erase whose truncation a crash cut short: nothing reads yet, so the WAL goes now.
        _ = try? database.checkpointTruncate()
    }

    private static func loadOrCreateState(_ database: Database, nodeID: String, now: UInt64) throws -> NodeState {
        try database.transaction {
            let rows = try database.query("""
                SELECT node_id, seq, hlc, log_end, incarnation, state_digest, awaiting_erase_rows, own_fork FROM node_state
                """) { row in
                (row.string(0) ?? "", UInt64(row.int64(1)), HLC(rawValue: UInt64(bitPattern: row.int64(2))), UInt64(row.int64(3)),
                 row.string(4) ?? "", row.blob(5) ?? [], Int(row.int64(6)), row.string(7))
            }
            let vv = try readVector(database, table: "version_vector")
            let floor = try readVector(database, table: "log_floor")
            if let (storedNode, seq, hlc, logEnd, incarnation, digest, awaiting, ownFork) = rows.first {
                guard storedNode == nodeID else { throw ReplicaStoreError.nodeMismatch(stored: storedNode, requested: nodeID) }
                var heads: [String: [UInt8]] = [:]
                for (origin, seq) in vv.entries {
                    let hash = try database.query("SELECT chain_hash FROM change_log WHERE origin = ? AND seq = ?",
                                                  [.text(origin), .integer(Int64(seq))]) { $0.blob(0) ?? [] }.first
                        ?? storedChainHead(database, origin: origin, seq: seq)
                    guard let hash, hash.count == ChainFormat.hashByteCount else {
                        throw ReplicaStoreError.corrupt("no chain link for \(origin):\(seq)")
                    }
                    heads[origin] = hash
                }
                return NodeState(seq: seq, clock: HybridClock(last: hlc), versionVector: vv, logEnd: logEnd,
                                 incarnation: incarnation, floor: floor, heads: heads,
                                 digest: digest.count == 32 ? StateDigest(bytes: digest) : .zero,
                                 awaitingEraseRows: awaiting, ownFork: ownFork)
            }
            let incarnation = UUID().lowercased
            try database.run("""
                INSERT INTO node_state (singleton, node_id, seq, hlc, log_end, incarnation, created_at, state_digest)
                VALUES (1, ?, 0, 0, 0, ?, ?, ?)
                """, .text(nodeID), .text(incarnation), .integer(Int64(now)), .blob(StateDigest.zero.bytes))
            return NodeState(seq: 0, clock: HybridClock(), versionVector: VersionVector(), logEnd: 0,
                             incarnation: incarnation, floor: VersionVector(), heads: [:], digest: .zero,
                             awaitingEraseRows: 0, ownFork: nil)
        }
    }

    private static func readVector(_ database: Database, table: String) throws -> VersionVector {
        let entries = try database.query("SELECT origin, seq FROM \(table)") { ($0.string(0) ?? "", UInt64($0.int64(1))) }
        return VersionVector(Dictionary(entries, uniquingKeysWith: max))
    }

    // MARK: State

    public var versionVector: VersionVector { state.versionVector }
    /// Position of the last entry in the local change log.
    public var logPosition: UInt64 { state.logEnd }
    /// Identifies this database's log; a restored or recreated database gets a new one.
    public var incarnation: String { state.incarnation }
    public var seq: UInt64 { state.seq }
    public var lastHLC: HLC { state.clock.last }
    /// Every change this node holds that the floor does not cover is in its log.
    public var logFloor: VersionVector { state.floor }
    /// The order-independent digest of the merged state (see `StateDigest`).
    public var stateDigest: StateDigest { state.digest }
    /// True while some row holds a purged change but not yet its erase:
    /// such a digest is not compared with peers'.
    public var stateDigestProvisional: Bool { state.awaitingEraseRows > 0 }
    /// The chain head this node holds for each origin.
    public var chainHeads: [String: ChainHead] {
        var heads: [String: ChainHead] = [:]
        for (origin, seq) in state.versionVector.entries {
            heads[origin] = ChainHead(seq: seq, hash: state.heads[origin] ?? ChainFormat.genesis)
        }
        return heads
    }
    /// Why this node's own history is known to be forked, if it is (persisted until a repair).
    public var ownFork: String? { state.ownFork }

    func saveNodeState(_ next: NodeState) throws {
        try database.run("""
            UPDATE node_state SET seq = ?, hlc = ?, log_end = ?, state_digest = ?, awaiting_erase_rows = ? WHERE singleton = 1
            """, .integer(Int64(next.seq)), .integer(Int64(bitPattern: next.clock.last.rawValue)), .integer(Int64(next.logEnd)),
            .blob(next.digest.bytes), .integer(Int64(next.awaitingEraseRows)))
    }

    func saveVersionVectorEntry(_ origin: String, _ next: NodeState) throws {
        try database.run("INSERT INTO version_vector (origin, seq) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq",
                         .text(origin), .integer(Int64(next.versionVector[origin])))
    }

    // MARK: Erased content

    /// True from the commit of an erase (local or applied from a peer) until
    /// a WAL checkpoint has copied every page into the database file and
    /// truncated the WAL: until then the WAL's earlier frames may still hold
    /// the erased values. (Freed cells and pages are zeroed by `secure_delete`.)
    public var erasedContentPending: Bool { rows.erasedSinceWipe }

    /// Checkpoints the WAL with TRUNCATE. Done after every transaction that
    /// erased a row; when a reader's older snapshot keeps the checkpoint from
    /// finishing, `erasedContentPending` stays true and the caller retries.
    @discardableResult
    public func wipeErasedContent() throws -> Database.CheckpointResult {
        let result = try database.checkpointTruncate()
        if result.completed { rows.erasedSinceWipe = false }
        return result
    }

    /// After the outermost transaction: the checkpoint an erase asks for (a failure leaves it pending).
    func wipeErasedContentIfPending() {
        guard rows.erasedSinceWipe, !database.isInTransaction else { return }
        _ = try? wipeErasedContent()
    }

    /// Records that this node's own chain forked (a restored node reused a
    /// seq): local writes stay refused until the operator repairs the node.
    public func recordOwnFork(_ reason: String) throws {
        try database.transaction {
            try database.run("UPDATE node_state SET own_fork = ? WHERE singleton = 1", .text(reason))
        }
        state.ownFork = reason
    }
}

/// The keys a store signs and verifies with: this node's private key and
/// every region member's public keys (from the region manifest).
public struct StoreIdentity: Sendable {
    public let signingKey: SigningKey
    public let region: RegionKeys

    public init(signingKey: SigningKey, region: RegionKeys) {
        self.signingKey = signingKey
        self.region = region
    }
}

/// The members of the region and their public keys (several during a key rotation).
public struct RegionKeys: Sendable {
    public let publicKeys: [String: [PublicKey]]

    public init(_ publicKeys: [String: [PublicKey]]) {
        self.publicKeys = publicKeys
    }

    public func isMember(_ node: String) -> Bool { publicKeys[node] != nil }
    public func keys(of node: String) -> [PublicKey] { publicKeys[node] ?? [] }
    public var members: [String] { publicKeys.keys.sorted() }
}
