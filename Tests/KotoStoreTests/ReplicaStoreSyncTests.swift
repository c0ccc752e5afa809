import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// Replication between stores: reading the log for a puller, applying
/// batches (idempotent, whole or not at all, causal), peer cursors, the
/// HLC bound, a node catching up on its own changes, and conflicts.
@Suite struct ReplicaStoreSyncTests {
    /// jakobstad and nykarleby with interleaved histories. nykarleby's log is
    /// j1 j2 j3 n1 n2 j4 n3 (positions 1…7).
    struct TwoOffices {
        let harness: StoreHarness
        let jakobstad: ReplicaStore
        let nykarleby: ReplicaStore
        let clients: [UUID]

        init() throws {
            harness = try StoreHarness()
            jakobstad = try harness.open("jakobstad")
            nykarleby = try harness.open("nykarleby")
            var clients: [UUID] = []
            for number in 1...3 {
                let id = UUID()
                try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: number))
                clients.append(id)
                harness.clock.advance(by: 10)
            }
            self.clients = clients
            try pullAll(nykarleby, from: jakobstad)
            try nykarleby.update(.client, id: clients[0], fields: ["status": .text("assessed")])
            try nykarleby.create(.service, fields: Sample.fixedService(number: 1, municipalities: "893"))
            harness.clock.advance(by: 10)
            try jakobstad.update(.client, id: clients[1], fields: ["jobseeker": .bool(true)])
            try pullAll(nykarleby, from: jakobstad)
            try nykarleby.update(.client, id: clients[1], fields: ["motherTongue": .text("ar")])
        }

        /// nykarleby's log as dots, in order.
        func nykarlebyLog() throws -> [Dot] { try nykarleby.logEntries().map(\.change.dot) }
    }

    static func dot(_ origin: String, _ seq: UInt64) -> Dot { Dot(origin: origin, seq: seq) }

    // MARK: readLog

    @Test func readLogReturnsUncoveredEntriesAfterThePositionInLogOrder() throws {
        let offices = try TwoOffices()
        let log = offices.nykarleby
        let j = { Self.dot("jakobstad", $0) }, n = { Self.dot("nykarleby", $0) }
        #expect(try offices.nykarlebyLog() == [j(1), j(2), j(3), n(1), n(2), j(4), n(3)])
        #expect(log.logPosition == 7)

        let everything = try log.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        #expect(everything.changes.map(\.dot) == [j(1), j(2), j(3), n(1), n(2), j(4), n(3)])
        #expect(everything.changes == (try log.logEntries().map(\.change)))
        #expect(everything.nextPosition == 7, "everything fits: the log end")
        #expect(everything.incarnation == log.incarnation)

        let firstThree = try log.readLog(after: 0, notCoveredBy: VersionVector(), limit: 3)
        #expect(firstThree.changes.map(\.dot) == [j(1), j(2), j(3)])
        #expect(firstThree.nextPosition == 3, "just after the last entry scanned")

        let lacksNykarleby = try log.readLog(after: 0, notCoveredBy: VersionVector(["jakobstad": 4]), limit: 2)
        #expect(lacksNykarleby.changes.map(\.dot) == [n(1), n(2)])
        #expect(lacksNykarleby.nextPosition == 5)
        let rest = try log.readLog(after: 5, notCoveredBy: VersionVector(["jakobstad": 4]), limit: 2)
        #expect(rest.changes.map(\.dot) == [n(3)])
        #expect(rest.nextPosition == 7)

        let afterPosition = try log.readLog(after: 3, notCoveredBy: VersionVector(["jakobstad": 3]), limit: 100)
        #expect(afterPosition.changes.map(\.dot) == [n(1), n(2), j(4), n(3)])

        let interleaved = try log.readLog(after: 0, notCoveredBy: VersionVector(["jakobstad": 2, "nykarleby": 1]), limit: 3)
        #expect(interleaved.changes.map(\.dot) == [j(3), n(2), j(4)])
        #expect(interleaved.nextPosition == 6)

        let nothing = try log.readLog(after: 2, notCoveredBy: log.versionVector, limit: 5)
        #expect(nothing.changes.isEmpty)
        #expect(nothing.nextPosition == 7)

        // The log holds jakobstad:1-3 from one batch, so only jakobstad:3 kept its (checked) signature:
        // a batch goes on to it rather than end jakobstad's run unsigned.
        let zeroLimit = try log.readLog(after: 0, notCoveredBy: VersionVector(), limit: 0)
        #expect(zeroLimit.changes.map(\.dot) == [j(1), j(2), j(3)], "a limit below one still makes progress, to a signed change")
        #expect(zeroLimit.nextPosition == 3)
    }

    @Test(arguments: [1, 2, 3, 7])
    func pullingInSmallBatchesGetsEverythingExactlyOnce(limit: Int) throws {
        for preheld in [0, 1, 2, 4] {
            let offices = try TwoOffices()
            let kronoby = try offices.harness.open("kronoby")
            // kronoby already holds some of jakobstad's changes, pulled from jakobstad itself.
            if preheld > 0 {
                let direct = try offices.jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: preheld)
                try kronoby.apply(direct, from: "jakobstad")
            }
            let held = kronoby.versionVector
            let source = try offices.nykarleby.logEntries()
            let positionOf = Dictionary(uniqueKeysWithValues: source.map { ($0.change.dot, $0.position) })
            let expected = source.map(\.change).filter { !held.covers($0.dot) }

            var received: [Change] = []
            var rounds = 0
            while true {
                rounds += 1
                try #require(rounds < 50, "pulling did not settle")
                let since = try kronoby.peerCursor("nykarleby")?.position ?? 0
                let batch = try offices.nykarleby.readLog(after: since, notCoveredBy: kronoby.versionVector, limit: limit)
                // Past the limit only to end each origin's run on a signed change.
                if batch.changes.count > limit {
                    let origins = Set(batch.changes[limit...].map(\.dot.origin))
                    let prefix = batch.changes.prefix(limit)
                    #expect(origins.allSatisfy { origin in prefix.last(where: { $0.dot.origin == origin })?.signature == nil },
                            "limit \(limit): a batch went past its limit without an unsigned run to finish")
                }
                for origin in Set(batch.changes.map(\.dot.origin)) {
                    #expect(batch.changes.last(where: { $0.dot.origin == origin })?.signature != nil, "a run ends unsigned")
                }
                if let last = batch.changes.last, batch.nextPosition != offices.nykarleby.logPosition {
                    #expect(batch.nextPosition == positionOf[last.dot], "limit \(limit): just after the last entry scanned")
                }
                let result = try kronoby.apply(batch, from: "nykarleby")
                #expect(result == ApplyResult(applied: batch.changes.count, skipped: 0), "no duplicates sent")
                #expect(try kronoby.peerCursor("nykarleby")?.position == batch.nextPosition)
                received += batch.changes
                if batch.changes.isEmpty { break }
            }
            #expect(received == expected, "limit \(limit), preheld \(preheld): every missing entry once, in log order")
            #expect(kronoby.versionVector == offices.nykarleby.versionVector)
            let same = try kronoby.canonicalDump() == offices.nykarleby.canonicalDump()
            #expect(same, "limit \(limit), preheld \(preheld): replicas converge")
        }
    }

    @Test func readLogAcceptsAHugeLimit() throws {
        let offices = try TwoOffices()
        let nearlyUnlimited = try offices.nykarleby.readLog(after: 0, notCoveredBy: VersionVector(), limit: Int(Int64.max) - 1)
        #expect(nearlyUnlimited.changes.count == 7)
        #expect(nearlyUnlimited.nextPosition == 7)
    }

    @Test func readLogWithIntMaxLimitIsClampedNotATrap() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        try store.create(.service, fields: Sample.fixedService(number: 1))
        let batch = try store.readLog(after: 0, notCoveredBy: VersionVector(), limit: .max)
        #expect(batch.changes.count == 1)
        #expect(batch.nextPosition == 1)
    }

    @Test func readLogAsksForASnapshotWhenThePullerLacksWhatTheFloorDropped() throws {
        let harness = try StoreHarness()
        do {
            let store = try harness.open("jakobstad")
            try store.create(.service, fields: Sample.fixedService(number: 1))
            try store.create(.service, fields: Sample.fixedService(number: 2))
            // As if compaction had raised the floor past jakobstad:1.
            try store.database.run("INSERT INTO log_floor (origin, seq) VALUES (?, ?)", .text("jakobstad"), .integer(1))
        }
        let store = try harness.open("jakobstad")
        #expect(store.logFloor == VersionVector(["jakobstad": 1]))
        #expect(throws: ReplicaStoreError.snapshotRequired) {
            try store.readLog(after: 0, notCoveredBy: VersionVector(), limit: 10)
        }
        let batch = try store.readLog(after: 0, notCoveredBy: VersionVector(["jakobstad": 1]), limit: 10)
        #expect(batch.changes.map(\.dot) == [Self.dot("jakobstad", 2)])
    }

    // MARK: apply

    @Test func applyIsIdempotent() throws {
        let offices = try TwoOffices()
        let kronoby = try offices.harness.open("kronoby")
        let batch = try offices.nykarleby.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        let first = try kronoby.apply(batch, from: "nykarleby")
        #expect(first == ApplyResult(applied: 7, skipped: 0))
        let afterFirst = try StoreSnapshot(kronoby)
        #expect(afterFirst.logPosition == 7)
        #expect(afterFirst.versionVector == offices.nykarleby.versionVector)

        offices.harness.clock.advance(by: 1_000)
        let second = try kronoby.apply(batch, from: "nykarleby")
        #expect(second == ApplyResult(applied: 0, skipped: 7))
        let afterSecond = try StoreSnapshot(kronoby)
        let sameRecords = afterSecond.dump == afterFirst.dump
        #expect(sameRecords, "a repeated batch changes no record")
        #expect(afterSecond.log == afterFirst.log)
        #expect(afterSecond.versionVector == afterFirst.versionVector)
        #expect(afterSecond.lastHLC == afterFirst.lastHLC)
        #expect(afterSecond.seq == afterFirst.seq)

        // Also the same entries relayed by another peer: all skipped.
        let relayed = try offices.jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        #expect(try kronoby.apply(relayed, from: "jakobstad") == ApplyResult(applied: 0, skipped: 4))
        let sameAgain = try kronoby.canonicalDump() == afterFirst.dump
        #expect(sameAgain)
    }

    @Test func anEntryRepeatedWithinABatchIsAppliedOnce() throws {
        let offices = try TwoOffices()
        let kronoby = try offices.harness.open("kronoby")
        let changes = try offices.jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100).changes
        let repeated = [changes[0], changes[1], changes[0], changes[2], changes[1], changes[3], changes[3]]
        let result = try kronoby.apply(ChangeBatch(incarnation: offices.jakobstad.incarnation, nextPosition: 4, changes: repeated),
                                       from: "jakobstad")
        #expect(result == ApplyResult(applied: 4, skipped: 3))
        // The same changes (dots and links); of the signatures only the checked one, the run's last, is kept.
        let held = try kronoby.logEntries().map(\.change)
        #expect(held.map(\.dot) == changes.map(\.dot) && held.map(\.chainHash) == changes.map(\.chainHash))
        #expect(held.map { $0.signature != nil } == changes.indices.map { $0 == changes.count - 1 })
        let same = try kronoby.canonicalDump() == offices.jakobstad.canonicalDump()
        #expect(same)
    }

    @Test func applyUpdatesThePeerCursor() throws {
        let offices = try TwoOffices()
        let kronoby = try offices.harness.open("kronoby")
        try kronoby.recordPeerFailure("nykarleby", message: "connection refused")
        try kronoby.recordPeerFailure("nykarleby", message: "timed out")
        try kronoby.recordPeerLogPosition("nykarleby", position: 7)
        let failing = try #require(try kronoby.peerCursor("nykarleby"))
        #expect(failing.consecutiveFailures == 2)
        #expect(failing.lastError == "timed out")
        #expect(failing.lastSuccessMillis == nil)

        offices.harness.clock.advance(by: 5_000)
        let batch = try offices.nykarleby.readLog(after: 0, notCoveredBy: VersionVector(), limit: 4)
        try kronoby.apply(batch, from: "nykarleby")
        let cursor = try #require(try kronoby.peerCursor("nykarleby"))
        #expect(cursor.peer == "nykarleby")
        #expect(cursor.position == batch.nextPosition)
        #expect(cursor.position == 4)
        #expect(cursor.incarnation == offices.nykarleby.incarnation)
        #expect(cursor.lastSuccessMillis == Int64(offices.harness.clock.now))
        #expect(cursor.consecutiveFailures == 0)
        #expect(cursor.lastError == nil)
        #expect(cursor.peerLogPosition == 7, "the reported log end is kept")
        #expect(cursor.lag == 3)
        #expect(try kronoby.peerCursor("jakobstad") == nil, "other peers untouched")

        // An empty batch (nothing new) still records the position and the success.
        offices.harness.clock.advance(by: 5_000)
        try kronoby.apply(ChangeBatch(incarnation: offices.nykarleby.incarnation, nextPosition: 7, changes: []), from: "nykarleby")
        let idle = try #require(try kronoby.peerCursor("nykarleby"))
        #expect(idle.position == 7)
        #expect(idle.lastSuccessMillis == Int64(offices.harness.clock.now))
        #expect(idle.lag == 0)
        #expect(kronoby.logPosition == 4)
    }

    @Test func aBatchWithAGapIsRefusedWhole() throws {
        let offices = try TwoOffices()
        let kronoby = try offices.harness.open("kronoby")
        try kronoby.create(.service, fields: Sample.fixedService(number: 9)) // something of its own
        let full = try offices.jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        #expect(full.changes.map(\.dot.seq) == [1, 2, 3, 4])
        let before = try StoreSnapshot(kronoby)
        let gappy: [[Change]] = [
            [full.changes[0], full.changes[2]], // j1, then j3 without j2
            [full.changes[1]], // j2 without j1
            [full.changes[0], full.changes[1], full.changes[3]], // j4 without j3
        ]
        for changes in gappy {
            let batch = ChangeBatch(incarnation: offices.jakobstad.incarnation, nextPosition: 4, changes: changes)
            let error = try #require(throws: ReplicaStoreError.self) { try kronoby.apply(batch, from: "jakobstad") }
            guard case .batchRefused(let reason) = error else {
                Issue.record("expected .batchRefused, got \(error)")
                continue
            }
            #expect(reason.contains("gap"))
            #expect(try StoreSnapshot(kronoby) == before, "nothing of a refused batch is applied, cursor untouched")
        }
        #expect(try kronoby.peerCursor("jakobstad") == nil)
        // The whole batch is fine.
        #expect(try kronoby.apply(full, from: "jakobstad") == ApplyResult(applied: 4, skipped: 0))
    }

    @Test func aBatchMissingADependencyOfAnotherOriginIsRefusedWhole() throws {
        let offices = try TwoOffices()
        let kronoby = try offices.harness.open("kronoby")
        // nykarleby's own entries only: n1 updated a client jakobstad created (its row clock names jakobstad:1).
        let all = try offices.nykarleby.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        let onlyNykarleby = all.changes.filter { $0.dot.origin == "nykarleby" }
        #expect(onlyNykarleby.first?.rowClock["jakobstad"] == 1)
        let before = try StoreSnapshot(kronoby)
        let error = try #require(throws: ReplicaStoreError.self) {
            try kronoby.apply(ChangeBatch(incarnation: "x", nextPosition: 7, changes: onlyNykarleby), from: "nykarleby")
        }
        guard case .batchRefused(let reason) = error else {
            Issue.record("expected .batchRefused, got \(error)")
            return
        }
        #expect(reason.contains("depends on"))
        #expect(try StoreSnapshot(kronoby) == before)
    }

    @Test func aBatchWithAClockTooFarAheadIsRefusedWhole() throws {
        let harness = try StoreHarness()
        let bound = StoreOptions().maxClockAheadMillis
        #expect(bound == 5 * 60 * 1000)
        let normal = try harness.open("nykarleby")
        let atTheBound = try harness.open("jakobstad", skewMillis: Int64(bound))
        let beyond = try harness.open("larsmo", skewMillis: Int64(bound) + 1)
        let receiver = try harness.open("kronoby")

        let fine = try normal.create(.service, fields: Sample.fixedService(number: 1))
        let edge = try atTheBound.create(.service, fields: Sample.fixedService(number: 2))
        let ahead = try beyond.create(.service, fields: Sample.fixedService(number: 3))
        #expect(ahead.hlc.wallMillis == harness.clock.now + bound + 1)

        let before = try StoreSnapshot(receiver)
        let mixed = ChangeBatch(incarnation: "relay", nextPosition: 3, changes: [fine, edge, ahead])
        let error = try #require(throws: ReplicaStoreError.self) { try receiver.apply(mixed, from: "pedersore") }
        guard case .batchRefused(let reason) = error else {
            Issue.record("expected .batchRefused, got \(error)")
            return
        }
        #expect(reason.contains("ahead"))
        #expect(reason.contains("larsmo:1"))
        #expect(try StoreSnapshot(receiver) == before, "the entries before the offending one are not applied either")
        #expect(receiver.lastHLC == .zero, "a refused batch does not move the clock")

        // Exactly at the bound is accepted, and the HLC follows it.
        let accepted = ChangeBatch(incarnation: "relay", nextPosition: 2, changes: [fine, edge])
        #expect(try receiver.apply(accepted, from: "pedersore") == ApplyResult(applied: 2, skipped: 0))
        #expect(receiver.lastHLC == edge.hlc)
        // Once the receiver's clock has caught up, the same entry is fine.
        harness.clock.advance(by: 1)
        #expect(try receiver.apply(ChangeBatch(incarnation: "relay", nextPosition: 3, changes: [ahead]), from: "pedersore")
            == ApplyResult(applied: 1, skipped: 0))

        // A receiver configured with a larger bound takes the whole mixed batch at once.
        let tolerant = try harness.open("pedersore") { $0.maxClockAheadMillis = bound + 60_000 }
        #expect(try tolerant.apply(mixed, from: "kronoby") == ApplyResult(applied: 3, skipped: 0))
    }

    @Test func receivedHLCIsObservedAndPersisted() throws {
        let harness = try StoreHarness()
        let ahead = try harness.open("jakobstad", skewMillis: 120_000)
        let id = UUID()
        let remote = try ahead.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        do {
            let receiver = try harness.open("larsmo")
            try pullAll(receiver, from: ahead)
            #expect(receiver.lastHLC == remote.hlc)
            let local = try receiver.update(.client, id: id, fields: ["status": .text("assessed")])
            #expect(local.hlc == remote.hlc.successor, "a write that saw the remote one stamps after it")
            #expect(local.rowClock == VersionVector(["jakobstad": 1, "larsmo": 1]))
        }
        let reopened = try harness.open("larsmo")
        #expect(reopened.lastHLC == remote.hlc.successor)
        #expect(try reopened.update(.client, id: id, fields: ["jobseeker": .bool(true)]).hlc > remote.hlc.successor)
    }

    // MARK: Restore from backup

    /// Copies a closed store's files (main file and any WAL) under another name.
    func copyStore(_ harness: StoreHarness, from source: String, to target: String) throws {
        for suffix in ["", "-wal"] {
            let from = harness.path("\(source).sqlite\(suffix)")
            if FileManager.default.fileExists(atPath: from) {
                try FileManager.default.copyItem(atPath: from, toPath: harness.path("\(target).sqlite\(suffix)"))
            }
        }
    }

    @Test func aRestoredNodeTakesItsOwnLaterChangesBackAndNeverReusesADot() throws {
        let harness = try StoreHarness()
        let nykarleby = try harness.open("nykarleby")
        let id = UUID()
        do {
            let jakobstad = try harness.open("jakobstad")
            try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
            try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        }
        try copyStore(harness, from: "jakobstad", to: "backup")
        var lost: [Change] = []
        do {
            let jakobstad = try harness.open("jakobstad")
            harness.clock.advance(by: 1_000)
            lost.append(try jakobstad.update(.client, id: id, fields: ["jobseeker": .bool(true)]))
            lost.append(try jakobstad.update(.client, id: id, fields: ["status": .text("plan_active"),
                                                                         "planStatus": .text("draft")]))
            try pullAll(nykarleby, from: jakobstad)
        }
        #expect(nykarleby.versionVector == VersionVector(["jakobstad": 4]))

        // The office's disk dies; the backup is restored.
        let restored = try harness.open("jakobstad", file: "backup")
        #expect(restored.seq == 2)
        #expect(restored.versionVector == VersionVector(["jakobstad": 2]))

        let back = try pullAll(restored, from: nykarleby)
        #expect(back.map(\.dot) == lost.map(\.dot) && back.map(\.chainHash) == lost.map(\.chainHash),
                "its own later changes come back from the peer")
        #expect(restored.seq == 4, "seq catches up with the changes it had handed out")
        #expect(restored.versionVector == VersionVector(["jakobstad": 4]))
        #expect(restored.lastHLC >= lost.last!.hlc)
        let sameRecords = try restored.canonicalDump() == nykarleby.canonicalDump()
        #expect(sameRecords)

        let fresh = try restored.update(.client, id: id, fields: ["motherTongue": .text("ti")])
        #expect(fresh.dot == Self.dot("jakobstad", 5), "a fresh dot, not one the peers already hold")
        #expect(fresh.hlc > lost.last!.hlc)
        let delivered = try pullAll(nykarleby, from: restored)
        #expect(delivered.map(\.dot) == [fresh.dot])
        #expect(try nykarleby.record(.client, id: id)?.fields["motherTongue"] == .text("ti"), "the peer did not skip it")

        // seq survives a reopen of the restored file, too.
        let persisted = try StoreSnapshot(restored).persistedState
        #expect(persisted.first == 5)
    }

    @Test func aRestoredCopyGetsANewIncarnationWhenTold() throws {
        let harness = try StoreHarness()
        var original = ""
        do {
            let jakobstad = try harness.open("jakobstad")
            try jakobstad.create(.service, fields: Sample.fixedService(number: 1))
            original = jakobstad.incarnation
        }
        try copyStore(harness, from: "jakobstad", to: "backup")
        let restored = try harness.open("jakobstad", file: "backup")
        // A file copy cannot know it was restored: the node rotates the
        // incarnation when it learns so (peers hold more of its changes, or
        // the operator says so), and the new id survives a reopen.
        #expect(restored.incarnation == original)
        try restored.startNewIncarnation()
        let rotated = restored.incarnation
        #expect(rotated != original)
        let reopened = try harness.open("jakobstad", file: "backup")
        #expect(reopened.incarnation == rotated)
    }

    // MARK: Conflicts

    @Test func concurrentWritesGiveTheSameOpenConflictOnBothSidesUntilAWriteSeesBoth() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let id = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        try pullAll(larsmo, from: jakobstad)

        harness.clock.advance(by: 1_000)
        let atJakobstad = try jakobstad.update(.client, id: id, fields: ["status": .text("assessed"), "jobseeker": .bool(true)])
        harness.clock.advance(by: 1_000)
        let atLarsmo = try larsmo.update(.client, id: id, fields: ["status": .text("closed")])
        #expect(try jakobstad.openConflicts().isEmpty)

        harness.clock.advance(by: 1_000)
        try pullAll(larsmo, from: jakobstad)
        let larsmoSeen = harness.clock.now
        harness.clock.advance(by: 1_000)
        try pullAll(jakobstad, from: larsmo)
        let jakobstadSeen = harness.clock.now

        let atJ = try jakobstad.openConflicts()
        let atL = try larsmo.openConflicts()
        #expect(atJ.count == 1)
        #expect(atJ.map(ConflictFacts.init) == atL.map(ConflictFacts.init))
        let conflict = try #require(atJ.first)
        // larsmo's write is later (greater HLC) and wins; jakobstad's is the open conflict.
        #expect(conflict.record == .client)
        #expect(conflict.rowID == id)
        #expect(conflict.field == "status")
        #expect(conflict.value == .text("assessed"))
        #expect(conflict.dot == atJakobstad.dot)
        #expect(conflict.hlc == atJakobstad.hlc)
        #expect(conflict.winner == atLarsmo.dot)
        #expect(atJ.first?.firstSeenMillis == Int64(jakobstadSeen), "local: when this node first held it")
        #expect(atL.first?.firstSeenMillis == Int64(larsmoSeen))
        for store in [jakobstad, larsmo] {
            let record = try #require(try store.record(.client, id: id))
            #expect(record.fields["status"] == .text("closed"))
            #expect(record.fields["jobseeker"] == .bool(true), "a field only one side wrote is no conflict")
            #expect(record.openConflicts == 1)
            #expect(try store.openConflictCount() == 1)
            var query = RecordQuery()
            query.onlyConflicted = true
            #expect(try store.list(.client, query).map(\.id) == [id])
            #expect(try store.openConflicts(.client, rowID: id).count == 1)
            #expect(try store.openConflicts(.service).isEmpty)
            #expect(try store.openConflicts(.client, rowID: UUID()).isEmpty)
        }
        let converged = try jakobstad.canonicalDump() == larsmo.canonicalDump()
        #expect(converged)

        // A resolution at jakobstad, which holds both writes, closes it everywhere.
        harness.clock.advance(by: 1_000)
        let resolution = try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        #expect(resolution.rowClock.covers(atJakobstad.dot) && resolution.rowClock.covers(atLarsmo.dot))
        #expect(try jakobstad.openConflicts().isEmpty)
        #expect(try larsmo.openConflicts().count == 1, "still open where the resolution has not arrived")
        try pullAll(larsmo, from: jakobstad)
        for store in [jakobstad, larsmo] {
            #expect(try store.openConflicts().isEmpty)
            #expect(try store.openConflictCount() == 0)
            #expect(try store.record(.client, id: id)?.openConflicts == 0)
            #expect(try store.record(.client, id: id)?.fields["status"] == .text("assessed"))
            var query = RecordQuery()
            query.onlyConflicted = true
            #expect(try store.list(.client, query).isEmpty)
        }
        let convergedAgain = try jakobstad.canonicalDump() == larsmo.canonicalDump()
        #expect(convergedAgain)
    }

    @Test func aResolutionAtTheOtherSideClosesItToo() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let id = UUID()
        try jakobstad.create(.service, id: id, fields: Sample.fixedService(number: 1))
        try pullAll(larsmo, from: jakobstad)
        harness.clock.advance(by: 1_000)
        try larsmo.update(.service, id: id, fields: ["capacity": .integer(10)])
        try jakobstad.update(.service, id: id, fields: ["capacity": .integer(20)])
        try pullAll(larsmo, from: jakobstad)
        try pullAll(jakobstad, from: larsmo)
        #expect(try jakobstad.openConflicts().map(ConflictFacts.init) == larsmo.openConflicts().map(ConflictFacts.init))
        #expect(try jakobstad.openConflicts().count == 1)
        // Equal wall times: the tie is broken by origin, the same way everywhere.
        #expect(try jakobstad.record(.service, id: id)?.fields["capacity"] == .integer(10))

        try larsmo.update(.service, id: id, fields: ["capacity": .integer(15)])
        try pullAll(jakobstad, from: larsmo)
        #expect(try jakobstad.openConflicts().isEmpty)
        #expect(try larsmo.openConflicts().isEmpty)
        #expect(try jakobstad.record(.service, id: id)?.fields["capacity"] == .integer(15))
    }

    @Test func aGrowingFrontierKeepsFirstSeenAndMovesTheWinner() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let kronoby = try harness.open("kronoby")
        let id = UUID()
        try jakobstad.create(.service, id: id, fields: Sample.fixedService(number: 1))
        try pullAll(larsmo, from: jakobstad)
        try pullAll(kronoby, from: jakobstad)

        harness.clock.advance(by: 1_000)
        let fromJakobstad = try jakobstad.update(.service, id: id, fields: ["capacity": .integer(1)])
        harness.clock.advance(by: 1_000)
        let fromLarsmo = try larsmo.update(.service, id: id, fields: ["capacity": .integer(2)])
        harness.clock.advance(by: 1_000)
        let fromKronoby = try kronoby.update(.service, id: id, fields: ["capacity": .integer(3)])

        harness.clock.advance(by: 1_000)
        try pullAll(jakobstad, from: larsmo)
        let firstSeen = Int64(harness.clock.now)
        let one = try jakobstad.openConflicts()
        #expect(one.map(\.dot) == [fromJakobstad.dot])
        #expect(one.first?.winner == fromLarsmo.dot)

        harness.clock.advance(by: 1_000)
        try pullAll(jakobstad, from: kronoby)
        let secondSeen = Int64(harness.clock.now)
        let two = try jakobstad.openConflicts()
        #expect(two.map(\.dot) == [fromJakobstad.dot, fromLarsmo.dot])
        #expect(two.map(\.winner) == [fromKronoby.dot, fromKronoby.dot], "the recorded winner follows the new winner")
        #expect(two.map(\.firstSeenMillis) == [firstSeen, secondSeen], "an entry keeps when it was first seen")
        #expect(two.map(\.value) == [.integer(1), .integer(2)])
        #expect(try jakobstad.record(.service, id: id)?.fields["capacity"] == .integer(3))
        #expect(try jakobstad.record(.service, id: id)?.openConflicts == 2)
        #expect(try jakobstad.openConflictCount() == 2)

        for (puller, peer) in [(larsmo, jakobstad), (kronoby, jakobstad)] {
            try pullAll(puller, from: peer)
        }
        let reference = try jakobstad.openConflicts().map(ConflictFacts.init)
        for store in [larsmo, kronoby] {
            #expect(try store.openConflicts().map(ConflictFacts.init) == reference, "\(store.nodeID)")
            let same = try store.canonicalDump() == jakobstad.canonicalDump()
            #expect(same, "\(store.nodeID)")
        }
    }

    @Test func anEraseArrivingAfterConcurrentWritesClearsEverythingOnBothSides() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let id = UUID(), other = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        try jakobstad.create(.client, id: other, fields: Sample.fixedClient(number: 2))
        try pullAll(larsmo, from: jakobstad)
        harness.clock.advance(by: 1_000)
        try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        try larsmo.update(.client, id: id, fields: ["status": .text("closed")])
        try pullAll(larsmo, from: jakobstad)
        try pullAll(jakobstad, from: larsmo)
        #expect(try larsmo.openConflicts().count == 1)

        // larsmo erases, while jakobstad concurrently writes once more.
        let erasure = try larsmo.erase(.client, id: id)
        let concurrent = try jakobstad.update(.client, id: id, fields: ["motherTongue": .text("fa")])
        try pullAll(jakobstad, from: larsmo)
        try pullAll(larsmo, from: jakobstad)

        for store in [jakobstad, larsmo] {
            let record = try #require(try store.record(.client, id: id))
            #expect(record.erased)
            #expect(record.fields.values.allSatisfy { $0.isNull })
            #expect(record.rowClock.covers(erasure.dot) && record.rowClock.covers(concurrent.dot),
                    "a write absorbed by the erase still advances the row clock")
            #expect(try store.openConflicts().isEmpty)
            #expect(store.versionVector.covers(concurrent.dot))
            for entry in try store.logEntries() where entry.change.rowID == id {
                #expect(entry.change.fields.isEmpty, "\(store.nodeID): entry \(entry.change.dot) of the erased row is purged")
            }
            let otherEntries = try store.logEntries().filter { $0.change.rowID == other }
            #expect(otherEntries.count == 1)
            #expect(otherEntries.first?.change.fields.isEmpty == false)
            #expect(throws: ReplicaStoreError.erased(.client, id)) {
                try store.update(.client, id: id, fields: ["status": .text("new")])
            }
        }
        let converged = try jakobstad.canonicalDump() == larsmo.canonicalDump()
        #expect(converged)
        // A third office learns of it through a relay, payloads already purged.
        let kronoby = try harness.open("kronoby")
        try pullAll(kronoby, from: larsmo, limit: 2)
        #expect(try kronoby.record(.client, id: id)?.erased == true)
        let convergedThree = try kronoby.canonicalDump() == larsmo.canonicalDump()
        #expect(convergedThree)
    }

    // MARK: Peer cursors

    @Test func peerCursorBookkeeping() throws {
        let harness = try StoreHarness()
        let store = try harness.open("kronoby")
        #expect(try store.peerCursor("larsmo") == nil)

        try store.recordPeerFailure("larsmo", message: "connection refused")
        #expect(try store.peerCursor("larsmo") == PeerCursor(peer: "larsmo", lastError: "connection refused", consecutiveFailures: 1))
        try store.recordPeerFailure("larsmo", message: "HTTP 503")
        #expect(try store.peerCursor("larsmo")?.consecutiveFailures == 2)
        #expect(try store.peerCursor("larsmo")?.lastError == "HTTP 503")

        try store.recordPeerLogPosition("larsmo", position: 40)
        #expect(try store.peerCursor("larsmo")?.peerLogPosition == 40)
        #expect(try store.peerCursor("larsmo")?.lag == 40)
        #expect(try store.peerCursor("larsmo")?.consecutiveFailures == 2, "recording the log end is no success")

        try store.apply(ChangeBatch(incarnation: "inc-1", nextPosition: 25, changes: []), from: "larsmo")
        #expect(try store.peerCursor("larsmo")?.lag == 15)
        #expect(try store.peerCursor("larsmo")?.incarnation == "inc-1")

        try store.resetPeerCursor("larsmo", incarnation: "inc-2")
        let reset = try #require(try store.peerCursor("larsmo"))
        #expect(reset.position == 0)
        #expect(reset.incarnation == "inc-2")
        #expect(reset.peerLogPosition == 40)
        #expect(reset.lag == 40)
        #expect(reset.lastSuccessMillis == Int64(harness.clock.now), "a reset keeps the sync history")

        try store.resetPeerCursor("nykarleby", incarnation: nil)
        #expect(try store.peerCursor("nykarleby") == PeerCursor(peer: "nykarleby"))
        try store.recordPeerLogPosition("pedersore", position: 3)
        #expect(try store.peerCursor("pedersore") == PeerCursor(peer: "pedersore", peerLogPosition: 3))

        // Cursors persist.
        let reopened = try harness.open("kronoby", file: "kronoby")
        #expect(try reopened.peerCursor("larsmo") == reset)
    }

    @Test func lagIsNeverNegative() {
        #expect(PeerCursor(peer: "larsmo", position: 10, peerLogPosition: 4).lag == 0)
        #expect(PeerCursor(peer: "larsmo", position: 4, peerLogPosition: 10).lag == 6)
        #expect(PeerCursor(peer: "larsmo").lag == 0)
    }
}

/// A relay that already holds an erase passes the row's earlier changes on
/// purged: the receiver writes nothing for them (a purged entry never erases
/// a row on its own), hides the row as about to be erased, and reports its
/// state digest as provisional until the erase arrives.
@Suite struct PurgedRelayTests {
    @Test func aPurgedChangeArrivingBeforeItsEraseWritesNothingAndWaitsForTheErase() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let pedersore = try harness.open("pedersore")
        let larsmo = try harness.open("larsmo")
        let id = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        try jakobstad.erase(.client, id: id)
        // One local transaction a batch: pedersore keeps every signature, so it can serve one entry at a time.
        _ = try pullAll(pedersore, from: jakobstad, limit: 1)

        // Only the first (purged) entry reaches larsmo.
        let first = try pedersore.readLog(after: 0, notCoveredBy: larsmo.versionVector, limit: 1)
        #expect(first.changes.count == 1)
        #expect(first.changes[0].fields.isEmpty && first.changes[0].isPurged)
        try larsmo.apply(first, from: "pedersore")
        let early = try #require(try larsmo.record(.client, id: id))
        #expect(!early.erased && early.awaitingErase, "a purged entry does not erase the row on its own")
        #expect(early.fields.values.allSatisfy { $0 == .null } && early.stamps.isEmpty, "a purged entry writes nothing")
        #expect(try larsmo.list(.client).isEmpty, "a row awaiting its erase is not listed")
        #expect(larsmo.stateDigestProvisional)
        #expect(throws: ReplicaStoreError.erased(.client, id)) { try larsmo.update(.client, id: id, fields: ["status": .text("closed")]) }

        // The rest, the erase included, erases the row: the replicas agree.
        _ = try pullAll(larsmo, from: pedersore)
        #expect(try larsmo.record(.client, id: id)?.erased == true)
        #expect(!larsmo.stateDigestProvisional)
        #expect(larsmo.stateDigest == jakobstad.stateDigest && larsmo.stateDigest == pedersore.stateDigest)
        #expect(try larsmo.canonicalDump() == pedersore.canonicalDump())
        #expect(try larsmo.canonicalDump() == jakobstad.canonicalDump())
    }
}
