import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// The merged view's report queries on a real SQLite file with known
/// records: what they count, what an office's scope holds, and that deleted,
/// erased and awaiting-erase rows never count.
@Suite struct ReportQueryTests {
    /// A store of jakobstad holding a small, known region.
    final class Region {
        let harness: StoreHarness
        let store: ReplicaStore
        var clients: [String: UUID] = [:]
        var services: [String: UUID] = [:]
        var placements: [String: UUID] = [:]

        init() throws {
            harness = try StoreHarness()
            store = try harness.open("jakobstad")
        }

        @discardableResult
        func client(_ name: String, number: Int, owner: Int64, permit: String? = nil, status: String = "new",
                    dates: [String: String] = [:]) throws -> UUID {
            var fields = Sample.fixedClient(number: number, owner: owner)
            fields["status"] = .text(status)
            if let permit { fields["permitBasis"] = .text(permit) }
            for (field, value) in dates { fields[field] = .text(value) }
            let id = UUID()
            try store.create(.client, id: id, fields: fields)
            clients[name] = id
            return id
        }

        @discardableResult
        func service(_ name: String, municipalities: String, category: String = "language_course", capacity: Int64? = nil,
                     languages: String? = nil, status: String = "active") throws -> UUID {
            var fields = Sample.fixedService(number: services.count + 1, municipalities: municipalities, category: category)
            fields["status"] = .text(status)
            if let capacity { fields["capacity"] = .integer(capacity) }
            if let languages { fields["languages"] = .text(languages) }
            let id = UUID()
            try store.create(.service, id: id, fields: fields)
            services[name] = id
            return id
        }

        @discardableResult
        func enrolment(_ name: String, client: String, service: String, status: String = "proposed", referral: String? = nil) throws -> UUID {
            var fields = Sample.enrolment(client: clients[client]!, service: services[service]!)
            fields["status"] = .text(status)
            if let referral { fields["referralDate"] = .text(referral) }
            let id = UUID()
            try store.create(.placement, id: id, fields: fields)
            placements[name] = id
            return id
        }

        @discardableResult
        func municipal(_ name: String, client: String, into municipality: Int64, status: String, offered: String? = nil,
                       arrived: String? = nil) throws -> UUID {
            var fields: FieldMap = ["type": .text("municipal_placement"), "clientId": .text(clients[client]!.lowercased),
                                    "municipality": .integer(municipality), "route": .text("quota"), "status": .text(status)]
            if let offered { fields["offeredDate"] = .text(offered) }
            if let arrived { fields["arrivalDate"] = .text(arrived) }
            let id = UUID()
            try store.create(.placement, id: id, fields: fields)
            placements[name] = id
            return id
        }
    }

    static let office = ReportScope(municipality: 598)

    @Test func clientGroupsCountLiveClientsByOwnerPermitAndStatus() throws {
        let region = try Region()
        try region.client("a", number: 1, owner: 598, permit: "quota_refugee")
        try region.client("b", number: 2, owner: 598, permit: "quota_refugee")
        try region.client("c", number: 3, owner: 598, status: "assessed")
        try region.client("d", number: 4, owner: 288, permit: "work")
        let deleted = try region.client("e", number: 5, owner: 598, permit: "quota_refugee")
        let erased = try region.client("f", number: 6, owner: 288, permit: "work")
        try region.store.delete(.client, id: deleted)
        try region.store.erase(.client, id: erased)

        let all = try region.store.view.clientGroupCounts(.region)
        #expect(all == [
            ClientGroupCount(municipality: 288, permitBasis: "work", status: "new", count: 1),
            ClientGroupCount(municipality: 598, permitBasis: nil, status: "assessed", count: 1),
            ClientGroupCount(municipality: 598, permitBasis: "quota_refugee", status: "new", count: 2),
        ])
        #expect(try region.store.view.clientGroupCounts(Self.office).map(\.municipality) == [598, 598])
        #expect(all.reduce(0) { $0 + $1.count } == (try region.store.count(.client)))
    }

    @Test func anOfficeSeesThePlacementsOfItsClientsIntoItsServicesAndIntoIt() throws {
        let region = try Region()
        try region.client("own", number: 1, owner: 598)
        try region.client("other", number: 2, owner: 288)
        try region.service("ours", municipalities: "598,599")
        try region.service("theirs", municipalities: "288")
        try region.enrolment("own-in-theirs", client: "own", service: "theirs")             // its client
        try region.enrolment("other-in-ours", client: "other", service: "ours", status: "active") // its service
        try region.enrolment("other-in-theirs", client: "other", service: "theirs")           // not its
        try region.municipal("into-us", client: "other", into: 598, status: "offered")          // into it
        try region.municipal("into-them", client: "other", into: 288, status: "arrived")        // not its
        let gone = try region.enrolment("deleted", client: "own", service: "ours")
        try region.store.delete(.placement, id: gone)

        let all = try region.store.view.placementGroupCounts(.region)
        #expect(all == [
            PlacementGroupCount(type: "municipal_placement", status: "arrived", count: 1),
            PlacementGroupCount(type: "municipal_placement", status: "offered", count: 1),
            PlacementGroupCount(type: "service_enrolment", status: "active", count: 1),
            PlacementGroupCount(type: "service_enrolment", status: "proposed", count: 2),
        ])
        #expect(try region.store.view.placementGroupCounts(Self.office) == [
            PlacementGroupCount(type: "municipal_placement", status: "offered", count: 1),
            PlacementGroupCount(type: "service_enrolment", status: "active", count: 1),
            PlacementGroupCount(type: "service_enrolment", status: "proposed", count: 1),
        ])
    }

    @Test func servicesByCategoryInScope() throws {
        let region = try Region()
        try region.service("a", municipalities: "598,599", category: "language_course")
        try region.service("b", municipalities: "599,893", category: "language_course")  // not 598
        try region.service("c", municipalities: "288,598", category: "literacy_training")
        let gone = try region.service("d", municipalities: "598", category: "literacy_training")
        try region.store.delete(.service, id: gone)
        #expect(try region.store.view.serviceCategoryCounts(.region) == [
            ServiceCategoryCount(category: "language_course", count: 2), ServiceCategoryCount(category: "literacy_training", count: 1),
        ])
        #expect(try region.store.view.serviceCategoryCounts(Self.office) == [
            ServiceCategoryCount(category: "language_course", count: 1), ServiceCategoryCount(category: "literacy_training", count: 1),
        ])
    }

    @Test func municipalPlacementsCountInTheYearOfTheirOfferElseArrival() throws {
        let region = try Region()
        try region.client("x", number: 1, owner: 598)
        try region.municipal("offered-2026", client: "x", into: 598, status: "offered", offered: "2026-03-01")
        try region.municipal("offered-2025-arrived-2026", client: "x", into: 598, status: "arrived", offered: "2025-12-20", arrived: "2026-01-10")
        try region.municipal("arrived-2026", client: "x", into: 288, status: "arrived", arrived: "2026-12-31")
        try region.municipal("no-dates", client: "x", into: 598, status: "cancelled")
        try region.municipal("cancelled-2026", client: "x", into: 598, status: "cancelled", offered: "2026-01-01")
        #expect(try region.store.view.municipalPlacementCounts(year: 2026, .region) == [
            MunicipalPlacementCount(municipality: 288, status: "arrived", count: 1),
            MunicipalPlacementCount(municipality: 598, status: "cancelled", count: 1),
            MunicipalPlacementCount(municipality: 598, status: "offered", count: 1),
        ])
        #expect(try region.store.view.municipalPlacementCounts(year: 2025, Self.office) == [
            MunicipalPlacementCount(municipality: 598, status: "arrived", count: 1),
        ])
    }

    @Test func serviceLoadsCountActiveAndWaitingEnrolments() throws {
        let region = try Region()
        for number in 1...4 { try region.client("c\(number)", number: number, owner: 598) }
        try region.service("s", municipalities: "598", capacity: 10, languages: "fi,ar")
        try region.service("empty", municipalities: "288")
        try region.enrolment("p1", client: "c1", service: "s", status: "active")
        try region.enrolment("p2", client: "c2", service: "s", status: "active")
        try region.enrolment("p3", client: "c3", service: "s", status: "waiting")
        try region.enrolment("p4", client: "c4", service: "s", status: "completed")
        let gone = try region.enrolment("p5", client: "c4", service: "s", status: "active")
        try region.store.delete(.placement, id: gone)
        let loads = try region.store.view.serviceLoads(.region)
        let load = try #require(loads.first { $0.id == region.services["s"] })
        #expect((load.active, load.waiting, load.capacity) == (2, 1, 10))
        #expect(load.languages == ["fi", "ar"])
        #expect(load.municipalities == [598])
        #expect(loads.first { $0.id == region.services["empty"] }.map { ($0.active, $0.waiting, $0.capacity) }! == (0, 0, nil))
        #expect(try region.store.view.serviceLoads(Self.office).map(\.id) == [region.services["s"]!])
    }

    static let rules = [
        DeadlineRule(id: "assessment", from: .firstPermitDate, period: .months(36), metBy: .assessmentDate),
        DeadlineRule(id: "planLength", from: .planStart, period: .months(12), metBy: .planEnd, within: true),
        DeadlineRule(id: "referral", from: .planStart, period: .months(6), metBy: .referralDate),
    ]

    @Test func deadlineCandidatesAreTheClientsSomeRuleIsPendingFor() throws {
        let region = try Region()
        try region.client("pending-assessment", number: 1, owner: 598, dates: ["firstPermitDate": "2024-01-15"])
        try region.client("all-met", number: 2, owner: 598, status: "plan_active",
                          dates: ["firstPermitDate": "2024-01-15", "assessmentDate": "2024-03-01", "planStart": "2024-04-01",
                                  "planEnd": "2025-03-01"])
        try region.client("no-referral", number: 3, owner: 288, status: "plan_active",
                          dates: ["firstPermitDate": "2024-01-15", "assessmentDate": "2024-03-01", "planStart": "2024-04-01",
                                  "planEnd": "2025-03-31"])
        try region.client("plan-too-long", number: 4, owner: 598, status: "plan_active",
                          dates: ["firstPermitDate": "2024-01-15", "assessmentDate": "2024-03-01", "planStart": "2024-01-31",
                                  "planEnd": "2025-02-01"])
        // A plan of exactly a year is within its limit: not a candidate.
        try region.client("exactly-a-year", number: 7, owner: 598, status: "plan_active",
                          dates: ["firstPermitDate": "2023-01-31", "assessmentDate": "2023-02-28", "planStart": "2023-03-31",
                                  "planEnd": "2024-03-31"])
        try region.client("a-month-from-january", number: 8, owner: 598, status: "plan_active",
                          dates: ["firstPermitDate": "2023-12-01", "assessmentDate": "2023-12-15", "planStart": "2024-01-31",
                                  "planEnd": "2024-03-01"])
        try region.client("closed", number: 5, owner: 598, status: "closed", dates: ["firstPermitDate": "2024-01-15"])
        try region.client("no-dates", number: 6, owner: 598)
        try region.service("s", municipalities: "598,288")
        try region.enrolment("referred", client: "all-met", service: "s", status: "referred", referral: "2024-05-01")
        // A referral before the plan does not meet the rule.
        try region.enrolment("early", client: "no-referral", service: "s", status: "referred", referral: "2024-03-15")
        try region.enrolment("ok-for-long", client: "plan-too-long", service: "s", status: "referred", referral: "2024-02-15")
        try region.enrolment("year", client: "exactly-a-year", service: "s", status: "referred", referral: "2023-04-15")
        try region.enrolment("month", client: "a-month-from-january", service: "s", status: "referred", referral: "2024-02-01")

        let candidates = try region.store.view.deadlineCandidates(Self.rules, .region)
        let byID = Dictionary(uniqueKeysWithValues: candidates.map { ($0.clientID, $0) })
        func id(_ name: String) -> String { region.clients[name]!.lowercased }
        #expect(Set(byID.keys) == Set(["pending-assessment", "no-referral", "plan-too-long"].map(id)))
        let noReferral = try #require(byID[id("no-referral")])
        #expect(noReferral.municipality == 288)
        #expect(noReferral.clientNumber == "T-3")
        #expect(noReferral.facts.referralDates == [LocalDate("2024-03-15")!], "before its plan: no evidence")
        #expect(DeadlineRule.next(of: Self.rules, for: noReferral.facts)?.rule.id == "referral")
        let tooLong = try #require(byID[id("plan-too-long")])
        #expect(tooLong.facts.referralDates == [LocalDate("2024-02-15")!])
        #expect(tooLong.facts.planEnd == LocalDate("2025-02-01"))
        let next = try #require(DeadlineRule.next(of: Self.rules, for: tooLong.facts))
        #expect(next.rule.id == "planLength")
        #expect(next.due == LocalDate("2025-01-31"))
        // A month-long rule from 31 January ends on 29 February (SQLite's own `+1 month` would say 2 March):
        // a plan ending on 1 March is over it.
        let monthRule = [DeadlineRule(id: "month", from: .planStart, period: .months(1), metBy: .planEnd, within: true)]
        let monthCandidates = try region.store.view.deadlineCandidates(monthRule, .region)
        let month = try #require(monthCandidates.first { $0.clientID == id("a-month-from-january") })
        #expect(monthRule[0].pendingDueDate(month.facts) == LocalDate("2024-02-29"))
        let office = try region.store.view.deadlineCandidates(Self.rules, Self.office).map(\.clientID)
        #expect(office.sorted() == ["pending-assessment", "plan-too-long"].map(id).sorted())
        #expect(try region.store.view.deadlineCandidates([], .region).isEmpty)
    }

    @Test func danglingReferencesNameDeletedErasedAndMissingRecords() throws {
        let region = try Region()
        try region.client("deleted", number: 1, owner: 598)
        try region.client("erased", number: 2, owner: 598)
        try region.client("missing", number: 3, owner: 288)
        try region.client("fine", number: 4, owner: 598)
        try region.service("s", municipalities: "598")
        try region.service("gone", municipalities: "288")
        let a = try region.enrolment("a", client: "deleted", service: "s")
        let b = try region.enrolment("b", client: "erased", service: "s")
        let c = try region.enrolment("c", client: "missing", service: "gone")
        try region.enrolment("d", client: "fine", service: "s")
        try region.store.delete(.client, id: region.clients["deleted"]!)
        try region.store.erase(.client, id: region.clients["erased"]!)
        try region.store.delete(.service, id: region.services["gone"]!)
        // A row no change of which reached this replica: removed behind the store's back.
        try region.store.database.run("DELETE FROM clients WHERE id = ?", .text(region.clients["missing"]!.lowercased))

        let expected = [
            DanglingReference(placementID: a.lowercased, field: "clientId", missingID: region.clients["deleted"]!.lowercased, reason: .deleted),
            DanglingReference(placementID: b.lowercased, field: "clientId", missingID: region.clients["erased"]!.lowercased, reason: .erased),
            DanglingReference(placementID: c.lowercased, field: "clientId", missingID: region.clients["missing"]!.lowercased, reason: .missing),
            DanglingReference(placementID: c.lowercased, field: "serviceId", missingID: region.services["gone"]!.lowercased, reason: .deleted),
        ].sorted { ($0.placementID, $0.field) < ($1.placementID, $1.field) }
        #expect(try region.store.view.danglingReferences(.region) == expected)
        // Jakobstad's: of its clients (a, b); c's client is missing and its service serves 288 only.
        #expect(try Set(region.store.view.danglingReferences(Self.office).map(\.placementID)) == [a.lowercased, b.lowercased])
    }

    @Test func duplicateClientNumbersAcrossOffices() throws {
        let region = try Region()
        try region.client("a", number: 7, owner: 598)
        try region.client("b", number: 7, owner: 288)
        try region.client("c", number: 8, owner: 288)
        try region.client("d", number: 8, owner: 440)
        try region.client("e", number: 9, owner: 598)
        let gone = try region.client("f", number: 9, owner: 598)
        try region.store.delete(.client, id: gone)
        #expect(try region.store.view.duplicateClientNumbers(.region) == [
            DuplicateClientNumber(clientNumber: "T-7", count: 2, municipalities: [288, 598]),
            DuplicateClientNumber(clientNumber: "T-8", count: 2, municipalities: [288, 440]),
        ])
        #expect(try region.store.view.duplicateClientNumbers(Self.office).map(\.clientNumber) == ["T-7"])
    }

    @Test func conflictAgesAreWhenThisReplicaFirstHeldThem() throws {
        let harness = try StoreHarness()
        let jakobstad = try harness.open("jakobstad")
        let larsmo = try harness.open("larsmo")
        let id = UUID()
        try jakobstad.create(.client, id: id, fields: Sample.fixedClient(number: 1, owner: 598))
        try pullAll(larsmo, from: jakobstad)
        try jakobstad.update(.client, id: id, fields: ["status": .text("assessed")])
        try larsmo.update(.client, id: id, fields: ["status": .text("closed")])
        harness.clock.advance(by: 5_000)
        let seen = Int64(harness.clock.now)
        try pullAll(jakobstad, from: larsmo)
        let ages = try jakobstad.view.conflictAges(.region)
        #expect(ages == [ConflictAge(kind: .client, rowID: id, field: "status", firstSeenMillis: seen)])
        #expect(try jakobstad.view.conflictAges(ReportScope(municipality: 598)) == ages)
        #expect(try jakobstad.view.conflictAges(ReportScope(municipality: 288)).isEmpty)
    }

    @Test func allRecordsReadsEveryPageOfTheQuery() throws {
        let region = try Region()
        for number in 1...23 { try region.client("c\(number)", number: number, owner: number % 2 == 0 ? 598 : 288) }
        var query = RecordQuery()
        query.equals["ownerMunicipality"] = .integer(598)
        query.limit = 5
        let all = try region.store.view.allRecords(.client, query, pageSize: 4)
        #expect(all.count == 11)
        #expect(all.map { $0.id.lowercased } == all.map { $0.id.lowercased }.sorted())
        #expect(Set(all.map(\.id)) == Set((1...23).filter { $0 % 2 == 0 }.map { region.clients["c\($0)"]! }))
    }

    /// The report indexes are only any use if SQLite picks them for the
    /// reports' queries (partial indexes need the queries' `WHERE` to repeat
    /// their terms) and answers from them alone: the plans must say so.
    @Test func theReportQueriesReadTheReportIndexesAlone() throws {
        let region = try Region()
        func plan(_ sql: String, _ values: [SQLiteValue] = []) throws -> String {
            try region.store.database.query("EXPLAIN QUERY PLAN " + sql, values) { $0.string(3) ?? "" }.joined(separator: "\n")
        }
        let live = ReportSQL.live()
        #expect(try plan("SELECT owner_municipality, permit_basis, status, count(*) FROM clients WHERE \(live) GROUP BY 1, 2, 3")
            .contains("COVERING INDEX report_clients_groups"))
        let deadlines = try plan("""
            SELECT c.id, c.client_number, c.owner_municipality, c.first_permit_date, c.arrival_date, c.assessment_date, c.plan_start,
            c.plan_end FROM clients c WHERE \(ReportSQL.live("c")) AND c.status NOT IN ('moved_away', 'closed') AND +c.owner_municipality = ?
            ORDER BY c.id
            """, [.integer(598)])
        #expect(deadlines.contains("COVERING INDEX report_clients_open") && !deadlines.contains("TEMP B-TREE"))
        let referrals = try plan("""
            SELECT client_id, referral_date FROM placements WHERE referral_date IS NOT NULL AND \(live) AND +type = 'service_enrolment'
            ORDER BY client_id, referral_date
            """)
        #expect(referrals.contains("COVERING INDEX report_placements_referrals") && !referrals.contains("TEMP B-TREE"))
        #expect(try plan("""
            SELECT municipality, status, count(*) FROM placements WHERE type = 'municipal_placement' AND \(live)
            AND coalesce(offered_date, arrival_date) BETWEEN ? AND ? AND municipality = ? GROUP BY municipality, status
            """, [.text("2026-01-01"), .text("2026-12-31"), .integer(598)]).contains("COVERING INDEX report_placements_municipal"))
        // Integrity: the rows not shown, from their partial indexes; the shared client numbers from theirs.
        #expect(try plan("""
            SELECT p.id FROM clients t CROSS JOIN placements p ON p.client_id = t.id WHERE \(ReportSQL.notLive("t")) AND \(ReportSQL.live("p"))
            """).contains("COVERING INDEX report_clients_not_live"))
        #expect(try plan("""
            SELECT p.id FROM services t CROSS JOIN placements p ON p.service_id = t.id WHERE \(ReportSQL.notLive("t")) AND \(ReportSQL.live("p"))
            """).contains("COVERING INDEX report_services_not_live"))
        #expect(try plan("SELECT client_number, n FROM report_client_numbers WHERE n > 1 ORDER BY client_number")
            .contains("COVERING INDEX client_numbers_shared"))
        // An office's own clients' placements: one key range of the owner aggregate.
        #expect(try plan("SELECT type, status, service_id, municipality, n FROM report_owner_placements WHERE owner = ? AND n != 0", [.integer(598)])
            .contains("SEARCH report_owner_placements USING PRIMARY KEY (owner=?)"))
    }

    @Test func theReportIndexesAreCreatedAtOpenWithoutANewSchemaVersion() throws {
        let harness = try StoreHarness()
        func indexes(_ database: Database) throws -> Set<String> {
            Set(try database.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'report_%'") { $0.string(0) ?? "" })
        }
        do {
            let store = try harness.open("jakobstad")
            #expect(try indexes(store.database) == Set(ReplicaStore.reportIndexNames))
            // A replica of this schema version from before the report indexes.
            for name in ReplicaStore.reportIndexNames { try store.database.execute("DROP INDEX \(name)") }
            #expect(try indexes(store.database).isEmpty)
        }
        let reopened = try harness.open("jakobstad")
        #expect(try indexes(reopened.database) == Set(ReplicaStore.reportIndexNames))
        #expect(try reopened.database.query("PRAGMA user_version") { Int($0.int64(0)) } == [ReplicaStore.schemaVersion])
        #expect(ReplicaStore.schemaVersion == 4, "the report indexes are not a migration")
    }
}
