import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// The retention rule, the `retention` config, and the job through
/// `GET /v1/retention/preview` and `POST /v1/retention/run`.
@Suite struct RetentionTests {
    static func date(_ text: String) -> LocalDate { LocalDate(text)! }

    static func facts(until: String? = nil, planEnd: String? = nil, changed: String) -> RetentionFacts {
        let millis = UInt64(Self.noonHelsinki(changed).timeIntervalSince1970 * 1000)
        return RetentionFacts(id: UUID(), ownerMunicipality: 598, retentionUntil: until.map(date), planEnd: planEnd.map(date),
                              lastChangeMillis: millis, placements: [])
    }

    static func noonHelsinki(_ text: String) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Helsinki")!
        let day = date(text)
        return calendar.date(from: DateComponents(year: day.year, month: day.month, day: day.day, hour: 12))!
    }

    // MARK: The rule

    @Test func theRecordsOwnDateOverridesTheDefault() {
        let policy = RetentionPolicy(years: 5)
        let facts = Self.facts(until: "2026-06-30", planEnd: "2030-01-01", changed: "2026-01-15")
        #expect(policy.retention(of: facts) == (Self.date("2026-06-30"), .retentionUntil))
        #expect(!policy.isExpired(facts, today: Self.date("2026-06-30")), "kept through its last day")
        #expect(policy.isExpired(facts, today: Self.date("2026-07-01")))
    }

    @Test func theDefaultCountsYearsFromTheLaterOfLastChangeAndPlanEnd() {
        let policy = RetentionPolicy(years: 5)
        let changedLater = Self.facts(planEnd: "2024-12-31", changed: "2025-03-10")
        #expect(policy.retention(of: changedLater) == (Self.date("2030-03-10"), .lastChange))
        let planLater = Self.facts(planEnd: "2027-08-31", changed: "2025-03-10")
        #expect(policy.retention(of: planLater) == (Self.date("2032-08-31"), .planEnd))
        let noPlan = Self.facts(changed: "2024-02-29")
        #expect(policy.retention(of: noPlan) == (Self.date("2029-02-28"), .lastChange), "29 February counts to the 28th")
        #expect(RetentionPolicy(years: 2).retention(of: noPlan).until == Self.date("2026-02-28"))
        #expect(!policy.isExpired(planLater, today: Self.date("2032-08-31")))
        #expect(policy.isExpired(planLater, today: Self.date("2032-09-01")))
    }

    @Test func theLastChangeIsCountedInHelsinkiDays() {
        // 22:30 UTC on 31 December is already 1 January in Helsinki.
        let millis = UInt64(ISO8601DateFormatter().date(from: "2025-12-31T22:30:00Z")!.timeIntervalSince1970 * 1000)
        let facts = RetentionFacts(id: UUID(), ownerMunicipality: 598, retentionUntil: nil, planEnd: nil, lastChangeMillis: millis,
                                   placements: [])
        #expect(RetentionPolicy(years: 1).retention(of: facts).until == Self.date("2027-01-01"))
    }

    // MARK: Config

    @Test func theRetentionKeysAreReadAndCheckedByName() throws {
        let config = try ConfigTests.parse(ConfigTests.minimal(#""retention":{"years":7,"intervalSeconds":3600,"enabled":false}"#))
        #expect(config.retention.years == 7)
        #expect(config.retention.interval == .seconds(3600))
        #expect(!config.retention.enabled)
        let defaults = try ConfigTests.parse(ConfigTests.minimal())
        #expect(defaults.retention.years == 5 && defaults.retention.interval == .seconds(86_400) && defaults.retention.enabled)
        #expect(ConfigTests.error(ConfigTests.minimal(#""retention":{"years":0}"#))?.key == "retention.years")
        #expect(ConfigTests.error(ConfigTests.minimal(#""retention":{"years":"five"}"#))?.key == "retention.years")
        #expect(ConfigTests.error(ConfigTests.minimal(#""retention":{"intervalSeconds":-1}"#))?.key == "retention.intervalSeconds")
        #expect(ConfigTests.error(ConfigTests.minimal(#""retention":{"enabled":"yes"}"#))?.key == "retention.enabled")
        #expect(ConfigTests.error(ConfigTests.minimal(#""retention":{"yeras":5}"#))?.key == "retention.yeras")
        #expect(ConfigTests.error(ConfigTests.minimal(#""retention":5"#))?.key == "retention")
    }

    // MARK: The job through the API

    /// A node whose "today" is `today`, with clients written straight into its store (no office scope in the way).
    struct IDs: Sendable {
        let expiredByDefault = UUID(), expiredByDate = UUID(), deletedExpired = UUID(), keptByPlan = UUID(), keptByDate = UUID()
        let otherMunicipality = UUID(), placement = UUID(), service = UUID()

        var expectedIDs: [String] { [expiredByDefault, expiredByDate, deletedExpired].map(\.lowercased).sorted() }
    }

    struct Scenario {
        let node: TestNode
        let ids = IDs()

        init() throws {
            // Six years from now: a client changed today is past the default five years.
            let today = Date().addingTimeInterval(6 * 366 * 86_400)
            node = try TestNode { $0.retention.clock = .fixed(today) }
        }

        func load() async throws {
            let ids = self.ids
            try await node.replica.withStore { store in
                try store.create(.client, id: ids.expiredByDefault, fields: Sample.fixedClient(number: 1))
                var dated = Sample.fixedClient(number: 2)
                dated["retentionUntil"] = .text("2021-05-31")
                try store.create(.client, id: ids.expiredByDate, fields: dated)
                try store.create(.client, id: ids.deletedExpired, fields: dated.merging(["clientNumber": .text("T-3")]) { $1 })
                try store.delete(.client, id: ids.deletedExpired)
                var planned = Sample.fixedClient(number: 4)
                planned["planStart"] = .text("2026-01-01")
                planned["planEnd"] = .text("2039-12-31")
                planned["planStatus"] = .text("active")
                try store.create(.client, id: ids.keptByPlan, fields: planned)
                var kept = Sample.fixedClient(number: 5)
                kept["retentionUntil"] = .text("2099-01-01")
                try store.create(.client, id: ids.keptByDate, fields: kept)
                var foreign = Sample.fixedClient(number: 6, owner: 893)
                foreign["retentionUntil"] = .text("2020-01-01")
                try store.create(.client, id: ids.otherMunicipality, fields: foreign)
                try store.create(.service, id: ids.service, fields: Sample.fixedService(number: 1))
                try store.create(.placement, id: ids.placement, fields: Sample.enrolment(client: ids.expiredByDefault, service: ids.service))
            }
        }
    }

    @Test func thePreviewListsTheOwnMunicipalitysExpiredClientsByIdentifierOnly() async throws {
        let scenario = try Scenario()
        let ids = scenario.ids
        try await scenario.load()
        let response = try await scenario.node.send(.get, "/v1/retention/preview", as: .coordinator)
        #expect(response.status == .ok)
        let json = try response.json
        #expect(json["node"]?.stringValue == "jakobstad")
        #expect(json["municipality"]?.int64Value == 598)
        #expect(json["years"]?.int64Value == 5)
        let items = try #require(json["items"]?.arrayValue)
        #expect(items.compactMap { $0["id"]?.stringValue } == ids.expectedIDs)
        let byID = Dictionary(uniqueKeysWithValues: items.map { ($0["id"]?.stringValue ?? "", $0) })
        let byDefault = byID[ids.expiredByDefault.lowercased]
        #expect(byDefault?["reason"]?.stringValue == "lastChange")
        #expect(byDefault?["placements"] == .array([.string(ids.placement.lowercased)]))
        #expect(byID[ids.expiredByDate.lowercased]?["retentionUntil"]?.stringValue == "2021-05-31")
        #expect(byID[ids.expiredByDate.lowercased]?["reason"]?.stringValue == "retentionUntil")
        for item in items {
            #expect(Set(item.objectMembers?.map(\.0) ?? []) == ["id", "ownerMunicipality", "retentionUntil", "reason", "placements"])
        }
        #expect(try await scenario.node.send(.get, "/v1/retention/preview", as: .admin).status == .ok)
        for caller in [TestCaller.office, .peer, .scrape] {
            #expect(try await scenario.node.send(.get, "/v1/retention/preview", as: caller).status == .forbidden, "\(caller)")
        }
        #expect(try await scenario.node.send(.get, "/v1/retention/preview", as: .none).status == .unauthorized)
        let bad = try await scenario.node.send(.get, "/v1/retention/preview?today=2099-01-01", as: .coordinator)
        #expect(bad.status == .badRequest)
        #expect(bad.problems.map(\.field) == ["today"])
        #expect(scenario.node.access.recorded.isEmpty, "a preview discloses no personal data")
    }

    @Test func aRunErasesThemAndTheirPlacementsAndRecordsEachErasureForTheJob() async throws {
        let scenario = try Scenario()
        let ids = scenario.ids
        try await scenario.load()
        #expect(try await scenario.node.send(.post, "/v1/retention/run", as: .office).status == .forbidden)
        let response = try await scenario.node.send(.post, "/v1/retention/run", as: .admin, headers: ["X-Purpose": "yearly review"])
        #expect(response.status == .ok)
        let erased = try #require(try response.json["erased"]?.arrayValue)
        #expect(erased.compactMap { $0["id"]?.stringValue } == ids.expectedIDs)

        let (records, pending) = try await scenario.node.replica.withStore { store in
            (try [ids.expiredByDefault, ids.expiredByDate, ids.deletedExpired, ids.keptByPlan, ids.keptByDate,
                  ids.otherMunicipality].map { try store.record(.client, id: $0)?.erased },
             store.erasedContentPending)
        }
        #expect(records == [true, true, true, false, false, false])
        #expect(!pending, "the WAL was truncated after the run")
        let placement = try await scenario.node.replica.withStore { try $0.record(.placement, id: ids.placement) }
        #expect(placement?.erased == true)
        #expect(try await scenario.node.replica.withStore { try $0.record(.service, id: ids.service)?.erased } == false)

        let recorded = scenario.node.access.recorded
        #expect(recorded.count == 4, "three clients and one client's placements")
        for (access, caller) in recorded {
            #expect(access.action == .erase)
            #expect(access.route == "POST /v1/retention/run")
            #expect(access.purpose == "yearly review")
            #expect(caller == .retentionJob(node: "jakobstad", municipality: 598))
            #expect(caller.role == .office && caller.municipality == 598 && caller.name == "retention job" && caller.node == "jakobstad")
        }
        #expect(recorded.filter { $0.access.kind == .client }.map { $0.access.ids[0].lowercased }.sorted() == ids.expectedIDs)
        #expect(recorded.first { $0.access.kind == .placement }?.access.ids == [ids.placement])

        let again = try await scenario.node.send(.get, "/v1/retention/preview", as: .coordinator)
        #expect(try again.json["items"]?.arrayValue?.isEmpty == true, "nothing is left to erase")
        let second = try await scenario.node.send(.post, "/v1/retention/run", as: .coordinator)
        #expect(try second.json["erased"]?.arrayValue?.isEmpty == true)
        #expect(scenario.node.access.recorded.count == 4)
    }

    @Test func aRunWaitsLikeAnyLocalWriteWhileTheNodeMayNotWrite() async throws {
        let scenario = try Scenario()
        let ids = scenario.ids
        try await scenario.load()
        await scenario.node.replica.beginStartupCheck()
        let response = try await scenario.node.send(.post, "/v1/retention/run", as: .coordinator)
        #expect(response.status == .serviceUnavailable)
        #expect(try response.json["error"]?["code"]?.stringValue == "catching_up")
        #expect(try await scenario.node.replica.withStore { try $0.record(.client, id: ids.expiredByDate)?.erased } == false)
    }
}

/// The node truncates the WAL after an erase even when a reader holds an
/// older snapshot at that moment: the replica retries once the reader is done.
@Suite struct ErasedContentRetryTests {
    @Test func aTruncationAReaderHeldUpIsRetriedUntilItCompletes() async throws {
        let node = try TestNode(separateReader: true)
        let id = UUID()
        _ = try await node.replica.withStore { try $0.create(.client, id: id, fields: Sample.fixedClient(number: 1)) }
        // Another reader on the same file, inside a read transaction from before the erase.
        let reader = try Database(path: node.config.databasePath, readOnly: true)
        try reader.execute("BEGIN")
        _ = try reader.query("SELECT count(*) FROM clients") { $0.int64(0) }
        let erased = try await node.send(.post, "/v1/clients/\(id.lowercased)/erase", as: .office)
        #expect(erased.status == .ok)
        #expect(try await node.replica.withStore { $0.erasedContentPending }, "the reader kept the checkpoint from finishing")
        let wal = node.config.databasePath + "-wal"
        func walSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? NSNumber)?.intValue ?? 0 }
        #expect(walSize() > 0)
        try reader.execute("COMMIT")

        let deadline = ContinuousClock.now + .seconds(20)
        while try await node.replica.withStore({ $0.erasedContentPending }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await !node.replica.withStore { $0.erasedContentPending }, "the retry completed")
        #expect(walSize() == 0, "the WAL is truncated")
    }
}
