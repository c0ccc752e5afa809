import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// Local writes (create, update, delete, restore, erase, batch) and the
/// queries of the merged view, on one replica.
@Suite struct ReplicaStoreTests {
    struct Boom: Error, Equatable {}

    // MARK: Create

    @Test func createReturnsAChangeWithEveryField() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        let input = Sample.fixedClient(number: 1)
        let change = try store.create(.client, id: id, fields: input)

        #expect(change.dot == Dot(origin: "jakobstad", seq: 1))
        #expect(change.hlc == HLC(wallMillis: harness.clock.now))
        #expect(change.record == .client)
        #expect(change.rowID == id)
        #expect(change.kind == .upsert)
        #expect(change.rowClock == VersionVector(["jakobstad": 1]))
        #expect(change.rowClock.covers(change.dot))
        #expect(Set(change.fields.keys) == Set(RecordKind.client.fields.map(\.name)))
        for spec in RecordKind.client.fields where spec.name != deletedFieldName {
            #expect(change.fields[spec.name] == (input[spec.name] ?? .null), "field \(spec.name)")
        }
        #expect(change.fields[deletedFieldName] == .bool(false))

        #expect(store.seq == 1)
        #expect(store.versionVector == VersionVector(["jakobstad": 1]))
        #expect(store.logPosition == 1)
        #expect(store.lastHLC == change.hlc)
        let log = try store.logEntries()
        #expect(log.count == 1)
        #expect(log.first?.position == 1)
        #expect(log.first?.change == change)

        let record = try #require(try store.record(.client, id: id))
        #expect(record.kind == .client)
        #expect(record.id == id)
        #expect(record.fields == change.fields)
        #expect(!record.erased)
        #expect(!record.deleted)
        #expect(record.openConflicts == 0)
        #expect(record.rowClock == change.rowClock)
        let stamp = FieldStamp(hlc: change.hlc, dot: change.dot)
        #expect(record.stamps == Dictionary(uniqueKeysWithValues: RecordKind.client.fields.map { ($0.name, stamp) }))
        // The typed view reads the stored map back.
        let client = try Client(id: id, fields: record.fields)
        #expect(client.clientNumber == "T-1")
        #expect(client.ownerMunicipality == 598)
        #expect(!client.deleted)
    }

    @Test func anUpdateWritingNoFieldIsRefusedAndLogsNothing() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let created = try store.create(.service, fields: Sample.fixedService(number: 1))
        let position = store.logPosition
        #expect(throws: ReplicaStoreError.invalid([FieldProblem(field: "(fields)", reason: "an update must write at least one field")])) {
            try store.update(.service, id: created.rowID, fields: [:])
        }
        #expect(store.logPosition == position)
        #expect(store.seq == 1)
    }

    @Test func createOfAnExistingIDIsRefused() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        try store.create(.service, id: id, fields: Sample.fixedService(number: 1))
        let before = try StoreSnapshot(store)
        let error = try #require(throws: ReplicaStoreError.self) {
            try store.create(.service, id: id, fields: Sample.fixedService(number: 2))
        }
        #expect(error == .alreadyExists(.service, id))
        #expect(try StoreSnapshot(store) == before)
    }

    // MARK: Update

    @Test func updateWritesOnlyTheGivenFields() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        let created = try store.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        harness.clock.advance(by: 1_000)
        let patch: FieldMap = ["status": .text("assessed"), "jobseeker": .bool(true), "motherTongue": .text("uk")]
        let change = try store.update(.client, id: id, fields: patch)

        #expect(change.fields == patch)
        #expect(change.kind == .upsert)
        #expect(change.dot == Dot(origin: "jakobstad", seq: 2))
        #expect(change.hlc == HLC(wallMillis: harness.clock.now))
        #expect(change.hlc > created.hlc)
        #expect(change.rowClock == VersionVector(["jakobstad": 2]))
        #expect(try store.logEntries().last?.change.fields == patch)

        let record = try #require(try store.record(.client, id: id))
        let newStamp = FieldStamp(hlc: change.hlc, dot: change.dot)
        let oldStamp = FieldStamp(hlc: created.hlc, dot: created.dot)
        for spec in RecordKind.client.fields {
            if let patched = patch[spec.name] {
                #expect(record.fields[spec.name] == patched, "patched field \(spec.name)")
                #expect(record.stamps[spec.name] == newStamp, "stamp of patched field \(spec.name)")
            } else {
                #expect(record.fields[spec.name] == created.fields[spec.name], "untouched field \(spec.name)")
                #expect(record.stamps[spec.name] == oldStamp, "stamp of untouched field \(spec.name)")
            }
        }

        // A null in a patch clears the field.
        let cleared = try store.update(.client, id: id, fields: ["motherTongue": .null])
        #expect(cleared.fields == ["motherTongue": .null])
        #expect(try store.record(.client, id: id)?.fields["motherTongue"] == .null)
        #expect(try store.record(.client, id: id)?.fields["status"] == .text("assessed"))
    }

    @Test func createWithProblemsReportsAllOfThemAndWritesNothing() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        try store.create(.service, fields: Sample.fixedService(number: 1))
        let before = try StoreSnapshot(store)
        var fields = Sample.fixedClient(number: 2)
        fields["givenName"] = nil
        fields["birthDate"] = .text("1990-02-30")
        fields["ownerMunicipality"] = .integer(1)
        fields["shoeSize"] = .integer(42)
        fields[deletedFieldName] = .bool(true)
        harness.clock.advance(by: 5_000)
        let error = try #require(throws: ReplicaStoreError.self) {
            try store.create(.client, fields: fields)
        }
        guard case .invalid(let problems) = error else {
            Issue.record("expected .invalid, got \(error)")
            return
        }
        #expect(Set(problems.map(\.field)) == ["givenName", "birthDate", "ownerMunicipality", "shoeSize", deletedFieldName])
        #expect(problems.contains(FieldProblem(field: "givenName", reason: "is required")))
        #expect(problems.contains(FieldProblem(field: "shoeSize", reason: "unknown field")))
        #expect(problems.contains(FieldProblem(field: deletedFieldName, reason: "is set by delete and restore only")))
        #expect(!error.description.contains("1990-02-30"), "a problem never quotes the value")
        #expect(try StoreSnapshot(store) == before)
        #expect(try store.count(.client) == 0)
    }

    @Test func updateWithProblemsReportsAllOfThemAndWritesNothing() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        try store.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        let before = try StoreSnapshot(store)
        let patch: FieldMap = [
            "status": .text("flying"),
            "planStatus": .text("active"), // needs planStart: a cross-field problem on the merged record
            "familyName": .null, // required
        ]
        let error = try #require(throws: ReplicaStoreError.self) {
            try store.update(.client, id: id, fields: patch)
        }
        guard case .invalid(let problems) = error else {
            Issue.record("expected .invalid, got \(error)")
            return
        }
        #expect(Set(problems.map(\.field)) == ["status", "planStart", "familyName"])
        #expect(problems.contains(FieldProblem(field: "planStart", reason: "is required while the plan is active")))
        #expect(try StoreSnapshot(store) == before)
    }

    @Test(arguments: [true, false])
    func deletedCannotBeSetThroughUpdate(value: Bool) throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        try store.create(.client, id: id, fields: Sample.fixedClient(number: 1))
        let before = try StoreSnapshot(store)
        let error = try #require(throws: ReplicaStoreError.self) {
            try store.update(.client, id: id, fields: [deletedFieldName: .bool(value), "status": .text("assessed")])
        }
        #expect(error == .invalid([FieldProblem(field: deletedFieldName, reason: "is set by delete and restore only")]))
        #expect(try StoreSnapshot(store) == before)
    }

    @Test func writesToAnUnknownIDAreNotFound() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        try store.create(.client, fields: Sample.fixedClient(number: 1))
        let before = try StoreSnapshot(store)
        let unknown = UUID()
        let operations: [(String, () throws -> Change)] = [
            ("update", { try store.update(.client, id: unknown, fields: ["status": .text("assessed")]) }),
            ("delete", { try store.delete(.client, id: unknown) }),
            ("restore", { try store.restore(.client, id: unknown) }),
            ("erase", { try store.erase(.client, id: unknown) }),
        ]
        for (name, operation) in operations {
            let error = #expect(throws: ReplicaStoreError.self, "\(name)") { try operation() }
            #expect(error == .notFound(.client, unknown), "\(name)")
        }
        // Same id, other kind: still unknown.
        let client = try #require(try store.list(.client).first)
        #expect(throws: ReplicaStoreError.notFound(.service, client.id)) {
            try store.update(.service, id: client.id, fields: ["status": .text("paused")])
        }
        #expect(try StoreSnapshot(store) == before)
    }

    // MARK: Delete and restore

    @Test func deleteHidesAndRestoreBringsBack() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        try store.create(.client, id: id, fields: Sample.fixedClient(number: 1))

        let deletion = try store.delete(.client, id: id)
        #expect(deletion.kind == .delete)
        #expect(deletion.fields == [deletedFieldName: .bool(true)])
        #expect(deletion.dot == Dot(origin: "jakobstad", seq: 2))
        #expect(try store.record(.client, id: id)?.deleted == true)
        #expect(try store.count(.client) == 0)
        #expect(try store.list(.client).isEmpty)

        let before = try StoreSnapshot(store)
        #expect(throws: ReplicaStoreError.notFound(.client, id)) {
            try store.update(.client, id: id, fields: ["status": .text("assessed")])
        }
        #expect(throws: ReplicaStoreError.notFound(.client, id)) { try store.delete(.client, id: id) }
        #expect(try StoreSnapshot(store) == before)

        let restoration = try store.restore(.client, id: id)
        #expect(restoration.kind == .upsert)
        #expect(restoration.fields == [deletedFieldName: .bool(false)])
        #expect(restoration.dot == Dot(origin: "jakobstad", seq: 3))
        let record = try #require(try store.record(.client, id: id))
        #expect(!record.deleted)
        #expect(record.fields["clientNumber"] == .text("T-1"), "restore keeps the other fields")
        #expect(try store.count(.client) == 1)
        try store.update(.client, id: id, fields: ["status": .text("assessed")])
        #expect(try store.record(.client, id: id)?.fields["status"] == .text("assessed"))
    }

    // MARK: Erase

    @Test func eraseClearsTheRowAndPurgesItsHistory() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let erasedID = UUID(), keptID = UUID()
        try store.create(.client, id: erasedID, fields: Sample.fixedClient(number: 1))
        try store.create(.client, id: keptID, fields: Sample.fixedClient(number: 2))
        try store.update(.client, id: erasedID, fields: ["status": .text("assessed")])
        try store.update(.client, id: keptID, fields: ["motherTongue": .text("so")])
        try store.delete(.client, id: erasedID)
        let keptBefore = try store.record(.client, id: keptID)

        let erasure = try store.erase(.client, id: erasedID)
        #expect(erasure.kind == .erase)
        #expect(erasure.fields.isEmpty)
        #expect(erasure.dot == Dot(origin: "jakobstad", seq: 6))
        #expect(erasure.rowClock == VersionVector(["jakobstad": 6]))

        let record = try #require(try store.record(.client, id: erasedID))
        #expect(record.erased)
        #expect(record.fields.count == RecordKind.client.fields.count)
        #expect(record.fields.values.allSatisfy { $0.isNull })
        #expect(record.stamps.isEmpty)
        #expect(record.openConflicts == 0)
        #expect(record.rowClock.covers(erasure.dot))

        let log = try store.logEntries()
        #expect(log.map(\.position) == [1, 2, 3, 4, 5, 6])
        for entry in log where entry.change.rowID == erasedID {
            #expect(entry.change.fields.isEmpty, "entry \(entry.position) of the erased row is purged")
        }
        #expect(log.filter { $0.change.rowID == erasedID }.map(\.change.dot.seq) == [1, 3, 5, 6], "the entries stay, in order")
        let keptEntries = log.filter { $0.change.rowID == keptID }
        #expect(keptEntries.count == 2)
        #expect(keptEntries.first?.change.fields.count == RecordKind.client.fields.count, "other rows keep their payloads")
        #expect(keptEntries.last?.change.fields == ["motherTongue": .text("so")])
        #expect(try store.record(.client, id: keptID) == keptBefore)
        // No column of the erased row holds a value any more.
        let stored = try store.database.query("SELECT given_name, family_name, birth_date, client_number FROM clients WHERE id = ?",
                                              [.text(erasedID.lowercased)]) { row in (0..<4).map { row.isNull(Int32($0)) } }
        #expect(stored == [[true, true, true, true]])
    }

    @Test func anErasedRowTakesNoMoreLocalWrites() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        try store.create(.service, id: id, fields: Sample.fixedService(number: 1))
        try store.erase(.service, id: id)
        let before = try StoreSnapshot(store)
        let operations: [(String, () throws -> Change)] = [
            ("update", { try store.update(.service, id: id, fields: ["status": .text("paused")]) }),
            ("delete", { try store.delete(.service, id: id) }),
            ("restore", { try store.restore(.service, id: id) }),
            ("erase", { try store.erase(.service, id: id) }),
            ("create", { try store.create(.service, id: id, fields: Sample.fixedService(number: 2)) }),
        ]
        for (name, operation) in operations {
            let error = #expect(throws: ReplicaStoreError.self, "\(name)") { try operation() }
            let expected: ReplicaStoreError = name == "create" ? .alreadyExists(.service, id) : .erased(.service, id)
            #expect(error == expected, "\(name)")
        }
        #expect(try StoreSnapshot(store) == before)
        #expect(try store.count(.service) == 0)
    }

    // MARK: Placements

    @Test func placementsNeedALiveClientAndService() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let client = UUID(), service = UUID(), deletedClient = UUID(), deletedService = UUID(), erasedClient = UUID()
        try store.create(.client, id: client, fields: Sample.fixedClient(number: 1))
        try store.create(.service, id: service, fields: Sample.fixedService(number: 1))
        try store.create(.client, id: deletedClient, fields: Sample.fixedClient(number: 2))
        try store.delete(.client, id: deletedClient)
        try store.create(.service, id: deletedService, fields: Sample.fixedService(number: 2))
        try store.delete(.service, id: deletedService)
        try store.create(.client, id: erasedClient, fields: Sample.fixedClient(number: 3))
        try store.erase(.client, id: erasedClient)
        let before = try StoreSnapshot(store)

        func problems(client: UUID, service: UUID) -> [FieldProblem]? {
            do {
                try store.create(.placement, fields: Sample.enrolment(client: client, service: service))
                return nil
            } catch let error as ReplicaStoreError {
                guard case .invalid(let problems) = error else { return nil }
                return problems
            } catch {
                return nil
            }
        }
        let noClient = FieldProblem(field: "clientId", reason: "no such client")
        let noService = FieldProblem(field: "serviceId", reason: "no such service")
        #expect(problems(client: UUID(), service: service) == [noClient])
        #expect(problems(client: client, service: UUID()) == [noService])
        #expect(problems(client: UUID(), service: UUID()).map(Set.init) == [noClient, noService])
        #expect(problems(client: deletedClient, service: service) == [noClient])
        #expect(problems(client: client, service: deletedService) == [noService])
        #expect(problems(client: erasedClient, service: service) == [noClient])
        // A service id given for a client is no client.
        #expect(problems(client: service, service: service) == [noClient])
        #expect(try StoreSnapshot(store) == before)

        let placementID = UUID()
        let placement = try store.create(.placement, id: placementID, fields: Sample.enrolment(client: client, service: service))
        #expect(placement.fields["clientId"] == .text(client.lowercased))
        #expect(try store.count(.placement) == 1)

        // Re-pointing it at a service that is gone is refused too.
        let afterCreate = try StoreSnapshot(store)
        #expect(throws: ReplicaStoreError.invalid([noService])) {
            try store.update(.placement, id: placementID, fields: ["serviceId": .text(deletedService.lowercased)])
        }
        #expect(try StoreSnapshot(store) == afterCreate)

        // A municipal placement names no service.
        let municipal: FieldMap = ["type": .text("municipal_placement"), "clientId": .text(client.lowercased),
                                   "municipality": .integer(440), "route": .text("quota"), "status": .text("offered")]
        try store.create(.placement, fields: municipal)
        #expect(try store.count(.placement) == 2)
    }

    // MARK: Clocks

    @Test func seqAndHLCStrictlyIncreaseWithAFrozenClock() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        var changes = [try store.create(.client, id: id, fields: Sample.fixedClient(number: 1))]
        for index in 0..<5 {
            changes.append(try store.update(.client, id: id, fields: ["clientNumber": .text("T-\(index + 10)")]))
        }
        changes.append(try store.delete(.client, id: id))
        changes.append(try store.restore(.client, id: id))
        #expect(changes.map(\.dot.seq) == Array(1...8))
        for (earlier, later) in zip(changes, changes.dropFirst()) {
            #expect(earlier.hlc < later.hlc)
        }
        #expect(changes.first?.hlc == HLC(wallMillis: harness.clock.now))
        #expect(changes.last?.hlc == HLC(wallMillis: harness.clock.now, counter: 7))
        #expect(store.lastHLC == changes.last?.hlc)
        // When the wall clock moves past the logical counter, it takes over again.
        harness.clock.advance(by: 10)
        let next = try store.update(.client, id: id, fields: ["status": .text("assessed")])
        #expect(next.hlc == HLC(wallMillis: harness.clock.now))
    }

    @Test func seqAndHLCNeverGoBackAcrossReopenEvenIfTheClockDoes() throws {
        let harness = try StoreHarness()
        let id = UUID()
        var last: Change
        do {
            let store = try harness.open("jakobstad")
            try store.create(.client, id: id, fields: Sample.fixedClient(number: 1))
            harness.clock.advance(by: 60_000)
            last = try store.update(.client, id: id, fields: ["status": .text("assessed")])
        }
        // The machine comes back with its wall clock an hour behind.
        let behind = ManualClock(start: harness.clock.now - 3_600_000)
        let reopened = try harness.open("jakobstad", clock: behind)
        #expect(reopened.seq == last.dot.seq)
        #expect(reopened.lastHLC == last.hlc)
        for _ in 0..<3 {
            let next = try reopened.update(.client, id: id, fields: ["jobseeker": .bool(true)])
            #expect(next.dot.seq == last.dot.seq + 1)
            #expect(next.hlc > last.hlc)
            #expect(next.rowClock.covers(last.dot))
            last = next
        }
        #expect(reopened.logPosition == 5)
        #expect(try reopened.logEntries().map(\.change.dot.seq) == [1, 2, 3, 4, 5])
    }

    // MARK: Batch

    @Test func batchCommitsAllWritesTogether() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let observer = try Database(path: harness.path("jakobstad.sqlite"))
        let ids = (0..<3).map { _ in UUID() }
        var inTransaction: [Bool] = []
        var seenOutside: [[Int64]] = []
        let returned = try store.batch { () throws -> Int in
            for (index, id) in ids.enumerated() {
                try store.create(.client, id: id, fields: Sample.fixedClient(number: index))
                inTransaction.append(store.database.isInTransaction)
                seenOutside.append(try observer.query("SELECT count(*) FROM clients") { $0.int64(0) })
            }
            try store.update(.client, id: ids[0], fields: ["status": .text("assessed")])
            return 7
        }
        #expect(returned == 7)
        #expect(inTransaction == [true, true, true])
        #expect(seenOutside == [[0], [0], [0]], "another connection sees nothing before the batch commits")
        #expect(!store.database.isInTransaction)
        #expect(try observer.query("SELECT count(*) FROM clients") { $0.int64(0) } == [3])
        #expect(store.seq == 4)
        #expect(store.logPosition == 4)
        #expect(store.versionVector == VersionVector(["jakobstad": 4]))
        #expect(try store.logEntries().map(\.change.dot.seq) == [1, 2, 3, 4])
        #expect(try store.record(.client, id: ids[0])?.fields["status"] == .text("assessed"))
    }

    @Test func batchThatThrowsRollsBackTheDatabaseAndTheMemoryState() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let existing = UUID()
        try store.create(.client, id: existing, fields: Sample.fixedClient(number: 1))
        let before = try StoreSnapshot(store)
        harness.clock.advance(by: 1_000)

        var seqInside: UInt64 = 0
        let error = #expect(throws: Boom.self) {
            try store.batch {
                try store.create(.client, fields: Sample.fixedClient(number: 2))
                try store.create(.service, fields: Sample.fixedService(number: 1))
                try store.update(.client, id: existing, fields: ["status": .text("assessed")])
                try store.erase(.client, id: existing)
                seqInside = store.seq
                throw Boom()
            }
        }
        #expect(error == Boom())
        #expect(seqInside == before.seq + 4, "inside the batch the writes are visible")
        #expect(!store.database.isInTransaction)
        #expect(try StoreSnapshot(store) == before)

        // The next write takes the next seq and log position: no gap.
        let next = try store.update(.client, id: existing, fields: ["status": .text("assessed")])
        #expect(next.dot == Dot(origin: "jakobstad", seq: before.seq + 1))
        #expect(store.logPosition == before.logPosition + 1)
        #expect(next.hlc > before.lastHLC)
        #expect(try store.logEntries().map(\.position) == Array(1...(before.logPosition + 1)))
        // Memory and disk agree.
        #expect(try StoreSnapshot(store).persistedState == [Int64(next.dot.seq), Int64(next.hlc.rawValue), Int64(store.logPosition)])
    }

    @Test func aFailedWriteCaughtInsideABatchLeavesTheOthers() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let good = UUID()
        let missing = UUID()
        var invalid: ReplicaStoreError?
        var notFound: ReplicaStoreError?
        try store.batch {
            try store.create(.client, id: good, fields: Sample.fixedClient(number: 1))
            invalid = thrownError(ReplicaStoreError.self) {
                try store.create(.client, fields: ["clientNumber": .text("T-2")])
            }
            notFound = thrownError(ReplicaStoreError.self) {
                try store.delete(.client, id: missing)
            }
            try store.update(.client, id: good, fields: ["status": .text("assessed")])
        }
        guard case .invalid = invalid else {
            Issue.record("expected .invalid, got \(String(describing: invalid))")
            return
        }
        #expect(notFound == .notFound(.client, missing))
        #expect(store.seq == 2)
        #expect(try store.logEntries().map(\.change.dot.seq) == [1, 2])
        #expect(try store.count(.client) == 1)
    }

    // MARK: Queries

    /// Services and clients with known filter values.
    struct QueryFixture {
        let store: ReplicaStore
        let harness: StoreHarness
        var services: [String: UUID] = [:]
        var clients: [String: UUID] = [:]

        init() throws {
            harness = try StoreHarness()
            store = try harness.open("jakobstad")
            let serviceRows: [(String, String, String?)] = [
                ("coast", "598,599", "fi,sv"),
                ("north", "893", "sv"),
                ("islands", "440,598", nil),
                ("inland", "288,599", "fi,en"),
            ]
            for (index, (name, municipalities, languages)) in serviceRows.enumerated() {
                var fields = Sample.fixedService(number: index, municipalities: municipalities)
                fields["languages"] = languages.map { .text($0) } ?? .null
                let id = UUID()
                try store.create(.service, id: id, fields: fields)
                services[name] = id
            }
            let clientRows: [(String, Int64, Bool?, String)] = [
                ("a", 598, true, "new"),
                ("b", 598, false, "assessed"),
                ("c", 893, true, "assessed"),
                ("d", 893, nil, "new"),
                ("deleted", 598, true, "assessed"),
                ("erased", 598, true, "assessed"),
            ]
            for (index, (name, owner, jobseeker, status)) in clientRows.enumerated() {
                var fields = Sample.fixedClient(number: index, owner: owner)
                fields["jobseeker"] = jobseeker.map { .bool($0) } ?? .null
                fields["status"] = .text(status)
                let id = UUID()
                try store.create(.client, id: id, fields: fields)
                clients[name] = id
            }
            try store.delete(.client, id: clients["deleted"]!)
            try store.erase(.client, id: clients["erased"]!)
        }

        func clientNames(_ query: RecordQuery) throws -> Set<String> {
            let ids = Set(try store.list(.client, query).map(\.id))
            return Set(clients.filter { ids.contains($0.value) }.keys)
        }

        func serviceNames(_ query: RecordQuery) throws -> Set<String> {
            let ids = Set(try store.list(.service, query).map(\.id))
            return Set(services.filter { ids.contains($0.value) }.keys)
        }
    }

    @Test func listFiltersByEquals() throws {
        let fixture = try QueryFixture()
        var query = RecordQuery()
        query.equals = ["status": .text("assessed")]
        #expect(try fixture.clientNames(query) == ["b", "c"])
        query.equals = ["ownerMunicipality": .integer(893)]
        #expect(try fixture.clientNames(query) == ["c", "d"])
        query.equals = ["jobseeker": .bool(true)]
        #expect(try fixture.clientNames(query) == ["a", "c"])
        // An unset flag reads as false, as the typed records read it.
        query.equals = ["jobseeker": .bool(false)]
        #expect(try fixture.clientNames(query) == ["b", "d"])
        query.equals = ["jobseeker": .null]
        #expect(try fixture.clientNames(query) == ["d"])
        query.equals = ["ownerMunicipality": .integer(598), "status": .text("assessed")]
        #expect(try fixture.clientNames(query) == ["b"])
        query.equals = ["status": .text("closed")]
        #expect(try fixture.clientNames(query).isEmpty)
    }

    @Test func listFiltersByListMembership() throws {
        let fixture = try QueryFixture()
        var query = RecordQuery()
        query.contains = ["municipalities": "598"]
        #expect(try fixture.serviceNames(query) == ["coast", "islands"])
        query.contains = ["municipalities": "599"]
        #expect(try fixture.serviceNames(query) == ["coast", "inland"])
        query.contains = ["municipalities": "59"]
        #expect(try fixture.serviceNames(query).isEmpty, "a part of a code is no member")
        query.contains = ["languages": "sv"]
        #expect(try fixture.serviceNames(query) == ["coast", "north"])
        query.contains = ["municipalities": "598", "languages": "fi"]
        #expect(try fixture.serviceNames(query) == ["coast"])
        query.contains = [:]
        query.equals = ["municipalities": .text("893")]
        #expect(try fixture.serviceNames(query) == ["north"])
    }

    @Test func listExcludesDeletedAndErasedUnlessAsked() throws {
        let fixture = try QueryFixture()
        var query = RecordQuery()
        #expect(try fixture.clientNames(query) == ["a", "b", "c", "d"])
        query.includeDeleted = true
        #expect(try fixture.clientNames(query) == ["a", "b", "c", "d", "deleted"])
        query.includeDeleted = false
        query.includeErased = true
        #expect(try fixture.clientNames(query) == ["a", "b", "c", "d", "erased"])
        query.includeDeleted = true
        #expect(try fixture.clientNames(query) == ["a", "b", "c", "d", "deleted", "erased"])
        let erased = try #require(try fixture.store.list(.client, query).first { $0.id == fixture.clients["erased"] })
        #expect(erased.erased)
        #expect(try fixture.store.count(.client) == 4)
        #expect(try fixture.store.count(.service) == 4)
        #expect(try fixture.store.count(.placement) == 0)
    }

    @Test func listRejectsUnknownFilterFields() throws {
        let fixture = try QueryFixture()
        var query = RecordQuery()
        query.equals = ["shoeSize": .integer(42)]
        #expect(throws: ReplicaStoreError.invalid([FieldProblem(field: "shoeSize", reason: "unknown field")])) {
            try fixture.store.list(.client, query)
        }
        query.equals = ["providerName": .text("Testiopisto")] // a service field, not a client one
        #expect(throws: ReplicaStoreError.invalid([FieldProblem(field: "providerName", reason: "unknown field")])) {
            try fixture.store.list(.client, query)
        }
        query = RecordQuery()
        query.contains = ["status": "new"]
        #expect(throws: ReplicaStoreError.invalid([FieldProblem(field: "status", reason: "is not a list field")])) {
            try fixture.store.list(.client, query)
        }
    }

    @Test func keysetPagingReturnsEveryRecordOnceInIDOrder() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        var ids: [UUID] = []
        try store.batch {
            for index in 0..<23 {
                let id = UUID()
                try store.create(.service, id: id, fields: Sample.fixedService(number: index))
                ids.append(id)
            }
        }
        try store.delete(.service, id: ids[5])
        let live = ids.enumerated().filter { $0.offset != 5 }.map(\.element.lowercased).sorted()
        for limit in [1, 5, 22, 50] {
            var query = RecordQuery()
            query.limit = limit
            var seen: [String] = []
            var pages = 0
            while true {
                let page = try store.list(.service, query)
                #expect(page.count <= limit)
                if page.isEmpty { break }
                pages += 1
                seen += page.map(\.id.lowercased)
                query.afterID = page.last!.id.lowercased
                try #require(pages <= 30, "paging does not end")
            }
            #expect(seen == live, "limit \(limit)")
            #expect(pages == (live.count + limit - 1) / limit)
        }
        var all = RecordQuery()
        all.includeDeleted = true
        #expect(try store.list(.service, all).map(\.id.lowercased) == ids.map(\.lowercased).sorted())
        var none = RecordQuery()
        none.limit = 0
        #expect(try store.list(.service, none).isEmpty)
    }

    @Test func recordReturnsStampsPerFieldAndNilWhenUnknown() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        let id = UUID()
        let created = try store.create(.service, id: id, fields: Sample.fixedService(number: 1))
        harness.clock.advance(by: 2_000)
        let first = try store.update(.service, id: id, fields: ["capacity": .integer(12)])
        harness.clock.advance(by: 2_000)
        let second = try store.update(.service, id: id, fields: ["status": .text("full"), "capacity": .integer(0)])
        let record = try #require(try store.record(.service, id: id))
        #expect(record.stamps["capacity"] == FieldStamp(hlc: second.hlc, dot: second.dot))
        #expect(record.stamps["status"] == FieldStamp(hlc: second.hlc, dot: second.dot))
        #expect(record.stamps["nameFi"] == FieldStamp(hlc: created.hlc, dot: created.dot))
        #expect(record.stamps["contact"] == FieldStamp(hlc: created.hlc, dot: created.dot), "null fields carry the create's stamp too")
        #expect(!record.stamps.values.contains(FieldStamp(hlc: first.hlc, dot: first.dot)), "superseded")
        #expect(record.fields["capacity"] == .integer(0))
        #expect(record.rowClock == VersionVector(["jakobstad": 3]))
        #expect(try store.record(.service, id: UUID()) == nil)
        #expect(try store.record(.client, id: id) == nil, "an id of another kind")
    }
}
