import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// The bounded change log: the floor rises to what every configured peer
/// holds (less peers silent past the horizon), and compaction drops only
/// entries the floor covers that are in no frontier, never erases or chain
/// heads; pulls from behind the floor are refused `snapshotRequired`.
@Suite struct CompactionTests {
    static let offices = ["jakobstad", "nykarleby", "kronoby", "pedersore", "larsmo"]
    static let day: UInt64 = 24 * 3600 * 1000

    /// Pulls from `peer` into `puller` until nothing is left, as a node does:
    /// the peer learns the puller's vector from each pull (as `SyncAPI.pull`
    /// tells it), the puller the peer's from each batch's heads.
    static func sync(_ puller: ReplicaStore, from peer: ReplicaStore, limit: Int = 1_000) throws {
        for _ in 0..<10_000 {
            let since = try puller.peerCursor(peer.nodeID)?.position ?? 0
            peer.notePeerVector(puller.nodeID, puller.versionVector)
            let batch = try peer.readLog(after: since, notCoveredBy: puller.versionVector, limit: limit)
            try puller.apply(batch, from: peer.nodeID)
            if batch.changes.isEmpty { return }
        }
        throw PullDidNotSettle()
    }

    static func syncAll(_ stores: [ReplicaStore]) throws {
        for puller in stores {
            for peer in stores where peer !== puller { try sync(puller, from: peer) }
        }
    }

    static func policy(_ store: ReplicaStore, among stores: [ReplicaStore], horizon: UInt64 = 7 * day) -> ReplicaStore.FloorPolicy {
        ReplicaStore.FloorPolicy(peers: stores.map(\.nodeID).filter { $0 != store.nodeID }, horizonMillis: horizon)
    }

    static func loggedDots(_ store: ReplicaStore) throws -> Set<Dot> {
        Set(try store.logEntries().map(\.change.dot))
    }

    static func rowCount(_ store: ReplicaStore) throws -> Int {
        Int(try store.database.query("SELECT (SELECT count(*) FROM clients) + (SELECT count(*) FROM services) + (SELECT count(*) FROM placements)") {
            $0.int64(0)
        }.first ?? 0)
    }

    // MARK: (a) the same rows updated many times across five replicas

    /// Rows and update rounds of the bounded-log test: 200 rows updated 30
    /// times by default (31 s on the loaded 2-core box in a debug build: every
    /// change is merged five times); `KOTOSYNC_COMPACTION_ROWS=1000
    /// KOTOSYNC_COMPACTION_ROUNDS=100` runs the full size (minutes in
    /// debug; `kotosync-bench compaction` runs it in release).
    static let scale: (rows: Int, rounds: Int) = {
        let environment = ProcessInfo.processInfo.environment
        return (environment["KOTOSYNC_COMPACTION_ROWS"].flatMap(Int.init) ?? 200,
                environment["KOTOSYNC_COMPACTION_ROUNDS"].flatMap(Int.init) ?? 30)
    }()

    @Test func logStaysWithinASmallMultipleOfTheLiveRows() throws {
        let harness = try StoreHarness()
        let stores = try Self.offices.map { try harness.open($0) { $0.synchronous = .off } }
        let (rows, rounds) = Self.scale
        var ids: [UUID] = []
        try stores[0].batch {
            for number in 0..<rows {
                let id = UUID()
                try stores[0].create(.client, id: id, fields: Sample.fixedClient(number: number))
                ids.append(id)
            }
        }
        try Self.syncAll(stores)
        let statuses = ClientStatus.allCases.map(\.rawValue)
        var largest = 0
        for round in 0..<rounds {
            harness.clock.advance(by: 1_000)
            // Each row is written once per round, by one of the five in turn; even rounds
            // write its status, odd ones its mother tongue: each write sees the one before.
            for (index, store) in stores.enumerated() {
                try store.batch {
                    for row in stride(from: (index + round) % stores.count, to: rows, by: stores.count) {
                        let fields: FieldMap = round % 2 == 0
                            ? ["status": .text(statuses[(round / 2) % statuses.count])]
                            : ["motherTongue": .text(Sample.languages[(round / 2) % Sample.languages.count])]
                        try store.update(.client, id: ids[row], fields: fields)
                    }
                }
            }
            try Self.syncAll(stores)
            if round % 5 == 4 || round == rounds - 1 {
                for store in stores {
                    let result = try store.compact(Self.policy(store, among: stores))
                    #expect(result.silentPeers.isEmpty)
                    #expect(result.entries == (try store.logEntries().count), "the kept count is the log's")
                    largest = max(largest, result.entries)
                }
            }
        }
        let changes = rows + rows * rounds
        // Per row its create (the fields never written since), the last status and the last
        // mother tongue; plus each origin's chain head; no erases here.
        let bound = 3 * rows + stores.count
        for store in stores {
            #expect(store.logPosition == UInt64(changes), "every change was logged once")
            let held = try store.logEntryCount()
            #expect(held <= bound, "\(store.nodeID) holds \(held) entries for \(rows) rows (bound \(bound))")
            #expect(try Self.rowCount(store) == rows)
            #expect(store.logFloor == store.versionVector, "after a full exchange every peer holds everything")
            #expect(store.stateDigest == stores[0].stateDigest, "\(store.nodeID)'s state digest")
            #expect(try store.canonicalDump() == (try stores[0].canonicalDump()), "\(store.nodeID) converged")
            #expect(store.chainHeads == stores[0].chainHeads)
            #expect(try store.openConflictCount() == 0)
        }
        #expect(largest <= bound, "right after each compaction the log stayed within the bound (largest \(largest))")
        // A compacted log still answers its peers: a new write reaches everyone.
        try stores[2].update(.client, id: ids[7], fields: ["status": .text("assessed")])
        try Self.syncAll(stores)
        #expect(stores.allSatisfy { $0.stateDigest == stores[0].stateDigest })
        // A new replica cannot start from these logs: it is told to bootstrap from a snapshot.
        let newcomer = try harness.open("kronoby", file: "kronoby-new") { $0.synchronous = .off }
        #expect(throws: ReplicaStoreError.snapshotRequired) { try Self.sync(newcomer, from: stores[0]) }
    }

    // MARK: (c) what survives

    /// jakobstad and nykarleby: a row with an open conflict, a row updated
    /// three times, an erased row, and a write nykarleby has not pulled yet.
    struct Pair {
        let harness: StoreHarness
        let jakobstad: ReplicaStore
        let nykarleby: ReplicaStore
        let conflicted = UUID(), updated = UUID(), erased = UUID()
        var policyJ: ReplicaStore.FloorPolicy { .init(peers: ["nykarleby"], horizonMillis: 7 * CompactionTests.day) }
        var policyN: ReplicaStore.FloorPolicy { .init(peers: ["jakobstad"], horizonMillis: 7 * CompactionTests.day) }

        init() throws {
            harness = try StoreHarness()
            jakobstad = try harness.open("jakobstad")
            nykarleby = try harness.open("nykarleby")
            try jakobstad.create(.client, id: conflicted, fields: Sample.fixedClient(number: 1))
            try jakobstad.create(.client, id: updated, fields: Sample.fixedClient(number: 2))
            try jakobstad.create(.client, id: erased, fields: Sample.fixedClient(number: 3))
            try CompactionTests.sync(nykarleby, from: jakobstad)
            harness.clock.advance(by: 10)
            // Concurrent writes to one field: both stay in its frontier.
            try jakobstad.update(.client, id: conflicted, fields: ["status": .text("assessed")])
            try nykarleby.update(.client, id: conflicted, fields: ["status": .text("plan_active")])
            for status in ["assessed", "plan_active", "plan_ended"] {
                harness.clock.advance(by: 10)
                try jakobstad.update(.client, id: updated, fields: ["status": .text(status)])
            }
            try jakobstad.update(.client, id: erased, fields: ["jobseeker": .bool(true)])
            try jakobstad.erase(.client, id: erased)
            try CompactionTests.sync(nykarleby, from: jakobstad)
            try CompactionTests.sync(jakobstad, from: nykarleby)
        }

        func dot(_ origin: String, _ seq: UInt64) -> Dot { Dot(origin: origin, seq: seq) }
    }

    @Test func onlyCoveredEntriesInNoFrontierGoAndErasesAndHeadsStay() throws {
        let pair = try Pair()
        let (jakobstad, nykarleby) = (pair.jakobstad, pair.nykarleby)
        let j = { pair.dot("jakobstad", $0) }, n = { pair.dot("nykarleby", $0) }
        // j1-j3 the creates, j4 and n1 the conflicting statuses, j5-j7 the three updates,
        // j8 a write to the row erased by j9.
        #expect(try Self.loggedDots(jakobstad) == Set((1...9).map(j) + [n(1)]))
        let oldBatch = try nykarleby.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        // Two later writes nykarleby has not pulled: the floor cannot cover them.
        pair.harness.clock.advance(by: 10)
        #expect(try jakobstad.update(.client, id: pair.updated, fields: ["status": .text("closed")]).dot == j(10))
        pair.harness.clock.advance(by: 10)
        #expect(try jakobstad.update(.client, id: pair.updated, fields: ["status": .text("plan_ended")]).dot == j(11))
        let before = try jakobstad.canonicalDump(), digest = jakobstad.stateDigest
        let conflicts = try jakobstad.openConflicts().map { ConflictFacts($0) }
        #expect(conflicts.count == 1)

        let result = try jakobstad.compact(pair.policyJ)
        #expect(result.floor == VersionVector(["jakobstad": 9, "nykarleby": 1]), "what nykarleby holds")
        // Kept: j1 and j2 (their rows' fields nobody wrote since), j4 and n1 (the open
        // conflict's frontier), j9 (an erase), j10 (superseded by j11 but not covered),
        // j11 (the head). Dropped: j5-j7 (superseded, covered), j3 and j8 (an erased row keeps no frontier).
        #expect(try Self.loggedDots(jakobstad) == Set([j(1), j(2), j(4), j(9), j(10), j(11), n(1)]))
        #expect(result.dropped == 5 && result.entries == 7)
        #expect(try jakobstad.logEntryCount() == 7)
        #expect(try jakobstad.canonicalDump() == before, "compaction changes no merged state")
        #expect(jakobstad.stateDigest == digest)
        #expect(try jakobstad.openConflicts().map { ConflictFacts($0) } == conflicts)

        // A dropped dot cannot be compared: no fork is reported, and a late batch holding it is skipped.
        #expect(try jakobstad.chainHash(at: j(5)) == nil)
        #expect(try jakobstad.forks(comparedWith: ["jakobstad": ChainHead(seq: 6, hash: [UInt8](repeating: 7, count: 32))]).isEmpty)
        let late = try jakobstad.apply(oldBatch, from: "nykarleby")
        #expect(late.applied == 0 && late.skipped == oldBatch.changes.count)
        // A held entry still is compared: a forged link under a kept dot is a fork.
        #expect(try jakobstad.forks(comparedWith: ["jakobstad": ChainHead(seq: 4, hash: [UInt8](repeating: 7, count: 32))]) == [j(4)])

        // nykarleby supersedes jakobstad's head j11: covered and in no frontier, it stays as the head.
        try Self.sync(nykarleby, from: jakobstad)
        pair.harness.clock.advance(by: 10)
        #expect(try nykarleby.update(.client, id: pair.updated, fields: ["status": .text("closed")]).dot == n(2))
        try Self.sync(jakobstad, from: nykarleby)
        try Self.sync(nykarleby, from: jakobstad)
        let second = try jakobstad.compact(pair.policyJ)
        #expect(second.floor == VersionVector(["jakobstad": 11, "nykarleby": 2]))
        #expect(try Self.loggedDots(jakobstad) == Set([j(1), j(2), j(4), j(9), j(11), n(1), n(2)]))
        try nykarleby.compact(pair.policyN)
        #expect(try Self.loggedDots(nykarleby) == Set([j(1), j(2), j(4), j(9), j(11), n(1), n(2)]), "the same rule on the other side")

        // Erasing a row some of whose entries are gone purges the rest, on both sides; the erase stays.
        pair.harness.clock.advance(by: 10)
        let erase = try jakobstad.erase(.client, id: pair.updated)
        try Self.sync(nykarleby, from: jakobstad)
        try Self.sync(jakobstad, from: nykarleby)
        for store in [jakobstad, nykarleby] {
            let purged = try store.logEntries().map(\.change).filter { $0.rowID == pair.updated && $0.kind != .erase }
            #expect(!purged.isEmpty && purged.allSatisfy(\.isPurged), "\(store.nodeID) purged the payloads left")
            try store.compact(store === jakobstad ? pair.policyJ : pair.policyN)
            let left = try store.logEntries().map(\.change).filter { $0.rowID == pair.updated }
            // n2 stays as nykarleby's chain head, though purged and in no frontier.
            #expect(Set(left.map(\.dot)) == [erase.dot, n(2)], "\(store.nodeID) keeps only the erase (and a head) of the erased row")
            #expect(try store.record(.client, id: pair.updated)?.erased == true)
        }
        #expect(jakobstad.stateDigest == nykarleby.stateDigest)

        // Reopened, the store reads its chain heads, floor and peers' vectors back.
        let heads = jakobstad.chainHeads, floor = jakobstad.logFloor, count = try jakobstad.logEntryCount()
        let learnt = try jakobstad.peerVector("nykarleby")
        try jakobstad.close()
        let reopened = try pair.harness.open("jakobstad")
        #expect(reopened.chainHeads == heads)
        #expect(reopened.logFloor == floor)
        #expect(try reopened.logEntryCount() == count)
        #expect(try reopened.peerVector("nykarleby") == learnt)
        pair.harness.clock.advance(by: 10)
        try reopened.update(.client, id: pair.conflicted, fields: ["status": .text("assessed")])
        try Self.sync(nykarleby, from: reopened)
        #expect(nykarleby.stateDigest == reopened.stateDigest)
        #expect(try nykarleby.openConflictCount() == 0, "the write saw both sides of the conflict")
    }

    // MARK: The floor

    @Test func pullFromBehindTheFloorIsSnapshotRequired() throws {
        let pair = try Pair()
        try pair.jakobstad.compact(pair.policyJ)
        #expect(!pair.jakobstad.logFloor.isEmpty)
        #expect(throws: ReplicaStoreError.snapshotRequired) {
            try pair.jakobstad.readLog(after: 0, notCoveredBy: VersionVector(["jakobstad": 3]), limit: 100)
        }
        #expect(throws: ReplicaStoreError.snapshotRequired) {
            try pair.jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        }
        // A puller holding the floor is served what it lacks above it.
        let served = try pair.jakobstad.readLog(after: 0, notCoveredBy: pair.jakobstad.logFloor, limit: 100)
        #expect(served.changes.isEmpty)
    }

    @Test func theFloorNeverPassesAConfiguredPeerNorFalls() throws {
        let harness = try StoreHarness()
        let stores = try Self.offices.prefix(3).map { try harness.open($0) }
        let (a, b, c) = (stores[0], stores[1], stores[2])
        for number in 1...4 { try a.create(.client, fields: Sample.fixedClient(number: number)) }
        try Self.sync(b, from: a)
        // c has not been heard from: it holds the floor at nothing.
        let policy = Self.policy(a, among: stores)
        #expect(try a.compact(policy).floor.isEmpty)
        try Self.sync(c, from: a, limit: 2)  // c pulls, its vector grows pull by pull
        #expect(try a.compact(policy).floor == VersionVector(["jakobstad": 4]))
        for number in 5...6 { try a.create(.client, fields: Sample.fixedClient(number: number)) }
        try Self.sync(b, from: a)
        #expect(try a.compact(policy).floor == VersionVector(["jakobstad": 4]), "c lacks 5 and 6")
        // A peer restored from an older backup reports less: the floor does not fall (it is refused 410 instead).
        a.notePeerVector("kronoby", VersionVector(["jakobstad": 2]))
        #expect(try a.compact(policy).floor == VersionVector(["jakobstad": 4]))
        #expect(throws: ReplicaStoreError.snapshotRequired) {
            try a.readLog(after: 0, notCoveredBy: VersionVector(["jakobstad": 2]), limit: 10)
        }
        // A node that pulls without being configured here holds the floor back too while it is heard.
        #expect(try a.compact(.init(peers: ["nykarleby"], horizonMillis: Self.day)).floor == VersionVector(["jakobstad": 4]))
        // With no peer configured or heard nothing reads the log: the floor is the version vector.
        let lone = try harness.open("pedersore")
        for number in 1...2 { try lone.create(.client, fields: Sample.fixedClient(number: number)) }
        #expect(try lone.compact(.init(peers: [], horizonMillis: Self.day)).floor == lone.versionVector)
    }

    @Test func aPeerSilentPastTheHorizonNoLongerHoldsTheFloorBack() throws {
        let harness = try StoreHarness()
        let stores = try Self.offices.prefix(3).map { try harness.open($0) }
        let (a, b, c) = (stores[0], stores[1], stores[2])
        let horizon = 2 * Self.day
        let policy = Self.policy(a, among: stores, horizon: horizon)
        for number in 1...3 { try a.create(.client, fields: Sample.fixedClient(number: number)) }
        try Self.sync(b, from: a)
        try Self.sync(c, from: a)
        #expect(try a.compact(policy).floor == VersionVector(["jakobstad": 3]))
        for number in 4...6 { try a.create(.client, fields: Sample.fixedClient(number: number)) }
        // A day on, b pulls; c is silent but within the horizon: it holds the floor at 3.
        harness.clock.advance(by: Self.day)
        try Self.sync(b, from: a)
        var result = try a.compact(policy)
        #expect(result.floor == VersionVector(["jakobstad": 3]) && result.silentPeers.isEmpty)
        // Past the horizon c no longer counts: the floor rises to b's, and c, back, is refused.
        harness.clock.advance(by: Self.day + 1)
        try Self.sync(b, from: a)
        result = try a.compact(policy)
        #expect(result.silentPeers == ["kronoby"])
        #expect(result.floor == VersionVector(["jakobstad": 6]))
        #expect(throws: ReplicaStoreError.snapshotRequired) {
            try a.readLog(after: 0, notCoveredBy: c.versionVector, limit: 10)
        }
        // When every configured peer is silent, this node is the likelier one cut off: the floor holds.
        for number in 7...8 { try a.create(.client, fields: Sample.fixedClient(number: number)) }
        a.notePeerVector("nykarleby", a.versionVector)
        harness.clock.advance(by: 3 * Self.day)
        result = try a.compact(policy)
        #expect(result.silentPeers == ["kronoby", "nykarleby"])
        #expect(result.floor == VersionVector(["jakobstad": 6]))
        // Silence counts from this process's start at the earliest: a node that was down itself does not hold it against its peers.
        try a.close()
        let reopened = try harness.open("jakobstad")
        harness.clock.advance(by: 1_000)
        result = try reopened.compact(policy)
        #expect(result.silentPeers.isEmpty)
        #expect(result.floor == VersionVector(["jakobstad": 6]), "kronoby's last known vector holds it again, nykarleby's would allow 8")
    }
}
