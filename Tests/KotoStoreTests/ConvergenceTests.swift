import Foundation
import KotoCore
import Testing
@testable import KotoStore

/// The property the whole design rests on: five replicas (real SQLite files)
/// under random writes and a random, lossy, duplicating, relaying sync
/// schedule end identical after a full exchange, with identical open
/// conflicts that match an independent model of the frontier, and nothing
/// acknowledged lost. `KOTOSYNC_CONVERGENCE_SEEDS=N` runs N scenarios
/// (default 500), `KOTOSYNC_CONVERGENCE_FIRST_SEED=S` starts elsewhere.
@Suite struct ConvergenceTests {
    static let seeds: [UInt64] = {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["KOTOSYNC_CONVERGENCE_SEEDS"].flatMap(UInt64.init) ?? 500
        let first = environment["KOTOSYNC_CONVERGENCE_FIRST_SEED"].flatMap(UInt64.init) ?? 1
        return Array(first..<(first + count))
    }()

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

    init(seed: UInt64) throws {
        self.seed = seed
        rng = SeededGenerator(seed: seed)
        directory = try TemporaryDirectory()
        for node in nodes {
            // Wall clocks skewed by up to ±2 minutes: HLC must not care.
            let skew = Int64.random(in: -120_000...120_000, using: &rng)
            stores.append(try makeStore(directory, node: node, clock: clock, skewMillis: skew))
        }
    }

    func context(_ text: String) -> Comment { Comment(rawValue: "seed \(seed): \(text)") }

    mutating func run() throws {
        let steps = Int.random(in: 60...160, using: &rng)
        for _ in 0..<steps {
            clock.advance(by: UInt64.random(in: 0...2_000, using: &rng))
            if Int.random(in: 0..<100, using: &rng) < 55 {
                try randomWrite(at: Int.random(in: 0..<stores.count, using: &rng))
            } else {
                try randomSync()
            }
        }
        try fullExchange()
        try checkConverged(stage: "after the random schedule")
        try resolveOneConflict()
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
            // Only complete records are updated (a row erased elsewhere waits for its
            // erase, taking no writes, once a purged change of it arrives; see PurgedRelayTests).
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
            try stores[old.puller].apply(old.batch, from: nodes[old.peer])
            return
        }
        let batch = try pull(puller, from: peer, limit: limit)
        if mode < 16 {
            return // lost on the way: never applied
        }
        if mode < 26, !batch.changes.isEmpty {
            try interruptedApply(batch, puller: puller, peer: peer)
            return
        }
        try stores[puller].apply(batch, from: nodes[peer])
        if mode < 36 {
            try stores[puller].apply(batch, from: nodes[peer]) // duplicated delivery
        }
        if mode > 70 {
            // Catch up batch after batch.
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let more = try pull(puller, from: peer, limit: limit)
                if more.changes.isEmpty { break }
                try stores[puller].apply(more, from: nodes[peer])
            }
        }
    }

    mutating func pull(_ puller: Int, from peer: Int, limit: Int) throws -> ChangeBatch {
        let since = try stores[puller].peerCursor(nodes[peer])?.position ?? 0
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
                        let result = try stores[puller].apply(batch, from: nodes[peer])
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
            let conflicts = try store.openConflicts().map(ConflictKey.init)
            #expect(conflicts == referenceConflicts.map(ConflictKey.init), context("\(stage): \(nodes[index]) conflicts"))
        }
        try checkAgainstModel(stage: stage)
    }

    /// An independent model of the merge: per field, the winner is the
    /// greatest (hlc, origin) of all writes, and the frontier the writes no
    /// other write to the field saw.
    func checkAgainstModel(stage: String) throws {
        let store = stores[0]
        var byRow: [RowKey: [Change]] = [:]
        for change in acknowledged { byRow[RowKey(record: change.record, id: change.rowID), default: []].append(change) }
        var expectedConflicts: Set<ConflictKey> = []
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
                let winner = writes.max { FieldStamp(hlc: $1.hlc, dot: $1.dot).wins(over: FieldStamp(hlc: $0.hlc, dot: $0.dot)) }!
                #expect(record.fields[name] == winner.fields[name], context("\(stage): \(key.record) field \(name) value"))
                #expect(record.stamps[name]?.dot == winner.dot, context("\(stage): \(key.record) field \(name) winner"))
                for write in writes where write.dot != winner.dot {
                    let seen = writes.contains { $0.dot != write.dot && $0.rowClock.covers(write.dot) }
                    if !seen {
                        expectedConflicts.insert(ConflictKey(record: key.record, rowID: key.id, field: name, dot: write.dot, winner: winner.dot))
                    }
                }
            }
        }
        let actual = Set(try store.openConflicts().map(ConflictKey.init))
        #expect(actual == expectedConflicts, context("\(stage): open conflicts match the frontier model"))
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

/// A conflict without its node-local `firstSeen`.
struct ConflictKey: Hashable {
    let record: RecordKind
    let rowID: UUID
    let field: String
    let dot: Dot
    let winner: Dot

    init(record: RecordKind, rowID: UUID, field: String, dot: Dot, winner: Dot) {
        self.record = record
        self.rowID = rowID
        self.field = field
        self.dot = dot
        self.winner = winner
    }

    init(_ conflict: OpenConflict) {
        self.init(record: conflict.record, rowID: conflict.rowID, field: conflict.field, dot: conflict.dot, winner: conflict.winner)
    }
}
