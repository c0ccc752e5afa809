public import Foundation
public import KotoCore
public import KotoStore

/// The one owner of the node's replica store: every read, local write and
/// applied batch goes through this actor, so the SQLite connection is only
/// ever used by one task at a time.
public actor Replica {
    let store: ReplicaStore
    public nonisolated let nodeID: String
    /// Set while this node holds fewer of its own changes than a peer does
    /// (restored from an older backup): local writes wait until it catches up.
    private var catchUpTarget: UInt64?

    public init(store: ReplicaStore) {
        self.store = store
        nodeID = store.nodeID
    }

    /// Runs `body` with the store, on the actor.
    public func withStore<T: Sendable>(_ body: (ReplicaStore) throws -> T) throws -> T {
        try body(store)
    }

    // MARK: Restore catch-up ("never reuse a dot")

    /// True from start until the peers were asked how many of this node's
    /// changes they hold: until then a local write could reuse a dot.
    private var startupCheckPending = false

    public func beginStartupCheck() { startupCheckPending = true }
    /// False while the startup check runs or the node is catching up.
    public var acceptsWrites: Bool { !startupCheckPending && pendingCatchUp == nil }
    public func endStartupCheck() { startupCheckPending = false }

    /// A peer holds `seq` of this node's own changes; if that is more than
    /// this store has, local writes are refused until it has pulled them back.
    public func notePeerHolds(ownSeq seq: UInt64) {
        guard seq > store.seq else { return }
        catchUpTarget = max(catchUpTarget ?? 0, seq)
    }

    /// After a restore from backup: new log incarnation, so peers re-read this log from 0.
    public func startNewIncarnation() throws {
        try store.startNewIncarnation()
    }

    /// The seq this node must reach before it takes local writes again, if any.
    public var pendingCatchUp: UInt64? {
        if let target = catchUpTarget, store.seq >= target { catchUpTarget = nil }
        return catchUpTarget
    }

    // MARK: Local writes

    public enum Write: Sendable {
        case create(FieldMap, id: UUID)
        case update(FieldMap)
        case delete, restore, erase
    }

    /// A local write; refused with `CatchUpRequired` while the node is catching up.
    public func write(_ kind: RecordKind, id: UUID, _ write: Write) throws -> Change {
        if let target = pendingCatchUp {
            throw CatchUpRequired(ownSeq: store.seq, target: target)
        }
        if startupCheckPending {
            throw CatchUpRequired(ownSeq: store.seq, target: nil)
        }
        switch write {
        case .create(let fields, let id): return try store.create(kind, id: id, fields: fields)
        case .update(let fields): return try store.update(kind, id: id, fields: fields)
        case .delete: return try store.delete(kind, id: id)
        case .restore: return try store.restore(kind, id: id)
        case .erase: return try store.erase(kind, id: id)
        }
    }

    // MARK: Sync

    public func apply(_ batch: ChangeBatch, from peer: String) throws -> ApplyResult {
        try store.apply(batch, from: peer)
    }

    public func readLog(after position: UInt64, notCoveredBy vector: VersionVector, limit: Int) throws -> ChangeBatch {
        try store.readLog(after: position, notCoveredBy: vector, limit: limit)
    }

    public func syncState() -> SyncState {
        SyncState(versionVector: store.versionVector, logPosition: store.logPosition, incarnation: store.incarnation)
    }

    public func peerCursor(_ peer: String) throws -> PeerCursor? {
        try store.peerCursor(peer)
    }

    public func recordPeerFailure(_ peer: String, message: String) throws {
        try store.recordPeerFailure(peer, message: message)
    }

    public func recordPeerLogPosition(_ peer: String, position: UInt64) throws {
        try store.recordPeerLogPosition(peer, position: position)
    }

    public func resetPeerCursor(_ peer: String, incarnation: String?) throws {
        try store.resetPeerCursor(peer, incarnation: incarnation)
    }
}

/// What a node tells peers about its replica.
public struct SyncState: Sendable, Equatable {
    public let versionVector: VersionVector
    public let logPosition: UInt64
    public let incarnation: String
}

/// Local writes are refused until the node holds its own latest changes again.
public struct CatchUpRequired: Error, Sendable, CustomStringConvertible {
    public let ownSeq: UInt64
    /// Nil while the startup check with the peers is still running.
    public let target: UInt64?

    public var description: String {
        guard let target else {
            return "this node is starting and asking its peers whether it was restored from a backup; local writes resume in a few seconds"
        }
        return "this node was restored from an older backup and is pulling back its own changes (has \(ownSeq) of \(target)); local writes resume once it has caught up"
    }
}

/// A second connection to the same replica for the merged-view queries,
/// opened read-only: with WAL it reads the last committed state while the
/// writer applies a batch, so reads never wait for sync, and nothing on
/// this path can write.
public actor ReplicaReader {
    let replica: ReadOnlyReplica

    public init(_ replica: ReadOnlyReplica) {
        self.replica = replica
    }

    public func withView<T: Sendable>(_ body: (MergedView) throws -> T) throws -> T {
        try body(replica.view)
    }
}
