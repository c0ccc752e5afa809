import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// The trigger-kept report aggregates against the same reports counted
/// straight from the rows, on randomized histories: local writes, deletes,
/// restores, erases, remote merges (field by field, with conflicts), rows
/// written and removed with plain SQL, placements arriving before their client.
@Suite struct ReportAggregateTests {
    static let codes: [Int64] = [598, 893, 288, 599, 440]
    static let scopes = [ReportScope.region] + codes.map { ReportScope(municipality: Int($0)) }

    /// Every report answer the aggregates feed equals its recount, in every scope.
    static func expectAggregatesMatchRows(_ view: MergedView, _ comment: Comment) throws {
        #expect(try view.hasReportAggregates, comment)
        for scope in scopes {
            #expect(try view.placementGroupCounts(scope) == view.recountedPlacementGroupCounts(scope), comment)
            #expect(try view.danglingReferences(scope) == view.recountedDanglingReferences(scope), comment)
            #expect(try view.duplicateClientNumbers(scope) == view.recountedDuplicateClientNumbers(scope), comment)
        }
        let loads = try view.serviceLoads(.region)
        let recounted = try view.recountedServiceEnrolments()
        for load in loads {
            let expected = recounted[load.id.lowercased] ?? (0, 0)
            #expect(load.active == expected.active && load.waiting == expected.waiting, comment)
        }
        // No count below zero, and nothing left over for a group the rows do not hold.
        #expect(try view.database.query("""
            SELECT (SELECT count(*) FROM report_placement_groups WHERE n < 0) + (SELECT count(*) FROM report_service_enrolments WHERE n < 0)
                 + (SELECT count(*) FROM report_owner_placements WHERE n < 0) + (SELECT count(*) FROM report_client_numbers WHERE n <= 0)
            """) { $0.int64(0) } == [0], comment)
    }

    /// A randomized region history on two replicas.
    struct History {
        var rng: SeededGenerator
        let jakobstad: ReplicaStore
        let larsmo: ReplicaStore
        var clients: [UUID] = []
        var services: [UUID] = []
        var placements: [UUID] = []
        /// Ids placements name before (or without) any row of them.
        var unborn: [UUID] = []

        mutating func pick(_ ids: [UUID]) -> UUID? { ids.isEmpty ? nil : ids[Int.random(in: 0..<ids.count, using: &rng)] }
        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }
        mutating func code() -> Int64 { ReportAggregateTests.codes.randomElement(using: &rng)! }

        mutating func municipalities() -> String {
            Set((0...Int.random(in: 0...2, using: &rng)).map { _ in code() }).sorted().map(String.init).joined(separator: ",")
        }

        /// One random step on `store` (a local write, or plain SQL on its record tables).
        mutating func step(_ store: ReplicaStore) throws {
            let db = store.database
            switch Int.random(in: 0..<16, using: &rng) {
            case 0, 1:
                var fields = Sample.fixedClient(number: Int.random(in: 1...12, using: &rng), owner: code())
                fields["status"] = .text(ClientStatus.allCases.randomElement(using: &rng)!.rawValue)
                // Sometimes the client a placement already names arrives.
                let id = chance(30) ? (unborn.popLast() ?? UUID()) : UUID()
                _ = try store.create(.client, id: id, fields: fields)
                clients.append(id)
            case 2:
                let id = chance(30) ? (unborn.popLast() ?? UUID()) : UUID()
                _ = try store.create(.service, id: id, fields: Sample.fixedService(number: services.count + 1, municipalities: municipalities()))
                services.append(id)
            case 3, 4, 5:
                // The store takes placements of clients and services it holds only; one naming a row that never
                // reached this replica is made below with plain SQL.
                guard let client = pick(clients), try store.view.record(.client, id: client) != nil else { return }
                let fields: FieldMap
                if chance(70), let service = pick(services), try store.view.record(.service, id: service) != nil {
                    var enrolment = Sample.enrolment(client: client, service: service)
                    enrolment["status"] = .text(EnrolmentStatus.allCases.randomElement(using: &rng)!.rawValue)
                    fields = enrolment
                } else {
                    fields = ["type": .text("municipal_placement"), "clientId": .text(client.lowercased), "municipality": .integer(code()),
                              "route": .text("quota"), "status": .text(MunicipalPlacementStatus.allCases.randomElement(using: &rng)!.rawValue)]
                }
                let id = UUID()
                guard (try? store.create(.placement, id: id, fields: fields)) != nil else { return }
                placements.append(id)
                if chance(10) {
                    let unknown = UUID()
                    unborn.append(unknown)
                    try db.run("UPDATE placements SET \(chance(70) ? "client_id" : "service_id") = ? WHERE id = ?",
                               .text(unknown.lowercased), .text(id.lowercased))
                }
            case 6:
                guard let id = pick(clients), try store.view.record(.client, id: id) != nil else { return }
                var fields: FieldMap = [:]
                if chance(50) { fields["ownerMunicipality"] = .integer(code()) }
                if chance(50) { fields["clientNumber"] = .text("T-\(Int.random(in: 1...12, using: &rng))") }
                fields["status"] = .text(ClientStatus.allCases.randomElement(using: &rng)!.rawValue)
                _ = try? store.update(.client, id: id, fields: fields)
            case 7:
                guard let id = pick(services), try store.view.record(.service, id: id) != nil else { return }
                _ = try? store.update(.service, id: id, fields: ["municipalities": .text(municipalities())])
            case 8:
                guard let id = pick(placements), let record = try store.view.record(.placement, id: id) else { return }
                var fields: FieldMap = [:]
                if record.fields["type"] == .text("service_enrolment") {
                    fields["status"] = .text(EnrolmentStatus.allCases.randomElement(using: &rng)!.rawValue)
                    if chance(30), let service = pick(services) { fields["serviceId"] = .text(service.lowercased) }
                } else {
                    fields["status"] = .text(MunicipalPlacementStatus.allCases.randomElement(using: &rng)!.rawValue)
                    if chance(30) { fields["municipality"] = .integer(code()) }
                }
                if chance(20), let client = pick(clients) { fields["clientId"] = .text(client.lowercased) }
                _ = try? store.update(.placement, id: id, fields: fields)
            case 9:
                let kind = [RecordKind.client, .service, .placement].randomElement(using: &rng)!
                guard let id = pick(kind == .client ? clients : kind == .service ? services : placements) else { return }
                _ = try? (chance(60) ? store.delete(kind, id: id) : store.restore(kind, id: id))
            case 10:
                let kind = [RecordKind.client, .placement].randomElement(using: &rng)!
                guard chance(40), let id = pick(kind == .client ? clients : placements) else { return }
                _ = try? store.erase(kind, id: id)
            case 11:
                // A row removed behind the store's back (its placements now miss it), or a placement's type changed in place.
                if chance(50), let id = pick(clients) {
                    try db.run("DELETE FROM clients WHERE id = ?", .text(id.lowercased))
                } else if let id = pick(placements) {
                    try db.run("UPDATE placements SET type = CASE type WHEN 'service_enrolment' THEN 'municipal_placement' ELSE 'service_enrolment' END WHERE id = ?",
                               .text(id.lowercased))
                }
            case 12:
                if let id = pick(services), chance(30) {
                    try db.run("DELETE FROM services WHERE id = ?", .text(id.lowercased))
                } else if let id = pick(placements) {
                    try db.run("UPDATE placements SET deleted = NULL, municipality = NULL WHERE id = ?", .text(id.lowercased))
                }
            case 13:
                if let id = pick(placements), chance(30) { try db.run("DELETE FROM placements WHERE id = ?", .text(id.lowercased)) }
            default:
                // Sync both ways: remote changes merged field by field, concurrent edits become conflicts.
                _ = try pullAll(jakobstad, from: larsmo)
                _ = try pullAll(larsmo, from: jakobstad)
            }
        }
    }

    @Test(arguments: scenarioSeeds(environmentPrefix: "KOTOSYNC_REPORT_AGGREGATES", defaultCount: 6))
    func theAggregatesEqualTheRowsAfterEveryKindOfWrite(seed: UInt64) throws {
        let harness = try StoreHarness()
        var history = History(rng: SeededGenerator(seed: seed), jakobstad: try harness.open("jakobstad"), larsmo: try harness.open("larsmo"))
        for step in 1...240 {
            try history.step(history.chance(70) ? history.jakobstad : history.larsmo)
            if step % 40 == 0 {
                try Self.expectAggregatesMatchRows(history.jakobstad.view, "seed \(seed), step \(step), jakobstad")
                try Self.expectAggregatesMatchRows(history.larsmo.view, "seed \(seed), step \(step), larsmo")
            }
        }
        // The history exercised what it is about: dangling references of every reason, shared numbers, owners' groups.
        let view = history.jakobstad.view
        let reasons = Set(try view.recountedDanglingReferences(.region).map(\.reason))
        #expect(!reasons.isEmpty)
        #expect(try !view.recountedDuplicateClientNumbers(.region).isEmpty)
        #expect(try !view.recountedPlacementGroupCounts(.region).isEmpty)
    }

    @Test func aReplicaWithoutTheAggregatesOrWithOthersGetsThemBuiltFromItsRows() throws {
        let harness = try StoreHarness()
        var history = History(rng: SeededGenerator(seed: 99), jakobstad: try harness.open("jakobstad"), larsmo: try harness.open("larsmo"))
        for _ in 0..<200 { try history.step(history.jakobstad) }
        let expected = try ReportAggregateTests.scopes.map { try history.jakobstad.view.placementGroupCounts($0) }
        let database = history.jakobstad.database
        // A trigger of another build: every aggregate is rebuilt at the next open.
        try database.execute("DROP TRIGGER report_clients_update")
        try database.execute("DELETE FROM report_owner_placements")
        #expect(try !history.jakobstad.view.hasReportAggregates)
        // Without them the reports count rows, with the same answers.
        #expect(try ReportAggregateTests.scopes.map { try history.jakobstad.view.placementGroupCounts($0) } == expected)
        let reopened = try harness.open("jakobstad")
        #expect(try reopened.view.hasReportAggregates)
        #expect(try ReportAggregateTests.scopes.map { try reopened.view.placementGroupCounts($0) } == expected)
        try Self.expectAggregatesMatchRows(reopened.view, "rebuilt")
        // A database without any (from before them) gets them too.
        for (type, name, _) in ReportAggregates.objects.reversed() where type != "index" {
            try reopened.database.execute("DROP \(type.uppercased()) \(name)")
        }
        #expect(try !reopened.view.hasReportAggregates)
        #expect(try ReportAggregateTests.scopes.map { try reopened.view.placementGroupCounts($0) } == expected, "recounted")
        let again = try harness.open("jakobstad")
        try Self.expectAggregatesMatchRows(again.view, "built")
        #expect(try ReportAggregateTests.scopes.map { try again.view.placementGroupCounts($0) } == expected)
    }
}
