import Foundation
public import KotoCore
import KotoCrypto
import KotoHTTP
import KotoStore

/// `kotosyncd repair-fork`: mends a node whose own change history forked
/// (restored from an old backup, it handed out seqs its peers already hold
/// under other changes). With the daemon stopped, it pulls the region's
/// real history — this node's own included — from every peer it reaches into
/// a new database, carries over the other origins' changes only the old
/// database held, re-issues this node's forked local writes as new changes
/// (new dots, so nothing acknowledged is lost), and swaps the databases,
/// keeping the old one beside it for the record.
public enum ForkRepair {
    public struct Report: Sendable, CustomStringConvertible {
        public var peersAnswered: [String] = []
        public var pulled = 0
        /// This node's own changes the peers held, and the first own seq whose change differed (the fork point).
        public var ownSeqAtPeers: UInt64 = 0
        public var forkedFrom: UInt64?
        /// New dots of the re-issued local writes.
        public var reissued: [Dot] = []
        /// Forked local writes that could not be re-issued, and why (ids and reasons, never values).
        public var notReissued: [String] = []
        /// Changes only the old database held that continue their chains, carried over as they are.
        public var carriedOver = 0
        public var oldDatabase = ""

        public var description: String {
            var lines = [
                "pulled \(pulled) changes from \(peersAnswered.joined(separator: ", "))",
                "own changes held by peers: \(ownSeqAtPeers)" + (forkedFrom.map { "; own history forked from seq \($0)" } ?? "; no fork found"),
                "re-issued \(reissued.count) forked local writes as new changes"
                    + (reissued.isEmpty ? "" : " (\(reissued.first!)…\(reissued.last!))"),
            ]
            if carriedOver > 0 { lines.append("carried over \(carriedOver) changes that only this node held") }
            for problem in notReissued { lines.append("not re-issued: \(problem)") }
            lines.append("the forked database is kept as \(oldDatabase); start kotosyncd as usual")
            return lines.joined(separator: "\n")
        }
    }

    public struct RepairError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs the repair. Nothing is changed unless every configured peer that
    /// can be contacted (not passive) answered: one that did not might hold
    /// more of this node's changes, and a seq must never be handed out twice.
    public static func run(config: NodeConfig, secrets: Secrets) async throws -> Report {
        try DataFileModes.check(config)
        let setup = try Node.StoreSetup(config: config, secrets: secrets)
        guard FileManager.default.fileExists(atPath: config.databasePath) else {
            throw RepairError("no database at \(config.databasePath): nothing to repair")
        }
        if await daemonAnswers(config) {
            throw RepairError("kotosyncd answers on \(config.host):\(config.port); stop it before repairing")
        }
        let identity = setup.identity, options = setup.options
        let repairedPath = config.databasePath + ".repair"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: repairedPath + suffix) }

        var report = Report()
        do {
            try await pullAndCarryOver(config: config, secrets: secrets, identity: identity, options: options,
                                       repairedPath: repairedPath, report: &report)
        } catch {
            // Nothing changed: the half-built database goes, the forked one stays in place.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: repairedPath + suffix) }
            throw error
        }
        // Both stores are closed here: swap the files.
        report.oldDatabase = config.databasePath + ".forked-\(Int(Date().timeIntervalSince1970))"
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: config.databasePath + suffix) }
        try FileManager.default.moveItem(atPath: config.databasePath, toPath: report.oldDatabase)
        try FileManager.default.moveItem(atPath: repairedPath, toPath: config.databasePath)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: repairedPath + suffix) }
        Log.warning("node.fork_repaired", ["node": config.node, "reissued": String(report.reissued.count),
                                           "notReissued": String(report.notReissued.count)])
        return report
    }

    /// Builds the repaired database at `repairedPath`; both stores are closed when it returns.
    private static func pullAndCarryOver(config: NodeConfig, secrets: Secrets, identity: StoreIdentity, options: StoreOptions,
                                         repairedPath: String, report: inout Report) async throws {
        do {
            let old = try ReplicaStore(path: config.databasePath, nodeID: config.node, identity: identity, options: options)
            try DataFileModes.createFile(repairedPath, key: "dataDirectory")  // 0600, so its -wal and -shm are too
            let repaired = try ReplicaStore(path: repairedPath, nodeID: config.node, identity: identity, options: options)
            let replica = Replica(store: repaired)
            var unreachable: [String] = []
            for peer in config.peers where peer.mode != .passive {
                let link = try PeerLink(peer: peer, config: config, replica: replica, secrets: secrets) { _ in }
                do {
                    _ = try await link.pullUntilCaughtUp()
                    report.peersAnswered.append(peer.node)
                } catch {
                    unreachable.append("\(peer.node) (\(PeerLink.describe(error)))")
                }
            }
            guard unreachable.isEmpty, !report.peersAnswered.isEmpty else {
                throw RepairError("every peer this node contacts must answer, so no seq is handed out twice; not reached: "
                                  + (unreachable.isEmpty ? "none configured" : unreachable.joined(separator: "; ")))
            }
            var carried = report
            try await replica.withStore { repaired in
                try carryOver(from: old, into: repaired, report: &carried)
            }
            report = carried
        }
    }

    /// Moves what only the old database held into the repaired one: other
    /// origins' changes (exactly, when they continue their chains) and this
    /// node's forked local writes (re-issued as new changes).
    static func carryOver(from old: ReplicaStore, into repaired: ReplicaStore, report: inout Report) throws {
        let node = repaired.nodeID
        report.pulled = Int(repaired.logPosition)
        report.ownSeqAtPeers = repaired.versionVector[node]
        let entries = try old.logEntries().map(\.change)
        for change in entries where change.dot.origin == node && change.dot.seq <= report.ownSeqAtPeers {
            if try repaired.chainHash(at: change.dot) != change.chainHash {
                report.forkedFrom = change.dot.seq
                break
            }
        }
        // Own changes from the fork point on are re-issued; without a fork, the
        // own changes no peer holds yet continue the real chain and go over as they are.
        let forkPoint = report.forkedFrom ?? UInt64.max
        var forked: [Change] = []
        var exact: [Change] = []
        for change in entries where !repaired.versionVector.covers(change.dot) || change.dot.origin == node {
            if change.dot.origin == node && change.dot.seq >= forkPoint {
                forked.append(change)
            } else if !repaired.versionVector.covers(change.dot) {
                exact.append(change)
            }
        }
        if !exact.isEmpty {
            do {
                let batch = ChangeBatch(incarnation: old.incarnation, nextPosition: 0, changes: exact)
                report.carriedOver = try repaired.apply(batch, from: node).applied
            } catch {
                report.notReissued.append("\(exact.count) changes held only here could not be carried over: \(error)")
            }
        }
        for change in forked {
            do {
                if let dot = try reissue(change, into: repaired) { report.reissued.append(dot) }
            } catch {
                report.notReissued.append("\(change.record.rawValue) \(change.rowID.lowercased) (was \(change.dot)): \(error)")
            }
        }
    }

    /// Writes one forked local change again as a new local write; nil when
    /// it has nothing left to do (the row is already in that state).
    static func reissue(_ change: Change, into store: ReplicaStore) throws -> Dot? {
        let existing = try store.record(change.record, id: change.rowID)
        switch change.kind {
        case .erase:
            guard let existing, !existing.erased else { return nil }
            return try store.erase(change.record, id: change.rowID).dot
        case .delete:
            guard let existing, !existing.erased, !existing.deleted else { return nil }
            return try store.delete(change.record, id: change.rowID).dot
        case .upsert:
            guard !change.isPurged else {
                throw RepairError("its payload was purged by an erase; the erase is re-issued instead")
            }
            var fields = change.fields
            let restores = fields.removeValue(forKey: deletedFieldName) == .bool(false)
            guard let existing else {
                return try store.create(change.record, id: change.rowID, fields: fields).dot
            }
            if restores && existing.deleted && !existing.erased {
                let dot = try store.restore(change.record, id: change.rowID).dot
                if fields.isEmpty { return dot }
            }
            // A create re-issued onto a row the peers already hold writes only the fields it set.
            fields = fields.filter { $0.value != .null || existing.fields[$0.key] != .null }
            guard !fields.isEmpty else { return nil }
            return try store.update(change.record, id: change.rowID, fields: fields).dot
        }
    }

    /// True when a daemon answers `/healthz` on the configured address: the repair must not run beside it.
    private static func daemonAnswers(_ config: NodeConfig) async -> Bool {
        guard let client = try? AsyncHTTPClient(configuration: HTTPClient.Configuration(connectTimeout: .seconds(2),
                                                                                         totalTimeout: .seconds(3))) else { return false }
        let host = config.host == "0.0.0.0" ? "127.0.0.1" : config.host
        let response = try? await client.send(.get, "http://\(host):\(config.port)/healthz", headers: [:])
        return response?.status == .ok
    }
}
