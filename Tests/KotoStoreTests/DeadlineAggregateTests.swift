import Foundation
import KotoCore
import KotoTestSupport
import Testing
@testable import KotoStore

/// The trigger-kept next limits (`deadline_next`) against the rules
/// evaluated client by client (`recountedDeadlineListing`: `DeadlineRule`
/// itself), on randomized histories of local writes, remote merges, deletes,
/// restores, erases and rows written with plain SQL, then after the rules change.
@Suite struct DeadlineAggregateTests {
    static let codes: [Int64] = [598, 893, 288, 599, 440]
    static let scopes = [ReportScope.region] + codes.map { ReportScope(municipality: Int($0)) }
    /// Days around the data's dates, so every state occurs.
    static let todays = [LocalDate(year: 2024, month: 2, day: 29)!, LocalDate(year: 2026, month: 12, day: 1)!,
                         LocalDate(year: 2029, month: 1, day: 31)!]

    /// Rules of every shape: days and months, met by a client date or a referral, with and without `within`.
    static let otherRules = [
        DeadlineRule(id: "quick", from: .arrivalDate, period: .days(45), metBy: .assessmentDate),
        DeadlineRule(id: "month", from: .planStart, period: .months(1), metBy: .planEnd, within: true),
        DeadlineRule(id: "refer", from: .assessmentDate, period: .days(90), metBy: .referralDate, within: true),
        DeadlineRule(id: "o'clock", from: .planEnd, period: .months(13), metBy: .referralDate),
    ]

    /// The maintained listing equals the evaluated one in every scope, state and day.
    static func expectMaintainedEqualsEvaluated(_ view: MergedView, _ rules: [DeadlineRule], _ comment: Comment) throws {
        #expect(try view.holdsNextDeadlines(for: rules), comment)
        for scope in scopes {
            for today in todays {
                for state in [nil] + DeadlineState.allCases.map(Optional.some) {
                    let maintained = try view.deadlineListing(rules, scope, today: today, dueSoonDays: 30, only: state)
                    let evaluated = try view.recountedDeadlineListing(rules, scope, today: today, dueSoonDays: 30, only: state)
                    // Compared, never printed: the list names clients.
                    let same = maintained == evaluated
                    #expect(same, comment)
                }
            }
        }
    }

    /// A date around the ends of months and years, of 2023–2028.
    static func date(_ rng: inout SeededGenerator) -> String {
        let year = Int.random(in: 2023...2028, using: &rng), month = Int.random(in: 1...12, using: &rng)
        let last = LocalDate.daysIn(month: month, year: year)
        let day = Bool.random(using: &rng) ? Int.random(in: max(1, last - 3)...last, using: &rng) : Int.random(in: 1...last, using: &rng)
        return LocalDate(year: year, month: month, day: day)!.description
    }

    struct History {
        var rng: SeededGenerator
        let jakobstad: ReplicaStore
        let larsmo: ReplicaStore
        var clients: [UUID] = []
        var services: [UUID] = []
        var placements: [UUID] = []

        mutating func pick(_ ids: [UUID]) -> UUID? { ids.isEmpty ? nil : ids[Int.random(in: 0..<ids.count, using: &rng)] }
        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }
        mutating func date() -> FieldValue { chance(15) ? .null : .text(DeadlineAggregateTests.date(&rng)) }

        /// Random dates for the client fields the rules read (the validator may refuse an order: the write is then skipped).
        mutating func dates() -> FieldMap {
            var fields: FieldMap = [:]
            for name in ["firstPermitDate", "arrivalDate", "assessmentDate", "planStart", "planEnd"] where chance(70) { fields[name] = date() }
            return fields
        }

        mutating func step(_ store: ReplicaStore) throws {
            let db = store.database
            switch Int.random(in: 0..<14, using: &rng) {
            case 0, 1, 2:
                var fields = Sample.fixedClient(number: Int.random(in: 1...9, using: &rng), owner: DeadlineAggregateTests.codes.randomElement(using: &rng)!)
                fields["status"] = .text(ClientStatus.allCases.randomElement(using: &rng)!.rawValue)
                fields.merge(dates()) { $1 }
                let id = UUID()
                if (try? store.create(.client, id: id, fields: fields)) != nil { clients.append(id) }
            case 3:
                let id = UUID()
                if (try? store.create(.service, id: id, fields: Sample.fixedService(number: services.count + 1))) != nil { services.append(id) }
            case 4, 5, 6:
                guard let client = pick(clients), let service = pick(services), try store.view.record(.client, id: client) != nil,
                      try store.view.record(.service, id: service) != nil else { return }
                var fields = Sample.enrolment(client: client, service: service)
                fields["status"] = .text(EnrolmentStatus.allCases.randomElement(using: &rng)!.rawValue)
                if chance(80) { fields["referralDate"] = date() }
                let id = UUID()
                if (try? store.create(.placement, id: id, fields: fields)) != nil { placements.append(id) }
            case 7:
                guard let id = pick(clients) else { return }
                var fields = dates()
                if chance(40) { fields["status"] = .text(ClientStatus.allCases.randomElement(using: &rng)!.rawValue) }
                if chance(20) { fields["ownerMunicipality"] = .integer(DeadlineAggregateTests.codes.randomElement(using: &rng)!) }
                if chance(20) { fields["clientNumber"] = .text("T-\(Int.random(in: 1...9, using: &rng))") }
                _ = try? store.update(.client, id: id, fields: fields)
            case 8:
                guard let id = pick(placements) else { return }
                var fields: FieldMap = ["referralDate": date()]
                if chance(30) { fields["status"] = .text(EnrolmentStatus.allCases.randomElement(using: &rng)!.rawValue) }
                if chance(20), let client = pick(clients) { fields["clientId"] = .text(client.lowercased) }
                _ = try? store.update(.placement, id: id, fields: fields)
            case 9:
                let kind = [RecordKind.client, .placement].randomElement(using: &rng)!
                guard let id = pick(kind == .client ? clients : placements) else { return }
                _ = try? (chance(60) ? store.delete(kind, id: id) : store.restore(kind, id: id))
            case 10:
                let kind = [RecordKind.client, .placement].randomElement(using: &rng)!
                guard chance(30), let id = pick(kind == .client ? clients : placements) else { return }
                _ = try? store.erase(kind, id: id)
            case 11:
                // Behind the store's back: dates no `LocalDate` reads, a placement moved to another client, a row removed.
                let bad = ["2025-02-30", "2023-02-29", "2024-04-31", "1799-12-31", "2025-1-05", "x", "2025-06-15 "].randomElement(using: &rng)!
                let column = ["first_permit_date", "arrival_date", "assessment_date", "plan_start", "plan_end"].randomElement(using: &rng)!
                if chance(50), let id = pick(clients) {
                    try db.run("UPDATE clients SET \(column) = ? WHERE id = ?", .text(bad), .text(id.lowercased))
                } else if chance(50), let id = pick(placements), let client = pick(clients) {
                    try db.run("UPDATE placements SET client_id = ?, referral_date = coalesce(referral_date, ?) WHERE id = ?",
                               .text(client.lowercased), .text(chance(20) ? bad : DeadlineAggregateTests.date(&rng)), .text(id.lowercased))
                } else if chance(30), let id = pick(clients) {
                    try db.run("DELETE FROM clients WHERE id = ?", .text(id.lowercased))
                } else if let id = pick(placements) {
                    try db.run("DELETE FROM placements WHERE id = ?", .text(id.lowercased))
                }
            default:
                _ = try pullAll(jakobstad, from: larsmo)
                _ = try pullAll(larsmo, from: jakobstad)
            }
        }
    }

    @Test(arguments: scenarioSeeds(environmentPrefix: "KOTOSYNC_DEADLINE_AGGREGATE", defaultCount: 4))
    func theNextLimitsEqualTheRulesAfterEveryKindOfWriteAndARulesChange(seed: UInt64) throws {
        let harness = try StoreHarness()
        let rules = DeadlineRule.integrationActDefaults
        var history = History(rng: SeededGenerator(seed: seed), jakobstad: try harness.open("jakobstad"), larsmo: try harness.open("larsmo"))
        for step in 1...200 {
            try history.step(history.chance(70) ? history.jakobstad : history.larsmo)
            if step % 50 == 0 {
                try Self.expectMaintainedEqualsEvaluated(history.jakobstad.view, rules, "seed \(seed), step \(step), jakobstad")
                try Self.expectMaintainedEqualsEvaluated(history.larsmo.view, rules, "seed \(seed), step \(step), larsmo")
            }
        }
        // The history reached what it is about: pending limits of several rules, in every state on some day.
        let view = history.jakobstad.view
        let listing = try view.recountedDeadlineListing(rules, .region, today: Self.todays[1], dueSoonDays: 30)
        #expect(Set(listing.entries.map(\.rule)).count >= 2)
        #expect(try Set(Self.todays.flatMap { try view.recountedDeadlineListing(rules, .region, today: $0, dueSoonDays: 400).counts.values.flatMap(\.keys) })
            == Set(DeadlineState.allCases))

        // Other rules: a reader with them evaluates them itself until an open with them rebuilds the table.
        #expect(try !view.holdsNextDeadlines(for: Self.otherRules))
        let evaluated = try view.deadlineListing(Self.otherRules, .region, today: Self.todays[1], dueSoonDays: 30)
        #expect(evaluated == (try view.recountedDeadlineListing(Self.otherRules, .region, today: Self.todays[1], dueSoonDays: 30)))
        var reopened = History(rng: history.rng, jakobstad: try harness.open("jakobstad") { $0.deadlineRules = Self.otherRules },
                           larsmo: try harness.open("larsmo") { $0.deadlineRules = Self.otherRules },
                           clients: history.clients, services: history.services, placements: history.placements)
        #expect(try !reopened.jakobstad.view.holdsNextDeadlines(for: rules))
        try Self.expectMaintainedEqualsEvaluated(reopened.jakobstad.view, Self.otherRules, "seed \(seed), rebuilt for other rules")
        for step in 1...100 {
            try reopened.step(reopened.chance(70) ? reopened.jakobstad : reopened.larsmo)
            if step % 50 == 0 {
                try Self.expectMaintainedEqualsEvaluated(reopened.jakobstad.view, Self.otherRules, "seed \(seed), other rules, step \(step)")
                try Self.expectMaintainedEqualsEvaluated(reopened.larsmo.view, Self.otherRules, "seed \(seed), other rules, step \(step), larsmo")
            }
        }
        #expect(try !reopened.jakobstad.view.recountedDeadlineListing(Self.otherRules, .region, today: Self.todays[1], dueSoonDays: 30)
            .entries.isEmpty)
        // No rules: no table and no triggers for the writes to pay.
        let none = try harness.open("jakobstad") { $0.deadlineRules = [] }
        #expect(try none.database.query("SELECT count(*) FROM sqlite_master WHERE substr(name, 1, 9) = 'deadline_'") { $0.int64(0) } == [0])
        #expect(try none.view.deadlineListing([], .region, today: Self.todays[1], dueSoonDays: 30) == DeadlineListing())
    }

    /// Every kind of date text in every place a rule reads one, written with plain SQL: the triggers' SQL reads
    /// each as `LocalDate` does (30 February, 1799, a missing zero, a trailing space are no dates), months clamp,
    /// negative periods stop at 1800.
    @Test func everyDateTextIsReadAsTheRulesReadIt() throws {
        let rules = [
            DeadlineRule(id: "days", from: .firstPermitDate, period: .days(10), metBy: .assessmentDate),
            DeadlineRule(id: "months", from: .firstPermitDate, period: .months(1), metBy: .planStart, within: true),
            DeadlineRule(id: "referral", from: .assessmentDate, period: .months(12), metBy: .referralDate, within: true),
            DeadlineRule(id: "back", from: .planEnd, period: .months(-2), metBy: .planStart),
            DeadlineRule(id: "backDays", from: .planEnd, period: .days(-30), metBy: .referralDate),
        ]
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad") { $0.deadlineRules = rules }
        let texts: [String?] = [nil, "2024-02-29", "2025-02-29", "2025-02-30", "2023-04-31", "2025-01-31", "2025-03-31", "2024-08-31",
                                "2025-12-31", "2025-11-30", "1800-01-01", "1800-02-15", "1799-12-31", "9999-12-31", "2025-1-05", "x",
                                "2025-06-15 ", "20250615", "2025-13-01", "2025-00-10", "2025-06-00"]
        var clients = 0
        try store.database.transaction {
            for (index, anchor) in texts.enumerated() {
                for (offset, evidence) in texts.enumerated() {
                    let id = UUID().lowercased
                    try store.database.run("""
                        INSERT INTO clients (id, client_number, owner_municipality, status, first_permit_date, assessment_date, plan_start, plan_end,
                                             row_clock, stamps, erased, open_conflicts, awaiting_erase)
                        VALUES (?, ?, 598, 'plan_active', ?, ?, ?, ?, x'', x'', 0, 0, 0)
                        """, .text(id), .text("E-\(clients)"), anchor.map { .text($0) } ?? .null, evidence.map { .text($0) } ?? .null,
                        evidence.map { .text($0) } ?? .null, anchor.map { .text($0) } ?? .null)
                    clients += 1
                    // A referral of every kind of text for some of them.
                    if (index + offset) % 3 == 0, let referral = texts[(index * 7 + offset) % texts.count] {
                        try store.database.run("""
                            INSERT INTO placements (id, type, client_id, status, referral_date, row_clock, stamps, erased, open_conflicts, awaiting_erase)
                            VALUES (?, 'service_enrolment', ?, 'referred', ?, x'', x'', 0, 0, 0)
                            """, .text(UUID().lowercased), .text(id), .text(referral))
                    }
                }
            }
        }
        try Self.expectMaintainedEqualsEvaluated(store.view, rules, "every date text")
        let listing = try store.view.recountedDeadlineListing(rules, .region, today: Self.todays[1], dueSoonDays: 30)
        #expect(Set(listing.entries.map(\.rule)) == Set(rules.map(\.id)))
        // And the same once the table is built from these rows at an open.
        try store.database.execute("DROP TABLE deadline_next")
        let reopened = try harness.open("jakobstad") { $0.deadlineRules = rules }
        try Self.expectMaintainedEqualsEvaluated(reopened.view, rules, "every date text, rebuilt")
    }

    @Test func theListIsReadInIndexOrderAndTheCountsAreIndexRanges() throws {
        let harness = try StoreHarness()
        let store = try harness.open("jakobstad")
        func plan(_ sql: String) throws -> String {
            try store.database.query("EXPLAIN QUERY PLAN " + sql) { $0.string(3) ?? "" }.joined(separator: "\n")
        }
        let region = try plan("SELECT client_id, client_number, municipality, rule, due FROM deadline_next WHERE due < '2026-12-01' "
                              + "ORDER BY due, municipality, client_number, client_id")
        #expect(region.contains("COVERING INDEX deadline_next_due") && !region.contains("TEMP B-TREE"), Comment(rawValue: region))
        let office = try plan("SELECT client_id, client_number, municipality, rule, due FROM deadline_next WHERE municipality = 598 "
                              + "AND due > '2026-12-31' ORDER BY due, municipality, client_number, client_id")
        #expect(office.contains("COVERING INDEX deadline_next_municipality") && !office.contains("TEMP B-TREE"), Comment(rawValue: office))
    }
}
