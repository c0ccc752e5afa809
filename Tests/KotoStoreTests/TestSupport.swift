import Foundation
import KotoCore
import KotoTestSupport
@testable import KotoStore

func makeStore(_ directory: TemporaryDirectory, node: String, clock: ManualClock, skewMillis: Int64 = 0,
               synchronous: SynchronousMode = .normal) throws -> ReplicaStore {
    var options = StoreOptions()
    options.synchronous = synchronous
    options.now = { UInt64(Int64(clock.now) + skewMillis) }
    return try ReplicaStore(path: directory.path("\(node).sqlite"), nodeID: node, identity: TestKeys.identity(node), options: options)
}

// MARK: - Helpers for the focused store tests

/// A temporary directory and a manual clock, and stores opened in that
/// directory on that clock. Opening goes through the harness, so the
/// directory outlives every store opened from it by path.
final class StoreHarness {
    let directory: TemporaryDirectory
    let clock: ManualClock

    init(clock: ManualClock = ManualClock()) throws {
        directory = try TemporaryDirectory()
        self.clock = clock
    }

    func path(_ name: String) -> String { directory.path(name) }

    /// Opens (creating if needed) `<file ?? node>.sqlite` for `node`; `configure` adjusts the options.
    func open(_ node: String, file: String? = nil, clock: ManualClock? = nil, skewMillis: Int64 = 0,
              configure: (inout StoreOptions) -> Void = { _ in }) throws -> ReplicaStore {
        let wall = clock ?? self.clock
        var options = StoreOptions()
        options.synchronous = .normal
        options.now = { UInt64(Int64(wall.now) + skewMillis) }
        configure(&options)
        return try ReplicaStore(path: path("\(file ?? node).sqlite"), nodeID: node, identity: TestKeys.identity(node), options: options)
    }
}

/// Pulls from `peer` into `puller` batch after batch until nothing is left,
/// exactly as a node does (cursor, version vector); returns what was sent.
@discardableResult
func pullAll(_ puller: ReplicaStore, from peer: ReplicaStore, limit: Int = 100) throws -> [Change] {
    var received: [Change] = []
    for _ in 0..<10_000 {
        let since = try puller.peerCursor(peer.nodeID)?.position ?? 0
        let batch = try peer.readLog(after: since, notCoveredBy: puller.versionVector, limit: limit)
        try puller.apply(batch, from: peer.nodeID)
        received += batch.changes
        if batch.changes.isEmpty { return received }
    }
    throw PullDidNotSettle()
}

struct PullDidNotSettle: Error {}

/// Everything observable about a store, in memory and on disk, to check that
/// a refused or rolled-back operation changed nothing. Its description leaves
/// out record values (the dump holds personal data), so a failed comparison
/// never prints them.
struct StoreSnapshot: Equatable, CustomStringConvertible {
    let dump: String
    let versionVector: VersionVector
    let seq: UInt64
    let logPosition: UInt64
    let lastHLC: HLC
    let incarnation: String
    /// `node_state` (seq, hlc, log_end) and `version_vector` as stored.
    let persistedState: [Int64]
    let persistedVector: VersionVector
    let log: [LogLine]
    let cursors: [PeerCursor]

    struct LogLine: Equatable {
        let position: UInt64
        let change: Change
    }

    init(_ store: ReplicaStore) throws {
        dump = try store.canonicalDump()
        versionVector = store.versionVector
        seq = store.seq
        logPosition = store.logPosition
        lastHLC = store.lastHLC
        incarnation = store.incarnation
        persistedState = try store.database.query("SELECT seq, hlc, log_end FROM node_state") { row in
            [row.int64(0), row.int64(1), row.int64(2)]
        }.first ?? []
        persistedVector = VersionVector(Dictionary(
            try store.database.query("SELECT origin, seq FROM version_vector") { ($0.string(0) ?? "", UInt64($0.int64(1))) },
            uniquingKeysWith: max))
        log = try store.logEntries().map { LogLine(position: $0.position, change: $0.change) }
        let peers = try store.database.query("SELECT peer FROM peer_cursors ORDER BY peer") { $0.string(0) ?? "" }
        cursors = try peers.compactMap { try store.peerCursor($0) }
    }

    var description: String {
        "StoreSnapshot(seq: \(seq), log: \(logPosition) [\(log.map { "\($0.position):\($0.change.dot)" }.joined(separator: " "))], "
            + "vv: \(versionVector), hlc: \(lastHLC), persisted: \(persistedState) \(persistedVector), "
            + "cursors: \(cursors.map { "\($0.peer)@\($0.position)/\($0.consecutiveFailures)" }), dump: \(dump.utf8.count) bytes)"
    }
}

/// The error `body` throws when it is an `E`; nil when it throws nothing or
/// another error. Used instead of `#expect(throws:)` inside closures: with
/// Swift 6.3.1, a `#expect(throws:)` closure in a closure body followed by
/// more `#expect`s and another closure literal can end up sharing that
/// literal's closure discriminator, so the later literal runs the
/// `#expect` closure's body instead of its own.
func thrownError<E: Error, R>(_ type: E.Type, _ body: () throws -> R) -> E? {
    do {
        _ = try body()
        return nil
    } catch let error as E {
        return error
    } catch {
        return nil
    }
}
