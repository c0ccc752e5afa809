public import Foundation
public import KotoCore
public import KotoStore
public import KotoHTTP
import Synchronization

/// The one owner of the node's replica store: every read, local write and
/// applied batch goes through this actor, so the SQLite connection is only
/// ever used by one task at a time. It runs on a thread of its own
/// (`StoreThread`), never on Swift's cooperative pool: a long apply blocks
/// only this actor's queue, not request handling or the sync tasks.
public actor Replica {
    let store: ReplicaStore
    /// The actor's executor: the thread every store call runs on.
    public nonisolated let storeThread = StoreThread(name: "kotosync-replica")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { storeThread.asUnownedSerialExecutor() }
    public nonisolated let nodeID: String
    /// Set while this node holds fewer of its own changes than a peer does
    /// (restored from an older backup): local writes wait until it catches up.
    private var catchUpTarget: UInt64?

    /// The node's counters: batch applies count here, and the sync links and the API reach them through the replica.
    public nonisolated let metrics: NodeMetrics

    public init(store: ReplicaStore, metrics: NodeMetrics = NodeMetrics()) {
        self.store = store
        self.metrics = metrics
        nodeID = store.nodeID
        wallClock = store.options.now
    }

    private nonisolated let wallClock: @Sendable () -> UInt64
    /// The store's wall clock (Unix ms): the one local writes are stamped with.
    public nonisolated var nowMillis: UInt64 { wallClock() }

    /// Runs `body` with the store, on the actor.
    public func withStore<T: Sendable>(_ body: (ReplicaStore) throws -> T) throws -> T {
        try body(store)
    }

    // MARK: Restore catch-up ("never reuse a dot")

    /// True from start until the peers were asked how many of this node's
    /// changes they hold: until then a local write could reuse a dot.
    private var startupCheckPending = false

    public func beginStartupCheck() { startupCheckPending = true }
    /// False while the startup check runs, the node is catching up, waits
    /// for peers after a restore, its own chain forked or its clock is off.
    public var acceptsWrites: Bool {
        !startupCheckPending && pendingCatchUp == nil && pendingPeers.isEmpty && store.ownFork == nil && clockSkew == nil
            && stampsAhead == nil
    }
    public func endStartupCheck() { startupCheckPending = false }

    /// The configured peers that have not answered yet while this node
    /// waits for every one of them (after a restore): local writes wait too.
    public private(set) var pendingPeers: Set<String> = []
    private var answered: Set<String> = []

    /// Local writes wait until each of `peers` has answered (probe, pull or push).
    public func waitForPeers(_ peers: Set<String>) {
        pendingPeers = peers.subtracting(answered)
    }

    /// `peer` answered a probe or exchanged a batch with this node.
    public func notePeerAnswered(_ peer: String) {
        answered.insert(peer)
        pendingPeers.remove(peer)
    }

    /// True once the startup check is over: a restore noticed afterwards starts a new incarnation at once.
    private var running = false
    public func markRunning() { running = true }

    /// A peer holds `seq` of this node's own changes; if that is more than
    /// this store has, local writes are refused until it has pulled them back.
    /// Noticed after start-up, the restore starts a new log incarnation at once.
    public func notePeerHolds(ownSeq seq: UInt64) {
        guard seq > store.seq else { return }
        let first = catchUpTarget == nil
        catchUpTarget = max(catchUpTarget ?? 0, seq)
        if running, first {
            do {
                try store.startNewIncarnation()
                Log.warning("node.restored", ["node": nodeID, "ownSeqAtPeers": String(seq), "noticed": "while running"])
            } catch {
                Log.error("node.incarnation_failed", ["error": String(describing: error)])
            }
        }
    }

    /// Whether any peer reported holding any of this node's own changes.
    public private(set) var peerHoldsOwnChanges = false
    public func notePeerHoldsAny(_ seq: UInt64) { if seq > 0 { peerHoldsOwnChanges = true } }

    // MARK: Forks

    /// Peers whose chain heads disagree with this node's: the dot where they differ.
    public private(set) var peerForks: [String: Dot] = [:]

    /// `peer` holds another change under `dot` than this node does. When the
    /// dot is this node's own, its history forked: local writes stop until repaired.
    public func noteFork(_ dot: Dot, peer: String) {
        if peerForks[peer] != dot {
            Log.error("sync.fork", ["peer": peer, "dot": dot.description])
        }
        peerForks[peer] = dot
        if dot.origin == nodeID, store.ownFork == nil {
            do {
                try store.recordOwnFork("fork at \(dot) (seen by \(peer))")
            } catch {
                Log.error("node.own_fork_not_recorded", ["error": String(describing: error)])
            }
        }
    }

    /// `peer`'s heads agree with this node's again.
    public func clearFork(peer: String) { peerForks[peer] = nil }

    /// The forks between this node and `heads` (a peer's chain heads).
    public func forks(comparedWith heads: [String: ChainHead]) throws -> [Dot] {
        try store.forks(comparedWith: heads)
    }

    public var ownFork: String? { store.ownFork }

    // MARK: Clock check against peers

    private struct ClockSample { let offsetMillis: Int64; let atMillis: UInt64 }
    private var clockSamples: [String: ClockSample] = [:]
    static let clockSampleWindowMillis: UInt64 = 10 * 60 * 1000

    /// A peer's wall clock as an answer (or request) carried it; `sent` and
    /// `received` are this node's clock around the exchange (equal for a request).
    public func noteClock(peer: String, peerMillis: UInt64, sent: UInt64, received: UInt64) {
        guard peerMillis > 0 else { return }
        let midpoint = sent / 2 + received / 2 + (sent % 2 + received % 2) / 2
        clockSamples[peer] = ClockSample(offsetMillis: Int64(bitPattern: peerMillis &- midpoint), atMillis: received)
    }

    /// Median of the recent peer clock offsets (peer − this node), and how many peers, if any.
    public var peerClockOffset: (millis: Int64, peers: Int)? {
        let now = nowMillis
        let recent = clockSamples.values.filter { now < $0.atMillis || now - $0.atMillis <= Self.clockSampleWindowMillis }
            .map(\.offsetMillis).sorted()
        guard !recent.isEmpty else { return nil }
        let middle = recent.count / 2
        let median = recent.count % 2 == 1 ? recent[middle] : (recent[middle - 1] / 2 + recent[middle] / 2)
        return (median, recent.count)
    }

    /// Set while this node's clock is further than the HLC bound from the median of its peers'.
    public var clockSkew: ClockSkew? {
        guard let (offset, peers) = peerClockOffset else { return nil }
        let bound = store.options.maxClockAheadMillis
        guard offset.magnitude > bound else { return nil }
        // offset = peers − this node: negative means this node runs ahead.
        return ClockSkew(aheadMillis: -offset, peers: peers, boundMillis: bound)
    }

    /// The latest clock offset of each peer sampled in the window (peer − this node, ms).
    public var peerClockOffsets: [String: Int64] {
        let now = nowMillis
        return clockSamples.filter { now < $0.value.atMillis || now - $0.value.atMillis <= Self.clockSampleWindowMillis }
            .mapValues(\.offsetMillis)
    }

    /// Set while this node's hybrid clock (its newest stamp, local or
    /// received) is further than the HLC bound ahead of its wall clock: it
    /// stamped changes while its clock ran ahead, and a new local write
    /// would be stamped after them, as far ahead, for every peer to refuse.
    public var stampsAhead: StampsAhead? {
        let now = nowMillis, stamp = store.lastHLC.wallMillis
        let bound = store.options.maxClockAheadMillis
        guard stamp > now, stamp - now > bound else { return nil }
        return StampsAhead(aheadMillis: stamp - now, boundMillis: bound)
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
        /// Closes the open conflict on `field` with `value` (see `ReplicaStore.resolveConflict`).
        case resolve(field: String, value: FieldValue)
    }

    /// The writes waiting for the next group commit, and whether it is scheduled (`Replica+GroupCommit`).
    var pendingWrites: [PendingWrite] = []
    var groupCommitScheduled = false
    /// Local writes' transactions committed, and the writes they held (a group holds many).
    public internal(set) var localCommits = 0
    public internal(set) var localWritesCommitted = 0
    /// Told once after each group commit that held a write (the scheduler's `localChange`); set by the scheduler.
    nonisolated let localCommitObserver = Mutex<(@Sendable () -> Void)?>(nil)
    /// Test hook: runs last inside each group's transaction; throwing fails the whole group.
    var beforeGroupCommit: (@Sendable () throws -> Void)?

    /// One local write on the store, in the caller's transaction (a group's savepoint).
    func perform(_ kind: RecordKind, id: UUID, _ write: Write) throws -> Change {
        let change: Change
        switch write {
        case .create(let fields, let id): change = try store.create(kind, id: id, fields: fields)
        case .update(let fields): change = try store.update(kind, id: id, fields: fields)
        case .delete: change = try store.delete(kind, id: id)
        case .restore: change = try store.restore(kind, id: id)
        case .erase: change = try store.erase(kind, id: id)
        case .resolve(let field, let value): change = try store.resolveConflict(kind, id: id, field: field, value: value)
        }
        return change
    }

    /// Many local writes in one store transaction (an import): refused as
    /// `write` is, and all of `body`'s writes commit together or none does.
    public func writeBatch<T: Sendable>(_ body: (ReplicaStore) throws -> T) throws -> T {
        try requireWritable()
        let result = try store.batch { try body(store) }
        retryWipeIfPending()
        return result
    }

    /// Throws why local writes are refused now, if they are (see `write`).
    func requireWritable() throws {
        // A forked history outranks catching up: only a repair mends it.
        if let fork = store.ownFork { throw ReplicaStoreError.ownChainForked(fork) }
        if let target = pendingCatchUp {
            throw CatchUpRequired(ownSeq: store.seq, target: target)
        }
        if startupCheckPending {
            throw CatchUpRequired(ownSeq: store.seq, target: nil)
        }
        if !pendingPeers.isEmpty {
            throw CatchUpRequired(ownSeq: store.seq, target: nil, waitingFor: pendingPeers.sorted())
        }
        if let skew = clockSkew { throw skew }
        if let ahead = stampsAhead { throw ahead }
    }

    /// The retention job's erasure: reads the clients `owner` owns whose
    /// retention `policy` says ended before `today` and erases up to `limit`
    /// of them with their placements, in one transaction and in one call on
    /// the actor, so no write lands between choosing a client and erasing it.
    /// Refused like any local write while the node may not write.
    public func eraseExpired(owner: Int, policy: RetentionPolicy, today: LocalDate, limit: Int) throws -> [RetentionFacts] {
        try requireWritable()
        let expired = Array(try store.view.retentionFacts(owner: owner) { policy.isExpired($0, today: today) }.prefix(limit))
        guard !expired.isEmpty else { return [] }
        try store.batch {
            for facts in expired {
                for placement in facts.placements { try store.erase(.placement, id: placement) }
                try store.erase(.client, id: facts.id)
            }
        }
        retryWipeIfPending()
        return expired
    }

    // MARK: Erased content

    private var wipeRetry: Task<Void, Never>?

    /// After a write or batch that erased a row, the store checkpoints and
    /// truncates the WAL; when a reader on an older snapshot kept that from
    /// finishing, it is retried (with backoff) until it completes.
    func retryWipeIfPending() {
        guard store.erasedContentPending, wipeRetry == nil else { return }
        Log.warning("store.wal_truncate_deferred", ["node": nodeID, "reason": "a reader holds an older snapshot"])
        wipeRetry = Task { await self.retryWipe() }
    }

    private func retryWipe() async {
        var delay = Duration.milliseconds(100)
        while store.erasedContentPending, !Task.isCancelled {
            try? await Task.sleep(for: delay)
            do {
                if try store.wipeErasedContent().completed { Log.info("store.wal_truncated", ["node": nodeID, "after": "retry"]) }
            } catch {
                Log.error("store.wal_truncate_failed", ["node": nodeID, "error": String(describing: error)])
            }
            delay = min(delay * 2, .seconds(5))
        }
        wipeRetry = nil
    }

    // MARK: Sync

    /// Applies a peer's batch whole or not at all, counting either outcome.
    public func apply(_ batch: ChangeBatch, from peer: String) throws -> ApplyResult {
        let started = ContinuousClock.now
        do {
            let result = try store.apply(batch, from: peer)
            if !batch.changes.isEmpty { metrics.batchApplied(from: peer, result, duration: ContinuousClock.now - started) }
            retryWipeIfPending()
            return result
        } catch {
            metrics.batchRefused(from: peer, reason: NodeMetrics.Refusal(error))
            throw error
        }
    }

    /// What the status and divergence check compare.
    public var digest: (digest: StateDigest, provisional: Bool) { (store.stateDigest, store.stateDigestProvisional) }
    public var chainHeads: [String: ChainHead] { store.chainHeads }

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
public struct CatchUpRequired: HTTPResponseError, Sendable {
    public var status: HTTPStatus { .serviceUnavailable }
    public var code: String { "catching_up" }
    public var message: String { description }

    public let ownSeq: UInt64
    /// Nil while the startup check with the peers is still running.
    public let target: UInt64?
    /// After a restore: the configured peers that have not answered yet.
    public var waitingFor: [String] = []

    public init(ownSeq: UInt64, target: UInt64?, waitingFor: [String] = []) {
        self.ownSeq = ownSeq
        self.target = target
        self.waitingFor = waitingFor
    }

    public var description: String {
        if target == nil, !waitingFor.isEmpty {
            return "this node was restored from a backup and waits until every configured peer has answered (still pending: \(waitingFor.joined(separator: ", "))); local writes resume then"
        }
        guard let target else {
            return "this node is starting and asking its peers whether it was restored from a backup; local writes resume in a few seconds"
        }
        return "this node was restored from an older backup and is pulling back its own changes (has \(ownSeq) of \(target)); local writes resume once it has caught up"
    }
}

/// A second connection to the same replica for the merged-view queries,
/// opened read-only: with WAL it reads the last committed state while the
/// writer applies a batch, so reads never wait for sync, and nothing on
/// this path can write. Its queries block too, so it has its own thread
/// (not the writer's, not the cooperative pool's).
public actor ReplicaReader {
    let replica: ReadOnlyReplica
    public nonisolated let storeThread = StoreThread(name: "kotosync-reader")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { storeThread.asUnownedSerialExecutor() }

    public init(_ replica: ReadOnlyReplica) {
        self.replica = replica
    }

    public func withView<T: Sendable>(_ body: (MergedView) throws -> T) throws -> T {
        try body(replica.view)
    }
}

/// Local writes are refused while this node's clock is further than the HLC
/// bound from the median of its peers' clocks.
public struct ClockSkew: HTTPResponseError, Sendable {
    public var status: HTTPStatus { .serviceUnavailable }
    public var code: String { "clock_skew" }
    public var message: String { description }

    /// How far this node's clock runs ahead of the peers' median (negative: behind).
    public let aheadMillis: Int64
    public let peers: Int
    public let boundMillis: UInt64

    public var description: String {
        let seconds = Double(aheadMillis.magnitude) / 1000
        return "this node's clock is \(Int(seconds.rounded())) s \(aheadMillis > 0 ? "ahead of" : "behind") the median of its \(peers) peer\(peers == 1 ? "" : "s"), "
            + "further than the HLC bound of \(boundMillis / 1000) s; local writes resume when the clock is fixed"
    }
}

/// Local writes are refused while this node's newest stamp is further than
/// the HLC bound ahead of its wall clock (it wrote while its clock ran
/// ahead): a write now would be stamped after it, and every peer would
/// refuse the batch holding it. It passes by itself once the wall clock
/// reaches the stamp minus the bound.
public struct StampsAhead: HTTPResponseError, Sendable {
    public var status: HTTPStatus { .serviceUnavailable }
    public var code: String { "clock_skew" }
    public var message: String { description }

    public let aheadMillis: UInt64
    public let boundMillis: UInt64

    public var description: String {
        let wait = (aheadMillis - boundMillis + 999) / 1000
        return "this node holds changes stamped \(aheadMillis / 1000) s ahead of its wall clock (written while its clock ran ahead), "
            + "further than the HLC bound of \(boundMillis / 1000) s; local writes resume in about \(wait) s, "
            + "when its clock has caught up with them"
    }
}
