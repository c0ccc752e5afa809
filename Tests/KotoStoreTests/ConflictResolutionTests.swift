import Foundation
import KotoCore
import KotoHTTP
import KotoTestSupport
import Testing
@testable import KotoStore

/// `ReplicaStore.resolveConflict`: a local write of the chosen value whose
/// row clock covers the frontier, so it closes the conflict on every
/// replica it reaches; and what it refuses, without writing anything.
@Suite struct ConflictResolutionTests {
    /// Two replicas holding the same open conflict on a client's `status`:
    /// jakobstad wrote "assessed", larsmo (later, so it wins) "closed".
    struct Conflicted {
        let harness: StoreHarness
        let jakobstad: ReplicaStore
        let larsmo: ReplicaStore
        let id: UUID
        let atJakobstad: Change
        let atLarsmo: Change

        init() throws {
            harness = try StoreHarness()
            jakobstad = try harness.open("jakobstad")
            larsmo = try harness.open("larsmo")
            id = UUID()
            try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1))
            try pullAll(larsmo, from: jakobstad)
            harness.clock.advance(by: 1_000)
            atJakobstad = try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
            harness.clock.advance(by: 1_000)
            atLarsmo = try larsmo.update(.client, id: id, fields: ["status": .text("closed")])
            harness.clock.advance(by: 1_000)
            try pullAll(larsmo, from: jakobstad)
            try pullAll(jakobstad, from: larsmo)
        }

        func exchange() throws {
            harness.clock.advance(by: 1_000)
            try pullAll(larsmo, from: jakobstad)
            try pullAll(jakobstad, from: larsmo)
        }

        func converged() throws -> Bool {
            try jakobstad.canonicalDump() == larsmo.canonicalDump() && jakobstad.stateDigest == larsmo.stateDigest
        }
    }

    @Test(arguments: [("jakobstad", "assessment_pending"), ("larsmo", "assessed"), ("larsmo", "closed")])
    func aResolutionOnOneReplicaClosesTheConflictOnBoth(at node: String, value: String) throws {
        let region = try Conflicted()
        for store in [region.jakobstad, region.larsmo] {
            #expect(try store.openConflicts().map { ConflictFacts($0, including: []) }
                == [ConflictFacts(record: .client, rowID: region.id, field: "status", dot: region.atJakobstad.dot, winner: region.atLarsmo.dot)])
        }
        let resolver = node == "jakobstad" ? region.jakobstad : region.larsmo
        let other = node == "jakobstad" ? region.larsmo : region.jakobstad
        region.harness.clock.advance(by: 1_000)
        // A new value or either of the frontier's, the loser's included.
        let resolution = try resolver.resolveConflict(.client, id: region.id, field: "status", value: .text(value))
        #expect(resolution.fields == ["status": .text(value)], "the resolution writes the one field")
        #expect(resolution.rowClock.covers(region.atJakobstad.dot) && resolution.rowClock.covers(region.atLarsmo.dot),
                "its row clock covers the whole frontier")
        #expect(try resolver.openConflicts().isEmpty)
        #expect(try other.openConflictCount() == 1, "still open where the resolution has not arrived")

        try region.exchange()
        for store in [region.jakobstad, region.larsmo] {
            #expect(try store.openConflicts().isEmpty)
            let record = try #require(try store.record(.client, id: region.id))
            #expect(record.fields["status"] == .text(value))
            #expect(record.openConflicts == 0)
            #expect(record.stamps["status"]?.dot == resolution.dot)
        }
        #expect(try region.converged(), "same rows, conflicts and state digest on both replicas")
        #expect(!region.jakobstad.stateDigestProvisional && !region.larsmo.stateDigestProvisional)
    }

    @Test func aResolutionClosesOnlyThePartOfTheFrontierItsReplicaHolds() throws {
        let harness = try StoreHarness()
        let stores = try ["jakobstad", "larsmo", "kronoby"].map { try harness.open($0) }
        let (jakobstad, larsmo, kronoby) = (stores[0], stores[1], stores[2])
        let id = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 2))
        try pullAll(larsmo, from: jakobstad)
        try pullAll(kronoby, from: jakobstad)
        var writes: [Change] = []
        for (store, value) in [(jakobstad, "assessed"), (larsmo, "closed"), (kronoby, "moved_away")] {
            harness.clock.advance(by: 1_000)
            writes.append(try store.update(.client, id: id, fields: ["status": .text(value)]))
        }
        // jakobstad holds larsmo's write but not kronoby's when it resolves.
        try pullAll(jakobstad, from: larsmo)
        #expect(try jakobstad.openConflictCount() == 1)
        harness.clock.advance(by: 1_000)
        let resolution = try jakobstad.resolveConflict(.client, id: id, field: "status", value: .text("assessed"))
        #expect(!resolution.rowClock.covers(writes[2].dot))

        for _ in 0..<2 {
            for puller in stores { for peer in stores where peer !== puller { try pullAll(puller, from: peer) } }
        }
        // kronoby's write was concurrent with the resolution: it stays open
        // against it (the later write, which wins), the same everywhere.
        let expected = [ConflictFacts(record: .client, rowID: id, field: "status", dot: writes[2].dot, winner: resolution.dot)]
        for store in stores {
            #expect(try store.openConflicts().map { ConflictFacts($0, including: []) } == expected)
            #expect(try store.record(.client, id: id)?.fields["status"] == .text("assessed"))
            #expect(try store.canonicalDump() == jakobstad.canonicalDump())
        }
    }

    @Test func refusalsWriteNothing() throws {
        let region = try Conflicted()
        let store = region.jakobstad
        let before = try StoreSnapshot(store)

        // No conflict on the field, no such field, no such row: nothing is open there.
        for (kind, id, field) in [(RecordKind.client, region.id, "jobseeker"), (.client, region.id, "nonsense"),
                                  (.client, UUID(), "status"), (.service, region.id, "status")] {
            let refused = thrownError(ConflictNotOpen.self) {
                try store.resolveConflict(kind, id: id, field: field, value: .text("closed"))
            }
            #expect(refused == ConflictNotOpen(kind: kind, id: id, field: field))
            #expect(refused?.response.status == .notFound, "answers 404 not_found")
            #expect(refused?.code == "not_found")
        }
        // A value the field cannot hold: the problem names the field.
        for value: FieldValue in [.text("no_such_status"), .null, .integer(3)] {
            let refused = thrownError(ReplicaStoreError.self) {
                try store.resolveConflict(.client, id: region.id, field: "status", value: value)
            }
            guard case .invalid(let problems) = refused else {
                Issue.record("expected a validation error")
                continue
            }
            #expect(problems.map(\.field) == ["status"])
        }
        #expect(try StoreSnapshot(store) == before, "a refused resolution changes nothing")
    }

    @Test func aProblemTheMergedRecordAlreadyHadElsewhereDoesNotBlockTheResolution() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let id = UUID()
        var fields = Sample.fixedClient(number: 3)
        fields["planStart"] = .text("2026-01-10")
        fields["planEnd"] = .text("2026-12-31")
        try jakobstad.create(.client, id: id, fields: fields)
        try pullAll(larsmo, from: jakobstad)
        // Concurrently: jakobstad moves the plan's start after larsmo's new end; both are valid on their own.
        harness.clock.advance(by: 1_000)
        try jakobstad.update(.client, id: id, fields: ["planStart": .text("2026-06-01"), "status": .text("assessed")])
        harness.clock.advance(by: 1_000)
        try larsmo.update(.client, id: id, fields: ["planEnd": .text("2026-03-01"), "status": .text("closed")])
        try pullAll(jakobstad, from: larsmo)
        let merged = try #require(try jakobstad.record(.client, id: id))
        #expect(RecordValidator().problems(in: merged.fields, kind: .client).map(\.field) == ["planEnd"])

        let resolution = try jakobstad.resolveConflict(.client, id: id, field: "status", value: .text("assessed"))
        #expect(resolution.fields == ["status": .text("assessed")])
        #expect(try jakobstad.openConflicts().isEmpty)
    }

    @Test func aValueThatBringsAProblemToAnotherFieldIsRefused() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let id = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 4))
        try pullAll(larsmo, from: jakobstad)
        harness.clock.advance(by: 1_000)
        try jakobstad.update(.client, id: id, fields: ["planStatus": .text("draft")])
        harness.clock.advance(by: 1_000)
        try larsmo.update(.client, id: id, fields: ["planStatus": .text("completed")])
        try pullAll(jakobstad, from: larsmo)
        #expect(try jakobstad.openConflicts().map(\.field) == ["planStatus"])

        // An active plan needs a start date, which the record lacks.
        let refused = thrownError(ReplicaStoreError.self) {
            try jakobstad.resolveConflict(.client, id: id, field: "planStatus", value: .text("active"))
        }
        guard case .invalid(let problems) = refused else {
            Issue.record("expected a validation error")
            return
        }
        #expect(problems.map(\.field) == ["planStart"])
        #expect(try jakobstad.openConflictCount() == 1)
        try jakobstad.resolveConflict(.client, id: id, field: "planStatus", value: .text("draft"))
        #expect(try jakobstad.openConflictCount() == 0)
    }

    @Test func theDeletedFlagIsResolvedWithTrueOrFalse() throws {
        for keep in [true, false] {
            let harness = try StoreHarness()
            let jakobstad = try harness.open("jakobstad")
            let larsmo = try harness.open("larsmo")
            let id = UUID()
            try jakobstad.create(.service, id: id, fields: Sample.fixedService(number: 1))
            try pullAll(larsmo, from: jakobstad)
            harness.clock.advance(by: 1_000)
            try jakobstad.delete(.service, id: id)
            harness.clock.advance(by: 1_000)
            try larsmo.restore(.service, id: id)
            try pullAll(jakobstad, from: larsmo)
            try pullAll(larsmo, from: jakobstad)
            #expect(try jakobstad.openConflicts().map(\.field) == [deletedFieldName])

            let refused = thrownError(ReplicaStoreError.self) {
                try jakobstad.resolveConflict(.service, id: id, field: deletedFieldName, value: .text("yes"))
            }
            #expect(refused == .invalid([FieldProblem(field: deletedFieldName, reason: "must be true or false")]))
            let resolution = try jakobstad.resolveConflict(.service, id: id, field: deletedFieldName, value: .bool(keep))
            #expect(resolution.kind == (keep ? .delete : .upsert))
            try pullAll(larsmo, from: jakobstad)
            for store in [jakobstad, larsmo] {
                #expect(try store.openConflicts().isEmpty)
                #expect(try store.record(.service, id: id)?.deleted == keep)
            }
            #expect(jakobstad.stateDigest == larsmo.stateDigest)
        }
    }

    @Test func aFieldOfADeletedRecordCanBeResolvedAndTheRecordStaysDeleted() throws {
        let region = try Conflicted()
        region.harness.clock.advance(by: 1_000)
        try region.larsmo.delete(.client, id: region.id)
        try region.exchange()
        #expect(try region.jakobstad.record(.client, id: region.id)?.deleted == true)
        #expect(try region.jakobstad.openConflictCount() == 1)

        try region.jakobstad.resolveConflict(.client, id: region.id, field: "status", value: .text("closed"))
        try region.exchange()
        for store in [region.jakobstad, region.larsmo] {
            #expect(try store.openConflicts().isEmpty)
            let record = try #require(try store.record(.client, id: region.id))
            #expect(record.deleted)
            #expect(record.fields["status"] == .text("closed"))
        }
        #expect(try region.converged())
    }
}
