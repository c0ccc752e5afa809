import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// One batch is one transaction with the version vector and the peer
/// cursor: a failure at any entry leaves the store exactly as it was, in the
/// database and in memory, and the same batch then applies cleanly.
@Suite struct BatchAtomicityTests {
    struct Injected: Error, Equatable {
        let index: Int
    }

    /// A receiver (larsmo) holding part of jakobstad's history, its own
    /// write, and a failing cursor; and a batch from jakobstad that holds
    /// entries larsmo has (skipped), updates, a delete, a relayed entry of a
    /// third office, an erase of a row larsmo holds, a placement, and a
    /// write concurrent with larsmo's (a new conflict).
    struct Setup {
        let harness: StoreHarness
        let jakobstad: ReplicaStore
        let batch: ChangeBatch

        init() throws {
            harness = try StoreHarness()
            jakobstad = try harness.open("jakobstad")
            let nykarleby = try harness.open("nykarleby")
            let first = UUID(), second = UUID(), service = UUID()
            try jakobstad.create(.client, id: first, fields: Sample.fixedClient(number: 1))
            try jakobstad.create(.client, id: second, fields: Sample.fixedClient(number: 2))
            try jakobstad.create(.service, id: service, fields: Sample.fixedService(number: 1))
            do {
                let larsmo = try harness.open("larsmo")
                try pullAll(larsmo, from: jakobstad)
                harness.clock.advance(by: 1_000)
                try larsmo.update(.client, id: first, fields: ["status": .text("closed")])
                try larsmo.recordPeerFailure("jakobstad", message: "timed out")
                try larsmo.recordPeerLogPosition("jakobstad", position: 12)
            }
            try pullAll(nykarleby, from: jakobstad)
            try nykarleby.update(.client, id: second, fields: ["motherTongue": .text("so")])
            try nykarleby.create(.service, fields: Sample.fixedService(number: 2, municipalities: "893"))
            harness.clock.advance(by: 1_000)
            try jakobstad.update(.client, id: first, fields: ["status": .text("assessed")]) // concurrent with larsmo's
            try jakobstad.delete(.client, id: second)
            try pullAll(jakobstad, from: nykarleby)
            try jakobstad.erase(.client, id: second)
            try jakobstad.create(.placement, fields: Sample.enrolment(client: first, service: service))
            try jakobstad.update(.service, id: service, fields: ["capacity": .integer(3)])
            // As a re-sent batch: from the start, so the first three entries are ones larsmo holds.
            batch = try jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 100)
        }
    }

    static func conflictsWithFirstSeen(_ store: ReplicaStore) throws -> [OpenConflict] {
        try store.openConflicts()
    }

    @Test func aBatchFailingAtAnyEntryLeavesTheStoreAsItWas() throws {
        let setup = try Setup()
        #expect(setup.batch.changes.count == 10)
        #expect(setup.batch.changes.map(\.kind).contains(.erase))
        #expect(setup.batch.changes.contains { $0.dot.origin == "nykarleby" })

        // A copy of the receiver that never sees a failure: the reference result.
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: setup.harness.path("larsmo.sqlite\(suffix)")) {
            try FileManager.default.copyItem(atPath: setup.harness.path("larsmo.sqlite\(suffix)"),
                                             toPath: setup.harness.path("control.sqlite\(suffix)"))
        }
        let larsmo = try setup.harness.open("larsmo")
        let control = try setup.harness.open("larsmo", file: "control")
        let before = try StoreSnapshot(larsmo)
        let conflictsBefore = try Self.conflictsWithFirstSeen(larsmo)
        #expect(before.cursors.first?.consecutiveFailures == 1)
        #expect(before.versionVector == VersionVector(["jakobstad": 3, "larsmo": 1]))

        let lastIndex = setup.batch.changes.count - 1
        for failAt in [0, 1, 3, 4, 5, 6, 7, lastIndex] {
            var reached: [Int] = []
            larsmo.beforeApplyingEntry = { index in
                reached.append(index)
                if index == failAt { throw Injected(index: index) }
            }
            setup.harness.clock.advance(by: 100)
            let error = #expect(throws: Injected.self) { try larsmo.apply(setup.batch, from: "jakobstad") }
            #expect(error == Injected(index: failAt))
            #expect(reached == Array(0...failAt), "the hook ran for each entry up to the failing one")
            larsmo.beforeApplyingEntry = nil
            #expect(!larsmo.database.isInTransaction)
            let after = try StoreSnapshot(larsmo)
            #expect(after == before, "failing at entry \(failAt) left a trace")
            #expect(try Self.conflictsWithFirstSeen(larsmo) == conflictsBefore, "failing at entry \(failAt): conflicts")
        }

        // Without the hook the same batch applies cleanly, as on the control copy.
        setup.harness.clock.advance(by: 100)
        let result = try larsmo.apply(setup.batch, from: "jakobstad")
        let reference = try control.apply(setup.batch, from: "jakobstad")
        #expect(result == ApplyResult(applied: 7, skipped: 3))
        #expect(reference == result)
        let applied = try StoreSnapshot(larsmo)
        let expected = try StoreSnapshot(control)
        #expect(applied == expected, "the retried batch gives what a clean apply gives")
        #expect(applied.versionVector == VersionVector(["jakobstad": 8, "larsmo": 1, "nykarleby": 2]))
        #expect(applied.logPosition == before.logPosition + 7)
        #expect(applied.log.map(\.position) == Array(1...applied.logPosition), "no hole in the log")
        let cursor = try #require(try larsmo.peerCursor("jakobstad"))
        #expect(cursor.position == setup.batch.nextPosition)
        #expect(cursor.consecutiveFailures == 0)
        #expect(cursor.peerLogPosition == 12)
        #expect(try larsmo.openConflicts().count == 1, "the concurrent status writes")

        // Memory and disk still agree: the next local write takes the next seq and position.
        let next = try larsmo.create(.service, fields: Sample.fixedService(number: 3))
        #expect(next.dot == Dot(origin: "larsmo", seq: 2))
        #expect(next.hlc > applied.lastHLC)
        #expect(larsmo.logPosition == applied.logPosition + 1)
    }

    @Test func aSecondBatchAfterAFailedOneContinuesWithoutAGap() throws {
        let setup = try Setup()
        let kronoby = try setup.harness.open("kronoby")
        let firstHalf = try setup.jakobstad.readLog(after: 0, notCoveredBy: VersionVector(), limit: 5)
        try kronoby.apply(firstHalf, from: "jakobstad")
        let before = try StoreSnapshot(kronoby)
        let secondHalf = try setup.jakobstad.readLog(after: firstHalf.nextPosition, notCoveredBy: kronoby.versionVector, limit: 100)
        #expect(secondHalf.changes.count == 5)

        kronoby.beforeApplyingEntry = { index in if index == 2 { throw Injected(index: index) } }
        #expect(throws: Injected(index: 2)) { try kronoby.apply(secondHalf, from: "jakobstad") }
        kronoby.beforeApplyingEntry = nil
        #expect(try StoreSnapshot(kronoby) == before)
        #expect(try kronoby.peerCursor("jakobstad")?.position == firstHalf.nextPosition, "the cursor did not move")

        // The next pull, from the unchanged cursor, gets the same entries again.
        let retry = try setup.jakobstad.readLog(after: try #require(try kronoby.peerCursor("jakobstad")).position,
                                                notCoveredBy: kronoby.versionVector, limit: 100)
        #expect(retry == secondHalf)
        #expect(try kronoby.apply(retry, from: "jakobstad") == ApplyResult(applied: 5, skipped: 0))
        let same = try kronoby.canonicalDump() == setup.jakobstad.canonicalDump()
        #expect(same)
        #expect(kronoby.versionVector == setup.jakobstad.versionVector)
    }

    @Test func aFailingApplyInsideALocalBatchRollsBackTheLocalWritesToo() throws {
        let setup = try Setup()
        let kronoby = try setup.harness.open("kronoby")
        try kronoby.create(.service, fields: Sample.fixedService(number: 5))
        let before = try StoreSnapshot(kronoby)
        kronoby.beforeApplyingEntry = { index in if index == 4 { throw Injected(index: index) } }
        #expect(throws: Injected(index: 4)) {
            try kronoby.batch {
                try kronoby.create(.service, fields: Sample.fixedService(number: 6))
                try kronoby.apply(setup.batch, from: "jakobstad")
            }
        }
        kronoby.beforeApplyingEntry = nil
        #expect(try StoreSnapshot(kronoby) == before)
        #expect(try kronoby.apply(setup.batch, from: "jakobstad") == ApplyResult(applied: 10, skipped: 0))
        #expect(try kronoby.create(.service, fields: Sample.fixedService(number: 7)).dot == Dot(origin: "kronoby", seq: 2))
    }
}
