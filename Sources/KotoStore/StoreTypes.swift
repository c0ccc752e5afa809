public import Foundation
public import KotoCore

/// Why the store refused an operation. Descriptions name records by kind and
/// id only, never by field values.
public enum ReplicaStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid([FieldProblem])
    case notFound(RecordKind, UUID)
    case alreadyExists(RecordKind, UUID)
    /// The row was erased; it takes no more local writes.
    case erased(RecordKind, UUID)
    /// A whole batch was refused; nothing of it was applied.
    case batchRefused(String)
    /// The puller lacks changes this log no longer holds (HTTP 410).
    case snapshotRequired
    case nodeMismatch(stored: String, requested: String)
    case schemaTooNew(found: Int, supported: Int)
    case corrupt(String)
    /// A node id that is not a member of the region (in a request, a version vector, a batch).
    case notMember(String)
    /// This node's own public key is not among those the region manifest lists for it.
    case keyNotListed(String)
    /// A peer holds a different change under a dot this node holds: the origin's history forked.
    case forked(Dot)
    /// This node's own history forked (it reused a seq after a restore): no local writes until repaired.
    case ownChainForked(String)

    public var description: String {
        switch self {
        case .invalid(let problems): "invalid record: " + problems.map(\.description).joined(separator: "; ")
        case .notFound(let kind, let id): "no \(kind.rawValue) \(id.lowercased)"
        case .alreadyExists(let kind, let id): "\(kind.rawValue) \(id.lowercased) already exists"
        case .erased(let kind, let id): "\(kind.rawValue) \(id.lowercased) was erased"
        case .batchRefused(let reason): "batch refused: \(reason)"
        case .snapshotRequired: "snapshot required: this log no longer holds changes the puller lacks"
        case .nodeMismatch(let stored, let requested):
            "the database belongs to node \(stored), not \(requested)"
        case .schemaTooNew(let found, let supported):
            "database schema version \(found) is newer than this build supports (\(supported))"
        case .corrupt(let detail): "corrupt store: \(detail)"
        case .notMember(let node): "node \(node) is not a member of the region"
        case .keyNotListed(let node): "this node's public key is not listed for \(node) in the region manifest"
        case .forked(let dot): "fork at \(dot): two different changes under one dot"
        case .ownChainForked(let reason):
            "this node's own change history forked (\(reason)); it takes no local writes until an operator runs kotosyncd repair-fork"
        }
    }
}

/// Store settings that are deployment choices, not data.
public struct StoreOptions: Sendable {
    /// `full` by default: a write is acknowledged only once it survives power loss.
    public var synchronous: SynchronousMode = .full
    /// A received change whose HLC is further ahead of the local wall clock
    /// than this refuses its whole batch.
    public var maxClockAheadMillis: UInt64 = 5 * 60 * 1000
    public var registry: MunicipalityRegistry = .ostrobothnianCoast
    /// Wall clock in Unix milliseconds; injectable for tests.
    public var now: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
    /// The deadline rules the replica keeps each open client's next limit
    /// for (the node's `reports.deadlineRules`); an open with other rules than
    /// the database's rebuilds that table from the rows, none drops it.
    public var deadlineRules: [DeadlineRule] = DeadlineRule.integrationActDefaults

    public init() {}
}

/// A record as the merged view holds it.
public struct StoredRecord: Sendable, Equatable {
    public let kind: RecordKind
    public let id: UUID
    /// Every field of the kind; `.null` where unset.
    public let fields: FieldMap
    public let erased: Bool
    public let rowClock: RowClock
    /// The winning write of each field.
    public let stamps: [String: FieldStamp]
    public let openConflicts: Int
    /// A purged change of the row is held but not yet its erase: the row is about to be erased.
    public let awaitingErase: Bool

    public var deleted: Bool { fields[deletedFieldName]?.bool == true }
}

/// A non-winning entry of a field's frontier: a concurrent write that no
/// later write saw, for the coordinator to review.
public struct OpenConflict: Sendable, Hashable {
    public let record: RecordKind
    public let rowID: UUID
    public let field: String
    public let value: FieldValue
    public let dot: Dot
    public let hlc: HLC
    public let winner: Dot
    /// Local wall time (Unix ms) this node first held the conflict; local, not replicated.
    public let firstSeenMillis: Int64
}

/// A resolution named a field with no open conflict in this replica (never
/// had one, already resolved, or the row is gone). Names the record by kind,
/// id and field only.
public struct ConflictNotOpen: Error, Sendable, Equatable, CustomStringConvertible {
    public let kind: RecordKind
    public let id: UUID
    public let field: String

    public var description: String { "no open conflict on \(kind.table):\(id.lowercased):\(field)" }
}

/// What this node knows of one peer's log and of syncing with it.
public struct PeerCursor: Sendable, Equatable {
    public let peer: String
    /// The peer log's incarnation the position belongs to.
    public var incarnation: String?
    /// The peer's log position this node reached (the next pull's `since`).
    public var position: UInt64
    /// The peer's log end as it last reported it (for lag).
    public var peerLogPosition: UInt64
    public var lastSuccessMillis: Int64?
    public var lastError: String?
    public var consecutiveFailures: Int

    public init(peer: String, incarnation: String? = nil, position: UInt64 = 0, peerLogPosition: UInt64 = 0,
                lastSuccessMillis: Int64? = nil, lastError: String? = nil, consecutiveFailures: Int = 0) {
        self.peer = peer
        self.incarnation = incarnation
        self.position = position
        self.peerLogPosition = peerLogPosition
        self.lastSuccessMillis = lastSuccessMillis
        self.lastError = lastError
        self.consecutiveFailures = consecutiveFailures
    }

    /// Entries behind: the peer's last reported log end minus our position in it.
    public var lag: UInt64 { peerLogPosition > position ? peerLogPosition - position : 0 }
}

/// The result of applying a batch.
public struct ApplyResult: Sendable, Equatable {
    public let applied: Int
    /// Entries the version vector already covered (duplicates, relays).
    public let skipped: Int
}

/// Filters and keyset paging for the merged view.
public struct RecordQuery: Sendable {
    /// Field name → exact value.
    public var equals: FieldMap = [:]
    /// List field name (`municipalities`, `languages`) → one element it must contain.
    public var contains: [String: String] = [:]
    public var includeDeleted = false
    public var includeErased = false
    /// Only records with open conflicts.
    public var onlyConflicted = false
    /// Keyset paging: ids greater than this one.
    public var afterID: String?
    public var limit = 100

    public init() {}
}
