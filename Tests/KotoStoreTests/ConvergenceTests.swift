import Foundation
import KotoCore
import KotoTestSupport
import Synchronization
import Testing
@testable import KotoStore

/// The property the whole design rests on: five replicas (real SQLite files)
/// under random writes and a random, lossy, duplicating, relaying sync
/// schedule end identical after a full exchange, with identical open
/// conflicts that match an independent model of the frontier, and nothing
/// acknowledged lost, also with logs compacted at random moments (each
/// node's floor at what its four peers were last seen to hold; what a log
/// dropped is checked against the rule). `KOTOSYNC_CONVERGENCE_SEEDS=N` runs N scenarios
/// (default 500), `KOTOSYNC_CONVERGENCE_FIRST_SEED=S` starts elsewhere.
@Suite struct ConvergenceTests {
    static let seeds = scenarioSeeds(environmentPrefix: "KOTOSYNC_CONVERGENCE", defaultCount: 500)

    @Test("five replicas converge", arguments: seeds)
    func fiveReplicasConverge(seed: UInt64) throws {
        var scenario = try Scenario(seed: seed)
        try scenario.run()
    }
}

/// One seeded scenario.
struct Scenario {
    let seed: UInt64
    var rng: SeededGenerator
    let directory: TemporaryDirectory
    let clock = ManualClock()
    let nodes = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]
    var stores: [ReplicaStore] = []
    /// Every acknowledged local write.
    var acknowledged: [Change] = []
    /// Batches produced earlier, kept to re-send late: (puller, peer, batch).
    var sentBatches: [(puller: Int, peer: Int, batch: ChangeBatch)] = []
    var created: [RecordKind: [UUID]] = [:]
    var serial = 0
    /// Each node's wall clock skew; the clock-bound case moves one far ahead for a while.
    let skews: [SkewBox]
    /// Restore case: (node, backup file) taken mid-scenario, restored later.
    var backup: (node: Int, path: String)?
    var restores = 0
    /// Clock-bound case: the node whose clock ran too far ahead, while receivers still refuse its changes.
    var aheadNode: Int?
    var refusals = 0
    /// Compaction's own stream, so the schedule of writes and syncs a seed draws is the same with it as without.
    var compactionRNG: SeededGenerator
    var compactions = 0

    init(seed: UInt64) throws {
        self.seed = seed
        rng = SeededGenerator(seed: seed)
        compactionRNG = SeededGenerator(seed: seed ^ 0x636f_6d70_6163_74)
        directory = try TemporaryDirectory()
        var skews: [SkewBox] = []
        for node in nodes {
            // Wall clocks skewed by up to ±2 minutes: HLC must not care.
            let skew = SkewBox(Int64.random(in: -120_000...120_000, using: &rng))
            skews.append(skew)
            stores.append(try Self.openStore(directory.path("\(node).sqlite"), node: node, clock: clock, skew: skew))
        }
        self.skews = skews
    }

    /// The seeds that run the restore-from-backup case, and those that run the clock-bound case (never both).
    static func clockCase(_ seed: UInt64) -> Bool { seed % 7 == 3 }
    static func restoreCase(_ seed: UInt64) -> Bool { seed % 5 == 0 && !clockCase(seed) }

    static func openStore(_ path: String, node: String, clock: ManualClock, skew: SkewBox) throws -> ReplicaStore {
        var options = StoreOptions()
        options.synchronous = .normal
        options.now = { UInt64(Int64(clock.now) + skew.millis) }
        return try ReplicaStore(path: path, nodeID: node, identity: TestKeys.identity(node), options: options)
    }

    func context(_ text: String) -> Comment { Comment(rawValue: "seed \(seed): \(text)") }

    mutating func run() throws {
        let steps = Int.random(in: 60...160, using: &rng)
        // Some seeds back a store up and restore it later; some run one clock too far ahead for a while.
        let backupAt = Self.restoreCase(seed) ? Int.random(in: 0..<steps / 2, using: &rng) : -1
        let restoreAt = backupAt + Int.random(in: 5...steps / 2, using: &rng)
        let aheadAt = Self.clockCase(seed) ? Int.random(in: 0..<steps / 2, using: &rng) : -1
        let aheadFixedAt = aheadAt + Int.random(in: 3...20, using: &rng)
        for step in 0..<steps {
            clock.advance(by: UInt64.random(in: 0...2_000, using: &rng))
            if step == backupAt { try takeBackup(of: Int.random(in: 0..<stores.count, using: &rng)) }
            if step == restoreAt { try restoreBackup() }
            if step == aheadAt { try runClockAhead(Int.random(in: 0..<stores.count, using: &rng)) }
            if step == aheadFixedAt, let node = aheadNode { skews[node].millis = skews[node].base }
            if Int.random(in: 0..<100, using: &rng) < 55 {
                let node = Int.random(in: 0..<stores.count, using: &rng)
                try randomWrite(at: node)
            } else {
                try randomSync()
            }
            // Between a backup and its restore no floor rises: the restored node must pull back from the logs.
            if backup == nil, Int.random(in: 0..<100, using: &compactionRNG) < 8 {
                try compact(Int.random(in: 0..<stores.count, using: &compactionRNG))
            }
        }
        if aheadNode != nil {
            // The receivers' clocks catch up with the refused changes' HLCs: from now on they are taken.
            if let node = aheadNode { skews[node].millis = skews[node].base }
            clock.advance(by: UInt64(Self.aheadByMillis) + 600_000)
            aheadNode = nil
        }
        try fullExchange()
        if Self.restoreCase(seed) { #expect(restores == 1, context("the restore case ran")) }
        if Self.clockCase(seed) { #expect(refusals > 0, context("the clock-bound case refused a batch")) }
        try checkConverged(stage: "after the random schedule")
        // Every node holds everything and has seen every other hold it: each floor rises to the version vector.
        for node in stores.indices { try compact(node) }
        for store in stores { #expect(store.logFloor == store.versionVector, context("\(store.nodeID)'s floor after the full exchange")) }
        // Resolving a conflict checks everything again after its exchange; without one, check here.
        if try stores[0].openConflictCount() == 0 { try checkConverged(stage: "after compacting every log") }
        try resolveOneConflict()
    }

    /// Raises `node`'s floor to what its four peers were last seen to hold and compacts its log.
    mutating func compact(_ node: Int) throws {
        let store = stores[node]
        let digest = store.stateDigest, vector = store.versionVector, conflicts = try store.openConflictCount()
        let peers = nodes.filter { $0 != nodes[node] }
        try store.compact(ReplicaStore.FloorPolicy(peers: peers, horizonMillis: 30 * 24 * 3600 * 1000), chunk: Int.random(in: 1...64, using: &compactionRNG))
        compactions += 1
        // The state digest covers every row's values, stamps, row clock and conflicts.
        let conflictsAfter = try store.openConflictCount()
        #expect(store.stateDigest == digest && store.versionVector == vector && conflictsAfter == conflicts,
                context("compaction changed \(nodes[node])'s merged state"))
        #expect(try store.logEntryCount() == (try store.logEntries().count), context("\(nodes[node])'s entry count"))
    }

    // MARK: Writes

    mutating func randomWrite(at node: Int) throws {
        let store = stores[node]
        let roll = Int.random(in: 0..<100, using: &rng)
        serial += 1
        if roll < 12 || created.isEmpty {
            let id = UUID()
            acknowledged.append(try store.create(.client, id: id, fields: Sample.client(&rng, number: serial)))
            created[.client, default: []].append(id)
            return
        }
        if roll < 18 {
            let id = UUID()
            acknowledged.append(try store.create(.service, id: id, fields: Sample.service(&rng, number: serial)))
            created[.service, default: []].append(id)
            return
        }
        if roll < 24 {
            guard let client = try liveRow(.client, at: store), let service = try liveRow(.service, at: store) else { return }
            let id = UUID()
            acknowledged.append(try store.create(.placement, id: id, fields: Sample.enrolment(client: client, service: service)))
            created[.placement, default: []].append(id)
            return
        }
        let kind = RecordKind.allCases.randomElement(using: &rng)!
        guard let ids = created[kind], let id = ids.randomElement(using: &rng),
              let record = try store.record(kind, id: id), !record.erased, !record.awaitingErase else { return }
        if roll < 80 {
            // Only complete records are updated. A row of which a purged change
            // arrived before its erase is awaiting that erase and takes no local write.
            guard !record.deleted, RecordValidator().problems(in: record.fields, kind: kind).isEmpty else { return }
            acknowledged.append(try store.update(kind, id: id, fields: Sample.update(kind, &rng)))
        } else if roll < 90 {
            guard !record.deleted else { return }
            acknowledged.append(try store.delete(kind, id: id))
        } else if roll < 97 {
            acknowledged.append(try store.restore(kind, id: id))
        } else {
            acknowledged.append(try store.erase(kind, id: id))
        }
    }

    mutating func liveRow(_ kind: RecordKind, at store: ReplicaStore) throws -> UUID? {
        let candidates = (created[kind] ?? []).shuffled(using: &rng)
        for id in candidates {
            // A row awaiting the erase of a purged change takes no writes (it is being erased).
            if let record = try store.record(kind, id: id), !record.erased, !record.awaitingErase, !record.deleted { return id }
        }
        return nil
    }

    // MARK: Sync

    mutating func randomSync() throws {
        let puller = Int.random(in: 0..<stores.count, using: &rng)
        var peer = Int.random(in: 0..<stores.count - 1, using: &rng)
        if peer >= puller { peer += 1 }
        let limit = Int.random(in: 1...8, using: &rng)
        let mode = Int.random(in: 0..<100, using: &rng)
        if mode < 8, !sentBatches.isEmpty {
            // A late, re-sent batch from earlier: must change nothing wrongly.
            let old = sentBatches.randomElement(using: &rng)!
            _ = try apply(old.batch, to: old.puller, from: old.peer)
            return
        }
        let batch = try pull(puller, from: peer, limit: limit)
        if mode < 16 {
            return // lost on the way: never applied
        }
        if mode < 26, !batch.changes.isEmpty, aheadNode == nil {
            try interruptedApply(batch, puller: puller, peer: peer)
            return
        }
        guard try apply(batch, to: puller, from: peer) != nil else { return }
        if mode < 36 {
            _ = try apply(batch, to: puller, from: peer) // duplicated delivery
        }
        if mode > 70 {
            // Catch up batch after batch.
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let more = try pull(puller, from: peer, limit: limit)
                if more.changes.isEmpty { break }
                guard try apply(more, to: puller, from: peer) != nil else { break }
            }
        }
    }

    /// Applies a batch; nil when it was refused whole because a change's clock is
    /// too far ahead (only while the clock-bound case runs): then nothing changed.
    mutating func apply(_ batch: ChangeBatch, to puller: Int, from peer: Int) throws -> ApplyResult? {
        let store = stores[puller]
        guard aheadNode != nil else { return try store.apply(batch, from: nodes[peer]) }
        let vvBefore = store.versionVector, logBefore = store.logPosition, digestBefore = store.stateDigest
        let headsBefore = store.chainHeads, hlcBefore = store.lastHLC
        do {
            return try store.apply(batch, from: nodes[peer])
        } catch ReplicaStoreError.batchRefused(let reason) {
            refusals += 1
            #expect(reason.contains("clock") && reason.contains("ahead"), context("refusal names the clock: \(reason)"))
            #expect(batch.changes.contains { $0.dot.origin == nodes[aheadNode!] }, context("only batches with the fast clock's changes are refused"))
            #expect(store.versionVector == vvBefore && store.logPosition == logBefore && store.stateDigest == digestBefore
                        && store.chainHeads == headsBefore && store.lastHLC == hlcBefore,
                    context("a refused batch applied nothing"))
            return nil
        }
    }

    // MARK: Restore from backup, clock bound

    /// Copies `node`'s database file (checkpointed, with whatever -wal/-shm remain) as a backup.
    mutating func takeBackup(of node: Int) throws {
        let store = stores[node]
        _ = try store.database.query("PRAGMA wal_checkpoint(TRUNCATE)") { _ in 0 }
        let source = directory.path("\(nodes[node]).sqlite")
        let target = directory.path("\(nodes[node])-backup.sqlite")
        let files = FileManager.default
        for suffix in ["", "-wal", "-shm"] where files.fileExists(atPath: source + suffix) {
            try files.copyItem(atPath: source + suffix, toPath: target + suffix)
        }
        backup = (node, target)
    }

    /// The node's disk is lost: it comes back from the backup, starts a new log
    /// incarnation, and pulls its own later changes back before it writes again.
    mutating func restoreBackup() throws {
        guard let (node, path) = backup else { return }
        backup = nil
        restores += 1
        // What it wrote since the backup is held by a peer (it syncs, the disk fails later).
        let holder = (node + 1 + Int.random(in: 0..<stores.count - 1, using: &rng)) % stores.count
        for _ in 0..<1_000 {
            let batch = try pull(holder, from: node, limit: 50)
            guard try apply(batch, to: holder, from: node) != nil, !batch.changes.isEmpty else { break }
        }
        sentBatches.removeAll()  // nothing of the lost disk's incarnation arrives late
        let target = stores.indices.map { stores[$0].versionVector[nodes[node]] }.max() ?? 0
        let restored = try Self.openStore(path, node: nodes[node], clock: clock, skew: skews[node])
        #expect(restored.seq <= target, context("a backup holds no more than the region"))
        try restored.startNewIncarnation()
        stores[node] = restored
        for peer in stores.indices.shuffled(using: &rng) where peer != node {
            for _ in 0..<1_000 {
                let batch = try pull(node, from: peer, limit: Int.random(in: 1...20, using: &rng))
                guard try apply(batch, to: node, from: peer) != nil, !batch.changes.isEmpty else { break }
            }
        }
        // Only now may it write again: a lower seq would hand out a dot twice.
        try #require(restored.seq == target, context("the restored node got its own changes back (\(restored.seq) of \(target))"))
    }

    /// How far beyond the bound the fast clock runs (skews are within ±2 minutes on top).
    static let aheadByMillis: Int64 = 60_000

    /// `node`'s clock jumps beyond the bound: its next change is refused whole by every receiver.
    mutating func runClockAhead(_ node: Int) throws {
        aheadNode = node
        skews[node].millis = skews[node].base + Int64(StoreOptions().maxClockAheadMillis) + 240_000 + Self.aheadByMillis
        if let id = try liveRow(.client, at: stores[node]) {
            acknowledged.append(try stores[node].update(.client, id: id, fields: Sample.update(.client, &rng)))
        } else {
            serial += 1
            let id = UUID()
            acknowledged.append(try stores[node].create(.client, id: id, fields: Sample.client(&rng, number: serial)))
            created[.client, default: []].append(id)
        }
        var receiver = Int.random(in: 0..<stores.count - 1, using: &rng)
        if receiver >= node { receiver += 1 }
        let before = refusals
        for _ in 0..<100 {
            let batch = try pull(receiver, from: node, limit: 50)
            guard try apply(batch, to: receiver, from: node) != nil, !batch.changes.isEmpty else { break }
        }
        #expect(refusals == before + 1, context("the fast clock's change is refused"))
    }

    mutating func pull(_ puller: Int, from peer: Int, limit: Int) throws -> ChangeBatch {
        let cursor = try stores[puller].peerCursor(nodes[peer])
        // A cursor into another incarnation of the peer's log means nothing: start again from 0.
        let since = cursor?.incarnation == stores[peer].incarnation ? cursor?.position ?? 0 : 0
        // The peer learns what the puller holds, as `SyncAPI.pull` tells it: its floor may rise to that.
        stores[peer].notePeerVector(nodes[puller], stores[puller].versionVector)
        let batch = try stores[peer].readLog(after: since, notCoveredBy: stores[puller].versionVector, limit: limit)
        // Through the wire format, as over HTTP.
        let decoded = try WireFormat.decode(WireFormat.encode(batch))
        #expect(decoded == batch, context("wire round trip"))
        sentBatches.append((puller, peer, decoded))
        return decoded
    }

    /// A batch that fails on its n-th entry must leave the store exactly as before.
    mutating func interruptedApply(_ batch: ChangeBatch, puller: Int, peer: Int) throws {
        let store = stores[puller]
        let failAt = Int.random(in: 0..<batch.changes.count, using: &rng)
        let before = try store.canonicalDump()
        let vvBefore = store.versionVector, logBefore = store.logPosition, cursorBefore = try store.peerCursor(nodes[peer])
        struct Injected: Error {}
        store.beforeApplyingEntry = { index in if index == failAt { throw Injected() } }
        defer { store.beforeApplyingEntry = nil }
        #expect(throws: Injected.self, context("injected failure")) { try store.apply(batch, from: nodes[peer]) }
        #expect(store.versionVector == vvBefore, context("version vector after a failed batch"))
        #expect(store.logPosition == logBefore, context("log position after a failed batch"))
        #expect(try store.peerCursor(nodes[peer]) == cursorBefore, context("cursor after a failed batch"))
        #expect(try store.canonicalDump() == before, context("records after a failed batch"))
    }

    /// Every node pulls every other until nothing moves.
    mutating func fullExchange() throws {
        var rounds = 0
        while true {
            rounds += 1
            try #require(rounds < 50, context("full exchange did not settle"))
            var moved = false
            for puller in stores.indices {
                for peer in stores.indices where peer != puller {
                    while true {
                        let batch = try pull(puller, from: peer, limit: 50)
                        let result = try #require(try apply(batch, to: puller, from: peer), context("full exchange refused"))
                        if result.applied > 0 { moved = true }
                        if batch.changes.isEmpty { break }
                    }
                }
            }
            if !moved { break }
        }
        sentBatches.removeAll()
    }

    // MARK: Checks

    func checkConverged(stage: String) throws {
        let reference = try stores[0].canonicalDump()
        let referenceConflicts = try stores[0].openConflicts()
        var everyDot = VersionVector()
        for change in acknowledged { everyDot.advance(to: change.dot) }
        for (index, store) in stores.enumerated() {
            #expect(store.versionVector == everyDot, context("\(stage): \(nodes[index]) holds every acknowledged write"))
            #expect(Int(store.logPosition) == acknowledged.count, context("\(stage): \(nodes[index]) logged each change once"))
            let same = try store.canonicalDump() == reference
            #expect(same, context("\(stage): \(nodes[index]) differs from \(nodes[0])"))
            let conflicts = try store.openConflicts().map { ConflictFacts($0, including: []) }
            #expect(conflicts == referenceConflicts.map { ConflictFacts($0, including: []) }, context("\(stage): \(nodes[index]) conflicts"))
            // Values are compared, never printed.
            let sameDetails = try store.openConflicts().map(ConflictFacts.init) == referenceConflicts.map(ConflictFacts.init)
            #expect(sameDetails, context("\(stage): \(nodes[index])'s conflict values or HLCs differ from \(nodes[0])'s"))
            #expect(store.chainHeads == stores[0].chainHeads, context("\(stage): \(nodes[index])'s chain heads"))
            #expect(!store.stateDigestProvisional, context("\(stage): \(nodes[index])'s state digest is provisional"))
            #expect(store.stateDigest == stores[0].stateDigest, context("\(stage): \(nodes[index])'s state digest"))
        }
        try checkLogs(stage: stage)
        try checkAgainstModel(stage: stage)
    }

    /// Every replica logs the same changes: per dot the same chain link, kind,
    /// HLC, row clock and payload (a purged entry by its payload digest; purged
    /// on one replica iff on all that still hold it), and each acknowledged
    /// write under its own dot with its own link: no dot was ever handed out
    /// twice. A log lacks only what compaction may drop: entries its floor
    /// covers that are no erase, no chain head and in no frontier.
    func checkLogs(stage: String) throws {
        var written: [Dot: Change] = [:]
        for change in acknowledged {
            #expect(written.updateValue(change, forKey: change.dot) == nil, context("\(stage): \(change.dot) acknowledged twice"))
        }
        var reference: [Dot: (node: Int, entry: Change)] = [:]
        for (index, store) in stores.enumerated() {
            let log = try logByDot(store)
            #expect(Set(log.keys).isSubset(of: Set(written.keys)), context("\(stage): \(nodes[index])'s log holds only acknowledged dots"))
            if store.logFloor.isEmpty {
                #expect(Set(log.keys) == Set(written.keys), context("\(stage): \(nodes[index])'s uncompacted log holds every acknowledged dot"))
            }
            for (dot, entry) in log {
                if written[dot]?.chainHash != entry.chainHash {
                    Issue.record(context("\(stage): \(nodes[index]) holds another change under \(dot) than was acknowledged"))
                }
                guard let (first, other) = reference[dot] else {
                    reference[dot] = (index, entry)
                    continue
                }
                #expect(entry.kind == other.kind && entry.hlc == other.hlc && entry.rowClock == other.rowClock
                            && entry.record == other.record && entry.rowID == other.rowID,
                        context("\(stage): \(dot)'s header differs at \(nodes[index])"))
                #expect(entry.isPurged == other.isPurged, context("\(stage): \(dot) purged at only one of \(nodes[index]), \(nodes[first])"))
                if entry.isPurged || other.isPurged {
                    #expect(entry.purgedPayloadDigest == other.purgedPayloadDigest, context("\(stage): \(dot)'s payload digest differs at \(nodes[index])"))
                } else {
                    let samePayload = entry.fields == other.fields
                    #expect(samePayload, context("\(stage): \(dot)'s payload differs at \(nodes[index])"))
                }
            }
            for (dot, change) in written where log[dot] == nil {
                let what = "\(stage): \(nodes[index]) dropped \(dot)"
                #expect(store.logFloor.covers(dot), context("\(what), which its floor does not cover"))
                #expect(change.kind != .erase, context("\(what), an erase"))
                #expect(store.versionVector[dot.origin] != dot.seq, context("\(what), its origin's chain head"))
                let record = try store.record(change.record, id: change.rowID)
                #expect(record?.stamps.values.contains { $0.dot == dot } != true, context("\(what), a field's winning write"))
                #expect(try store.openConflicts(change.record, rowID: change.rowID).allSatisfy { $0.dot != dot },
                        context("\(what), an open conflict"))
            }
        }
    }

    func logByDot(_ store: ReplicaStore) throws -> [Dot: Change] {
        var log: [Dot: Change] = [:]
        for (_, change) in try store.logEntries() {
            #expect(log.updateValue(change, forKey: change.dot) == nil, context("\(store.nodeID) logs \(change.dot) twice"))
        }
        return log
    }

    /// An independent model of the merge: per field, the winner is the
    /// greatest (hlc, origin) of all writes, and the frontier the writes no
    /// other write to the field saw.
    func checkAgainstModel(stage: String) throws {
        let store = stores[0]
        var byRow: [RowKey: [Change]] = [:]
        for change in acknowledged { byRow[RowKey(record: change.record, id: change.rowID), default: []].append(change) }
        var expectedConflicts: Set<ConflictFacts> = []
        var expectedDetails: Set<ConflictFacts> = []
        /// The merge rule written out here, not borrowed: greater `(hlc, origin)` wins.
        func greater(_ a: Change, _ b: Change) -> Bool {
            a.hlc.rawValue != b.hlc.rawValue ? a.hlc.rawValue > b.hlc.rawValue : a.dot.origin > b.dot.origin
        }
        for (key, changes) in byRow {
            let record = try #require(try store.record(key.record, id: key.id), context("\(stage): row missing"))
            if changes.contains(where: { $0.kind == .erase }) {
                #expect(record.erased, context("\(stage): erased row"))
                #expect(record.fields.values.allSatisfy { $0.isNull }, context("\(stage): erased row keeps no values"))
                continue
            }
            var names: Set<String> = []
            for change in changes { names.formUnion(change.fields.keys) }
            for name in names {
                let writes = changes.filter { $0.fields[name] != nil }
                let winner = writes.max { greater($1, $0) }!
                #expect(record.fields[name] == winner.fields[name], context("\(stage): \(key.record) field \(name) value"))
                #expect(record.stamps[name]?.dot == winner.dot, context("\(stage): \(key.record) field \(name) winner"))
                for write in writes where write.dot != winner.dot {
                    let seen = writes.contains { $0.dot != write.dot && $0.rowClock.covers(write.dot) }
                    if !seen {
                        expectedConflicts.insert(ConflictFacts(record: key.record, rowID: key.id, field: name, dot: write.dot, winner: winner.dot))
                        expectedDetails.insert(ConflictFacts(record: key.record, rowID: key.id, field: name, dot: write.dot,
                                                             winner: winner.dot, hlc: write.hlc, value: write.fields[name]!))
                    }
                }
            }
        }
        let actual = Set(try store.openConflicts().map { ConflictFacts($0, including: []) })
        #expect(actual == expectedConflicts, context("\(stage): open conflicts match the frontier model"))
        let sameDetails = Set(try store.openConflicts().map(ConflictFacts.init)) == expectedDetails
        #expect(sameDetails, context("\(stage): open conflicts' values and HLCs match the model"))
    }

    /// A write whose row clock covers the whole frontier closes the conflict everywhere.
    mutating func resolveOneConflict() throws {
        guard let conflict = try stores[0].openConflicts().first else { return }
        let node = Int.random(in: 0..<stores.count, using: &rng)
        let store = stores[node]
        let record = try #require(try store.record(conflict.record, id: conflict.rowID))
        if conflict.field == deletedFieldName {
            acknowledged.append(try store.restore(conflict.record, id: conflict.rowID))
        } else if record.deleted {
            acknowledged.append(try store.restore(conflict.record, id: conflict.rowID))
            let value = Sample.update(conflict.record, &rng)
            _ = value
            acknowledged.append(try store.update(conflict.record, id: conflict.rowID, fields: [conflict.field: record.fields[conflict.field] ?? .null]))
        } else {
            acknowledged.append(try store.update(conflict.record, id: conflict.rowID, fields: [conflict.field: record.fields[conflict.field] ?? .null]))
        }
        try fullExchange()
        for (index, replica) in stores.enumerated() {
            let open = try replica.openConflicts(conflict.record, rowID: conflict.rowID).filter { $0.field == conflict.field }
            #expect(open.isEmpty, context("resolved conflict still open at \(nodes[index])"))
        }
        try checkConverged(stage: "after resolving a conflict")
    }
}

struct RowKey: Hashable {
    let record: RecordKind
    let id: UUID
}

/// A node's wall clock skew, changed by the clock-bound case while its store runs.
final class SkewBox: Sendable {
    let base: Int64
    private let value: Mutex<Int64>

    init(_ base: Int64) {
        self.base = base
        value = Mutex(base)
    }

    var millis: Int64 {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
