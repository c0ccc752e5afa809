import Foundation
import KotoCore
import KotoCrypto
import KotoTestSupport
import Testing
@testable import KotoStore

/// The order-independent digest of the merged state at store level: equal
/// on replicas that hold the same changes whatever the order they got them
/// in, equal to one recomputed from the rows, provisional exactly while a
/// purged entry's erase is missing, and kept across a reopen.
@Suite struct StateDigestStoreTests {
    static let writers = ["jakobstad", "nykarleby", "larsmo"]

    /// One random local write at `store`: creates, updates of live rows
    /// (concurrent ones across stores make conflicts), deletes, restores and erases.
    static func randomWrite(_ store: ReplicaStore, _ rng: inout SeededGenerator, number: inout Int) throws {
        let live = try store.list(.client)
        let roll = Int.random(in: 0..<100, using: &rng)
        if live.isEmpty || roll < 25 {
            number += 1
            // Ids from the seed too, so the whole schedule (which row a write picks) is reproducible.
            var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes[6] = bytes[6] & 0x0f | 0x40
            bytes[8] = bytes[8] & 0x3f | 0x80
            let id = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                                 bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
            try store.create(.client, id: id, fields: Sample.client(&rng, number: number))
        } else if roll < 80 {
            let target = live.randomElement(using: &rng)!
            try store.update(.client, id: target.id, fields: Sample.update(.client, &rng))
        } else if roll < 90 {
            try store.delete(.client, id: live.randomElement(using: &rng)!.id)
        } else if roll < 95 {
            var query = RecordQuery()
            query.includeDeleted = true
            if let deleted = try store.list(.client, query).filter(\.deleted).randomElement(using: &rng) {
                try store.restore(.client, id: deleted.id)
            }
        } else {
            try store.erase(.client, id: live.randomElement(using: &rng)!.id)
        }
    }

    /// Every pair of stores with equal version vectors and digests not
    /// provisional has equal digests; every digest equals its recomputation.
    static func checkDigests(_ stores: [ReplicaStore], sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        var comparedPairs = 0
        for store in stores {
            #expect(try store.recomputedDigestMatches(), "\(store.nodeID)'s maintained digest", sourceLocation: sourceLocation)
        }
        for (index, one) in stores.enumerated() {
            for other in stores[(index + 1)...] where one.versionVector == other.versionVector
                && !one.stateDigestProvisional && !other.stateDigestProvisional {
                #expect(one.stateDigest == other.stateDigest, "\(one.nodeID) and \(other.nodeID) at \(one.versionVector)",
                        sourceLocation: sourceLocation)
                let sameDump = try one.canonicalDump() == other.canonicalDump()
                #expect(sameDump, sourceLocation: sourceLocation)
                comparedPairs += 1
            }
        }
        return comparedPairs
    }

    /// Opens the writers in `harness` and runs six rounds of the history of
    /// `seed`: random writes at every writer on the harness clock, then partial
    /// exchanges (each writer pulls from one other, in small batches);
    /// `afterRound` looks at the writers after each round.
    static func writeRandomHistories(_ harness: StoreHarness, seed: UInt64,
                                     afterRound: ([ReplicaStore]) throws -> Void = { _ in }) throws -> [ReplicaStore] {
        var rng = SeededGenerator(seed: seed)
        let writers = try Self.writers.map { try harness.open($0) }
        var number = 0
        for _ in 0..<6 {
            for writer in writers {
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    try randomWrite(writer, &rng, number: &number)
                    harness.clock.advance(by: UInt64.random(in: 1...50, using: &rng))
                }
            }
            for (index, writer) in writers.enumerated() {
                let peer = writers[(index + Int.random(in: 1...2, using: &rng)) % writers.count]
                try pullAll(writer, from: peer, limit: Int.random(in: 1...5, using: &rng))
            }
            try afterRound(writers)
        }
        return writers
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func replicasThatConvergeInDifferentOrdersHaveEqualDigests(seed: UInt64) throws {
        let harness = try StoreHarness()
        let writers = try Self.writeRandomHistories(harness, seed: seed) { writers in _ = try Self.checkDigests(writers) }
        // Two newcomers pull everything in opposite orders, through different relays and batch sizes.
        let kronoby = try harness.open("kronoby")
        let pedersore = try harness.open("pedersore")
        for writer in writers {
            try pullAll(kronoby, from: writer, limit: 3)
        }
        for writer in writers.reversed() {
            try pullAll(pedersore, from: writer, limit: 1)
        }
        for writer in writers {
            for peer in writers where peer !== writer { try pullAll(writer, from: peer, limit: 7) }
        }
        let everyone = writers + [kronoby, pedersore]
        let reference = kronoby.versionVector
        #expect(everyone.allSatisfy { $0.versionVector == reference })
        #expect(everyone.allSatisfy { !$0.stateDigestProvisional })
        #expect(try Self.checkDigests(everyone) == 10, "every pair compared")
        #expect(kronoby.stateDigest != .zero)
        for store in everyone {
            #expect(store.stateDigest == kronoby.stateDigest, "\(store.nodeID)")
        }
    }

    /// Guards the test above against passing vacuously.
    @Test func theRandomHistoriesHoldConflictsDeletesAndErases() throws {
        var conflicts = 0, erased = 0, deleted = 0
        for seed: UInt64 in [1, 2, 3] {
            let harness = try StoreHarness()
            let writers = try Self.writeRandomHistories(harness, seed: seed)
            for writer in writers {
                for peer in writers where peer !== writer { try pullAll(writer, from: peer) }
            }
            var query = RecordQuery()
            query.includeDeleted = true
            query.includeErased = true
            let rows = try writers[0].list(.client, query)
            conflicts += try writers[0].openConflictCount()
            erased += rows.filter(\.erased).count
            deleted += rows.filter(\.deleted).count
        }
        #expect(conflicts > 0)
        #expect(erased > 0)
        #expect(deleted > 0)
    }

    /// The maintained digest is the sum over every row, deleted and erased
    /// ones included, of SHA-256 of its canonical bytes with its frontier.
    @Test func theDigestEqualsOneRecomputedFromScratch() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        #expect(jakobstad.stateDigest == .zero)
        #expect(try jakobstad.recomputedDigestMatches())
        let ids = (0..<4).map { _ in UUID() }
        for (index, id) in ids.enumerated() {
            try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: index))
        }
        try jakobstad.create(.service, fields: Sample.fixedService(number: 1))
        try pullAll(larsmo, from: jakobstad)
        harness.clock.advance(by: 10)
        // Concurrent writes to one field: an open conflict on both sides.
        try jakobstad.update(.client, id: ids[0], fields: ["status": .text("assessed")])
        try larsmo.update(.client, id: ids[0], fields: ["status": .text("closed")])
        try jakobstad.delete(.client, id: ids[1])
        try larsmo.erase(.client, id: ids[2])
        var previous = jakobstad.stateDigest
        try exchangeAll(jakobstad, larsmo)
        #expect(jakobstad.stateDigest != previous, "merging changed the digest")
        #expect(try jakobstad.openConflictCount() == 1)
        for store in [jakobstad, larsmo] {
            #expect(try store.recomputedDigestMatches(), "\(store.nodeID)")
        }
        try expectConverged(jakobstad, larsmo)

        // Every local write moves the digest, and it stays equal to the recomputation.
        previous = jakobstad.stateDigest
        try jakobstad.update(.client, id: ids[3], fields: ["jobseeker": .bool(true)])
        #expect(jakobstad.stateDigest != previous)
        #expect(try jakobstad.recomputedDigestMatches())
        previous = jakobstad.stateDigest
        try jakobstad.restore(.client, id: ids[1])
        #expect(jakobstad.stateDigest != previous)
        // A resolution that saw the whole frontier closes the conflict: the digest moves again.
        previous = jakobstad.stateDigest
        try jakobstad.update(.client, id: ids[0], fields: ["status": .text("assessed")])
        #expect(try jakobstad.openConflictCount() == 0)
        #expect(jakobstad.stateDigest != previous)
        #expect(try jakobstad.recomputedDigestMatches())
        try exchangeAll(jakobstad, larsmo)
        try expectConverged(jakobstad, larsmo)
        #expect(try larsmo.recomputedDigestMatches())
    }

    /// A node holding a purged entry but not yet its erase reports its
    /// digest as provisional; once the erase arrives it is final and equal to
    /// the sender's.
    @Test func theDigestIsProvisionalExactlyWhileAPurgedEntrysEraseIsMissing() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let kronoby = try harness.open("kronoby")
        let first = UUID(), second = UUID(), kept = UUID()
        try jakobstad.create(.client, id: kept, fields: Sample.fixedClient(number: 1))
        try jakobstad.create(.client, id: first, fields: Sample.fixedClient(number: 2))
        try jakobstad.create(.client, id: second, fields: Sample.fixedClient(number: 3))
        try jakobstad.update(.client, id: first, fields: ["status": .text("assessed")])
        try jakobstad.erase(.client, id: first)
        try jakobstad.erase(.client, id: second)
        #expect(!jakobstad.stateDigestProvisional)
        // jakobstad's log: kept, first (purged), second (purged), first's update (purged), erase first, erase second.
        var provisional: [Bool] = [], awaiting: [Int] = []
        var since: UInt64 = 0
        while true {
            let batch = try jakobstad.readLog(after: since, notCoveredBy: larsmo.versionVector, limit: 1)
            if batch.changes.isEmpty { break }
            #expect(!batch.digestProvisional && batch.stateDigest == jakobstad.stateDigest, "the sender reports its own digest")
            try larsmo.apply(batch, from: "jakobstad")
            since = batch.nextPosition
            provisional.append(larsmo.stateDigestProvisional)
            awaiting.append(larsmo.state.awaitingEraseRows)
            #expect(try larsmo.recomputedDigestMatches())
            // A relay that is provisional says so in what it serves.
            let relayed = try larsmo.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
            #expect(relayed.digestProvisional == larsmo.stateDigestProvisional && relayed.stateDigest == larsmo.stateDigest)
        }
        #expect(provisional == [false, true, true, true, true, false])
        #expect(awaiting == [0, 1, 2, 2, 1, 0])
        try expectConverged(larsmo, jakobstad)

        // Pulled from the relay in one batch, the erases follow their purged entries in it: final at once.
        try pullAll(kronoby, from: larsmo, limit: 100)
        #expect(!kronoby.stateDigestProvisional)
        try expectConverged(kronoby, jakobstad)
    }

    @Test func reopeningAStoreKeepsItsDigest() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let id = UUID(), other = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        try jakobstad.create(.client, id: other, fields: Sample.fixedClient(number: 2))
        try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        try jakobstad.erase(.client, id: id)
        var digest = StateDigest.zero
        do {
            let larsmo = try harness.open("larsmo")
            // Only the purged create of `id` and the create of `other`: provisional.
            let batch = try jakobstad.readLog(after: 0, notCoveredBy: larsmo.versionVector, limit: 2)
            #expect(batch.changes.map(\.dot.seq) == [1, 2])
            try larsmo.apply(batch, from: "jakobstad")
            try larsmo.update(.client, id: other, fields: ["jobseeker": .bool(true)])
            #expect(larsmo.stateDigestProvisional)
            digest = larsmo.stateDigest
            #expect(digest != .zero)
        }
        do {
            let larsmo = try harness.open("larsmo")
            #expect(larsmo.stateDigest == digest)
            #expect(larsmo.stateDigestProvisional, "the wait for the erase survives a reopen")
            #expect(try larsmo.recomputedDigestMatches())
            try pullAll(larsmo, from: jakobstad)
            #expect(!larsmo.stateDigestProvisional)
            digest = larsmo.stateDigest
        }
        let larsmo = try harness.open("larsmo")
        #expect(larsmo.stateDigest == digest)
        #expect(!larsmo.stateDigestProvisional)
        #expect(try larsmo.recomputedDigestMatches())
        try pullAll(jakobstad, from: larsmo)
        try expectConverged(jakobstad, larsmo)
    }
}
