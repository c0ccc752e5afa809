import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// `GET /v1/reports/*` on an in-process node: who sees what, in which
/// language, the deadlines at a fixed today, the CSV bytes, and refusals.
@Suite struct ReportsTests {
    /// 2026-12-01 at noon in Helsinki.
    static let today = ISO8601DateFormatter().date(from: "2026-12-01T10:00:00Z")!

    static func node(_ configure: (inout ReportSettings) -> Void = { _ in }) throws -> TestNode {
        try TestNode { config in
            config.reports.clock = .fixed(today)
            configure(&config.reports)
        }
    }

    /// Writes records straight into the node's store (any owner, any dates).
    @discardableResult
    static func create(_ node: TestNode, _ kind: RecordKind, _ fields: FieldMap) async throws -> UUID {
        let id = UUID()
        try await node.replica.withStore { _ = try $0.create(kind, id: id, fields: fields) }
        return id
    }

    static func client(_ number: Int, owner: Int64, status: String = "new", _ dates: [String: String] = [:]) -> FieldMap {
        var fields = Sample.fixedClient(number: number, owner: owner)
        fields["status"] = .text(status)
        for (name, value) in dates { fields[name] = .text(value) }
        return fields
    }

    static func rows(_ json: JSONValue, _ table: String) -> [JSONValue] { json["tables"]?[table]?["rows"]?.arrayValue ?? [] }

    static func get(_ node: TestNode, _ target: String, as caller: TestCaller = .coordinator, headers: HTTPHeaders = [:]) async throws -> HTTPResponse {
        try await node.send(.get, target, as: caller, headers: headers)
    }

    // MARK: Roles and scope

    @Test(arguments: ReportKind.allCases)
    func onlyOfficesAndTheCoordinatorMayReadReports(kind: ReportKind) async throws {
        let node = try Self.node()
        for caller in [TestCaller.admin, .peer] {
            let response = try await Self.get(node, "/v1/reports/\(kind.rawValue)", as: caller)
            #expect(response.status == .forbidden, "\(caller)")
            #expect(response.hasErrorShape)
        }
        #expect(try await Self.get(node, "/v1/reports/\(kind.rawValue)", as: .none).status == .unauthorized)
        for caller in [TestCaller.office, .coordinator] {
            let response = try await Self.get(node, "/v1/reports/\(kind.rawValue)", as: caller)
            #expect(response.status == .ok, "\(caller)")
            let json = try response.json
            #expect(json["report"] == .string(kind.rawValue))
            #expect(json["tables"]?.objectMembers?.map(\.0) == kind.tableKeys)
            #expect(json["scope"]?["municipality"] == (caller == .office ? .number(598) : .null))
            #expect(json["generatedAt"] == .string("2026-12-01T10:00:00Z"))
        }
    }

    @Test func anOfficeSeesItsOwnMunicipalityTheCoordinatorTheRegion() async throws {
        let node = try Self.node()
        try await Self.create(node, .client, Self.client(1, owner: 598))
        try await Self.create(node, .client, Self.client(2, owner: 598))
        try await Self.create(node, .client, Self.client(3, owner: 288))
        let ours = try await Self.create(node, .service, Sample.fixedService(number: 1, municipalities: "598"))
        try await Self.create(node, .service, Sample.fixedService(number: 2, municipalities: "288", category: "literacy_training"))
        _ = ours

        let region = try await Self.get(node, "/v1/reports/overview").json
        #expect(Self.rows(region, "clients") == [
            .object([("municipality", .number(288)), ("permitBasis", .null), ("status", .string("new")), ("count", .number(1))]),
            .object([("municipality", .number(598)), ("permitBasis", .null), ("status", .string("new")), ("count", .number(2))]),
        ])
        #expect(Self.rows(region, "services").count == 2)
        let office = try await Self.get(node, "/v1/reports/overview", as: .office).json
        #expect(Self.rows(office, "clients") == [
            .object([("municipality", .number(598)), ("permitBasis", .null), ("status", .string("new")), ("count", .number(2))]),
        ])
        #expect(Self.rows(office, "services") == [.object([("category", .string("language_course")), ("count", .number(1))])])

        // An office asking for another municipality's deadlines is refused; its own is fine.
        let other = try await Self.get(node, "/v1/reports/deadlines?municipality=288", as: .office)
        #expect(other.status == .forbidden)
        #expect(other.hasErrorShape)
        #expect(try await Self.get(node, "/v1/reports/deadlines?municipality=598", as: .office).status == .ok)
        let coordinatorFor288 = try await Self.get(node, "/v1/reports/deadlines?municipality=288").json
        #expect(coordinatorFor288["scope"]?["municipality"] == .number(288))
        #expect(Self.rows(coordinatorFor288, "summary").map { $0["municipality"] } == [.number(288)])
    }

    // MARK: Language

    @Test func labelsFollowLangThenAcceptLanguageThenFinnish() async throws {
        let node = try Self.node()
        func label(_ response: HTTPResponse) throws -> String? {
            try response.json["tables"]?["clients"]?["columns"]?.arrayValue?.first?["label"]?.stringValue
        }
        let plain = try await Self.get(node, "/v1/reports/overview")
        #expect(try label(plain) == "Kunta")
        #expect(try plain.json["language"] == .string("fi"))
        #expect(plain.headers["Content-Language"] == "fi")
        #expect(try label(await Self.get(node, "/v1/reports/overview?lang=sv")) == "Kommun")
        #expect(try label(await Self.get(node, "/v1/reports/overview?lang=en")) == "Municipality")
        #expect(try label(await Self.get(node, "/v1/reports/overview", headers: ["Accept-Language": "sv-FI,sv;q=0.9,en;q=0.8"])) == "Kommun")
        #expect(try label(await Self.get(node, "/v1/reports/overview", headers: ["Accept-Language": "de-DE, en;q=0.7, sv;q=0.5"])) == "Municipality")
        #expect(try label(await Self.get(node, "/v1/reports/overview", headers: ["Accept-Language": "de, ru;q=0.5"])) == "Kunta")
        #expect(try label(await Self.get(node, "/v1/reports/overview?lang=en", headers: ["Accept-Language": "sv"])) == "Municipality")
        let swedish = try await Self.get(node, "/v1/reports/overview?lang=sv").json
        #expect(swedish["tables"]?["clients"]?["title"] == .string("Klienter per kommun, uppehållsgrund och status"))
        #expect(swedish["language"] == .string("sv"))
    }

    // MARK: Refusals

    @Test(arguments: [
        ("/v1/reports/overview?lang=de", "lang"),
        ("/v1/reports/overview?format=xml", "format"),
        ("/v1/reports/overview?table=nope", "table"),
        ("/v1/reports/overview?year=2026", "year"),
        ("/v1/reports/placements?year=20x6", "year"),
        ("/v1/reports/placements?year=26", "year"),
        ("/v1/reports/deadlines?status=late", "status"),
        ("/v1/reports/deadlines?municipality=123", "municipality"),
        ("/v1/reports/deadlines?municipality=jakobstad", "municipality"),
        ("/v1/reports/integrity?shoeSize=42", "shoeSize"),
    ])
    func badParametersAreRefusedNamingTheField(target: String, field: String) async throws {
        let node = try Self.node()
        let response = try await Self.get(node, target)
        #expect(response.status == .badRequest)
        #expect(response.errorCode == "invalid_query")
        #expect(response.problemFields == [field])
    }

    @Test func everyBadParameterIsReportedAtOnce() async throws {
        let node = try Self.node()
        let response = try await Self.get(node, "/v1/reports/deadlines?lang=xx&format=pdf&status=no&municipality=1&table=x")
        #expect(response.status == .badRequest)
        #expect(response.problemFields == ["lang", "format", "status", "municipality", "table"])
    }

    // MARK: Deadlines

    @Test func deadlinesAtAFixedToday() async throws {
        let node = try Self.node()
        // Assessment due 2027-01-15: 45 days left, ok.
        let onTime = try await Self.create(node, .client, Self.client(1, owner: 598, ["firstPermitDate": "2024-01-15"]))
        // Assessment due 2026-12-20: 19 days, due soon.
        let soon = try await Self.create(node, .client, Self.client(2, owner: 598, ["firstPermitDate": "2023-12-20"]))
        // Planned 2023-09-01, never referred: due 2024-03-01, 1005 days overdue.
        let late = try await Self.create(node, .client, Self.client(3, owner: 288, status: "plan_active", [
            "firstPermitDate": "2023-06-01", "assessmentDate": "2023-08-01", "planStart": "2023-09-01", "planEnd": "2024-08-31",
        ]))
        // Every limit met: a referral after the plan.
        let done = try await Self.create(node, .client, Self.client(4, owner: 598, status: "plan_active", [
            "firstPermitDate": "2024-06-01", "assessmentDate": "2024-08-01", "planStart": "2024-09-01", "planEnd": "2025-08-31",
        ]))
        let service = try await Self.create(node, .service, Sample.fixedService(number: 1))
        var referral = Sample.enrolment(client: done, service: service)
        referral["referralDate"] = .text("2024-10-01")
        try await Self.create(node, .placement, referral)
        // Its process is over: no limits.
        try await Self.create(node, .client, Self.client(5, owner: 598, status: "closed", ["firstPermitDate": "2023-01-01"]))

        let json = try await Self.get(node, "/v1/reports/deadlines").json
        #expect(json["today"] == .string("2026-12-01"))
        #expect(Self.rows(json, "clients") == [
            Self.deadline(late, "T-3", 288, "referral", "2024-03-01", -1005, "overdue"),
            Self.deadline(soon, "T-2", 598, "assessment", "2026-12-20", 19, "due_soon"),
            Self.deadline(onTime, "T-1", 598, "assessment", "2027-01-15", 45, "ok"),
        ])
        #expect(Self.rows(json, "summary") == [
            Self.summary(288, 1, 0, 0), Self.summary(440, 0, 0, 0), Self.summary(598, 0, 1, 1),
            Self.summary(599, 0, 0, 0), Self.summary(893, 0, 0, 0),
        ])
        let rules = try #require(json["rules"]?.arrayValue)
        #expect(rules.compactMap { $0["id"]?.stringValue } == ["assessment", "firstPlan", "planLength", "referral"])
        for rule in rules {
            #expect(rule["source"]?.stringValue?.hasPrefix("Laki kotoutumisen edistämisestä 681/2023") == true)
            #expect(rule["title"]?.stringValue?.isEmpty == false)
        }
        #expect(rules.first?["months"] == .number(36))
        #expect(rules.first?["from"] == .string("firstPermitDate"))
        #expect(rules.first?["source"] == .string("Laki kotoutumisen edistämisestä 681/2023, 14 §"))

        // The work list is a read of the dates its due dates come from, recorded for the clients it names.
        let read = try #require(node.access.recorded.last)
        #expect(read.access.action == .read && read.access.kind == .client && read.access.route == "GET /v1/reports/deadlines")
        #expect(Set(read.access.ids) == [late, soon, onTime])
        #expect(read.access.fields == ["firstPermitDate"])
        let recordedBefore = node.access.recorded.count
        _ = try await Self.get(node, "/v1/reports/deadlines?format=csv&table=summary")
        #expect(node.access.recorded.count == recordedBefore, "the summary counts name no client")

        let overdue = try await Self.get(node, "/v1/reports/deadlines?status=overdue").json
        #expect(Self.rows(overdue, "clients").map { $0["clientId"] } == [.string(late.lowercased)])
        #expect(Self.rows(overdue, "summary").count == 5, "the summary counts every state")
        let office = try await Self.get(node, "/v1/reports/deadlines?status=due_soon", as: .office).json
        #expect(Self.rows(office, "clients").map { $0["clientId"] } == [.string(soon.lowercased)])
        #expect(Self.rows(office, "summary") == [Self.summary(598, 0, 1, 1)])
        let english = try await Self.get(node, "/v1/reports/deadlines?lang=en").json
        #expect(english["rules"]?.arrayValue?.first?["source"] == .string("Act on the Promotion of Immigrant Integration 681/2023, section 14"))
    }

    @Test func configuredRulesAndDueSoonDaysReplaceTheDefaults() async throws {
        let node = try Self.node { settings in
            settings.dueSoonDays = 60
            settings.deadlineRules = [ReportRule(
                rule: DeadlineRule(id: "quickAssessment", from: .arrivalDate, period: .days(60), metBy: .assessmentDate),
                title: LocalizedText("Arviointi 60 päivässä"), source: LocalizedText("Kunnan oma ohje"))]
        }
        let id = try await Self.create(node, .client, Self.client(1, owner: 599, ["arrivalDate": "2026-11-01", "firstPermitDate": "2020-01-01"]))
        let json = try await Self.get(node, "/v1/reports/deadlines").json
        #expect(Self.rows(json, "clients") == [Self.deadline(id, "T-1", 599, "quickAssessment", "2026-12-31", 30, "due_soon")])
        #expect(json["rules"] == .array([.object([
            ("id", .string("quickAssessment")), ("title", .string("Arviointi 60 päivässä")), ("days", .number(60)),
            ("from", .string("arrivalDate")), ("metBy", .string("assessmentDate")), ("within", .bool(false)),
            ("source", .string("Kunnan oma ohje")),
        ])]))
        #expect(json["dueSoonDays"] == .number(60))
    }

    static func deadline(_ id: UUID, _ number: String, _ municipality: Int, _ rule: String, _ due: String, _ days: Int, _ state: String) -> JSONValue {
        .object([("clientId", .string(id.lowercased)), ("clientNumber", .string(number)), ("municipality", .number(Double(municipality))),
                 ("rule", .string(rule)), ("dueDate", .string(due)), ("daysLeft", .number(Double(days))), ("state", .string(state))])
    }

    static func summary(_ municipality: Int, _ overdue: Int, _ dueSoon: Int, _ ok: Int) -> JSONValue {
        .object([("municipality", .number(Double(municipality))), ("overdue", .number(Double(overdue))),
                 ("dueSoon", .number(Double(dueSoon))), ("ok", .number(Double(ok)))])
    }

    // MARK: Placements, services, integrity

    @Test func placementsPerMunicipalityAgainstTheTargets() async throws {
        let node = try Self.node { settings in
            settings.regionPlacementTarget = 120
            settings.placementTargets = [598: 40]
        }
        let client = try await Self.create(node, .client, Self.client(1, owner: 598))
        func placement(_ municipality: Int64, _ status: String, offered: String?, arrived: String? = nil) async throws {
            var fields: FieldMap = ["type": .text("municipal_placement"), "clientId": .text(client.lowercased),
                                    "municipality": .integer(municipality), "route": .text("quota"), "status": .text(status)]
            if let offered { fields["offeredDate"] = .text(offered) }
            if let arrived { fields["arrivalDate"] = .text(arrived) }
            try await Self.create(node, .placement, fields)
        }
        try await placement(598, "offered", offered: "2026-02-01")
        try await placement(598, "housing_arranged", offered: "2026-03-01")
        try await placement(598, "arrived", offered: "2026-01-10", arrived: "2026-02-10")
        try await placement(598, "cancelled", offered: "2026-04-01")
        try await placement(288, "moved_away", offered: nil, arrived: "2026-05-01")
        try await placement(288, "arrived", offered: "2025-11-01", arrived: "2026-01-05")  // offered in 2025

        let json = try await Self.get(node, "/v1/reports/placements").json
        #expect(json["year"] == .number(2026))
        #expect(json["regionTarget"] == .number(120))
        func row(_ code: Int, _ target: Int?, _ numbers: [Int]) -> JSONValue {
            .object([("municipality", .number(Double(code))), ("year", .number(2026)), ("target", target.map { .number(Double($0)) } ?? .null),
                     ("offered", .number(Double(numbers[0]))), ("accepted", .number(Double(numbers[1]))),
                     ("arrived", .number(Double(numbers[2]))), ("cancelled", .number(Double(numbers[3]))), ("total", .number(Double(numbers[4])))])
        }
        #expect(Self.rows(json, "municipalities") == [
            row(288, nil, [0, 0, 1, 0, 1]), row(440, nil, [0, 0, 0, 0, 0]), row(598, 40, [1, 1, 1, 1, 3]),
            row(599, nil, [0, 0, 0, 0, 0]), row(893, nil, [0, 0, 0, 0, 0]),
        ])
        #expect(json["regionTotals"] == .object([("offered", .number(1)), ("accepted", .number(1)), ("arrived", .number(2)),
                                                ("cancelled", .number(1)), ("total", .number(4))]))
        let earlier = try await Self.get(node, "/v1/reports/placements?year=2025").json
        #expect(Self.rows(earlier, "municipalities").first?["arrived"] == .number(1))
        #expect(Self.rows(earlier, "municipalities").first?["year"] == .number(2025))
        let office = try await Self.get(node, "/v1/reports/placements", as: .office).json
        #expect(Self.rows(office, "municipalities") == [row(598, 40, [1, 1, 1, 1, 3])])
    }

    @Test func servicesUtilisationAndCoverageWithItsGaps() async throws {
        let node = try Self.node()
        var fields = Sample.fixedService(number: 1, municipalities: "598,288", category: "literacy_training")
        fields["capacity"] = .integer(10)
        fields["languages"] = .text("fi,ar")
        fields["nameSv"] = .text("Läskurs")
        let service = try await Self.create(node, .service, fields)
        var paused = Sample.fixedService(number: 2, municipalities: "598", category: "literacy_training")
        paused["languages"] = .text("sv")
        paused["status"] = .text("paused")
        try await Self.create(node, .service, paused)
        for number in 1...3 {
            let client = try await Self.create(node, .client, Self.client(number, owner: 598))
            var enrolment = Sample.enrolment(client: client, service: service)
            enrolment["status"] = .text(number == 3 ? "waiting" : "active")
            try await Self.create(node, .placement, enrolment)
        }
        let json = try await Self.get(node, "/v1/reports/services?lang=sv").json
        let row = try #require(Self.rows(json, "services").first { $0["serviceId"] == .string(service.lowercased) })
        #expect(row == .object([("serviceId", .string(service.lowercased)), ("name", .string("Läskurs")), ("category", .string("literacy_training")),
                                ("capacity", .number(10)), ("active", .number(2)), ("waiting", .number(1)), ("utilisation", .number(0.2))]))
        let coverage = Self.rows(json, "coverage")
        // Every category × (fi, sv, en, ar) × the five municipalities.
        #expect(coverage.count == ServiceCategory.allCases.count * 4 * 5)
        func count(_ category: String, _ language: String, _ municipality: Int) -> JSONValue? {
            coverage.first { $0["category"] == .string(category) && $0["language"] == .string(language)
                && $0["municipality"] == .number(Double(municipality)) }?["services"]
        }
        #expect(count("literacy_training", "ar", 288) == .number(1))
        #expect(count("literacy_training", "fi", 598) == .number(1))
        #expect(count("literacy_training", "sv", 598) == .number(0), "a paused service is no coverage: a gap")
        #expect(count("literacy_training", "fi", 440) == .number(0))
        #expect(count("language_course", "en", 893) == .number(0))
    }

    @Test func integrityShowsDanglingReferencesDuplicatesAndConflicts() async throws {
        let node = try Self.node()
        let client = try await Self.create(node, .client, Self.client(1, owner: 598))
        try await Self.create(node, .client, Self.client(7, owner: 598))
        try await Self.create(node, .client, Self.client(7, owner: 288))
        let service = try await Self.create(node, .service, Sample.fixedService(number: 1))
        let placement = try await Self.create(node, .placement, Sample.enrolment(client: client, service: service))
        try await node.replica.withStore { _ = try $0.delete(.client, id: client) }
        let json = try await Self.get(node, "/v1/reports/integrity").json
        #expect(Self.rows(json, "dangling") == [.object([
            ("placementId", .string(placement.lowercased)), ("field", .string("clientId")), ("missingId", .string(client.lowercased)),
            ("reason", .string("deleted")),
        ])])
        #expect(Self.rows(json, "duplicateClientNumbers") == [.object([
            ("clientNumber", .string("T-7")), ("count", .number(2)), ("municipalities", .string("288,598")),
        ])])
        #expect(Self.rows(json, "conflicts") == [])
    }

    // MARK: CSV

    @Test func aReportTableAsCSVHasTheBOMSemicolonsCRLFAndLabels() async throws {
        let node = try Self.node()
        try await Self.create(node, .service, Sample.fixedService(number: 1))
        try await Self.create(node, .service, Sample.fixedService(number: 2))
        try await Self.create(node, .service, Sample.fixedService(number: 3, category: "literacy_training"))
        let response = try await Self.get(node, "/v1/reports/overview?format=csv&table=services")
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == "text/csv; charset=utf-8")
        #expect(response.headers["Content-Disposition"] == "attachment; filename=\"overview-services.csv\"")
        #expect(response.body == [0xEF, 0xBB, 0xBF] + Array("Luokka;Määrä\r\nlanguage_course;2\r\nliteracy_training;1\r\n".utf8))
        let swedish = try await Self.get(node, "/v1/reports/overview?table=services&lang=sv", headers: ["Accept": "text/csv"])
        #expect(swedish.body == [0xEF, 0xBB, 0xBF] + Array("Kategori;Antal\r\nlanguage_course;2\r\nliteracy_training;1\r\n".utf8))
        // The first table by default.
        let first = try await Self.get(node, "/v1/reports/overview?format=csv&lang=en")
        #expect(first.headers["Content-Disposition"] == "attachment; filename=\"overview-clients.csv\"")
        #expect(first.bodyText.hasPrefix("\u{FEFF}Municipality;Permit basis;Status;Count\r\n"))
        // A browser's Accept still gets JSON; format=json wins over Accept.
        let browser = try await Self.get(node, "/v1/reports/overview", headers: ["Accept": "text/html,application/xhtml+xml,*/*;q=0.8"])
        #expect(browser.headers["Content-Type"] == "application/json")
        let json = try await Self.get(node, "/v1/reports/overview?format=json", headers: ["Accept": "text/csv"])
        #expect(json.headers["Content-Type"] == "application/json")
    }

    @Test func csvQuotesSemicolonsQuotesAndLineBreaksAndUsesTheDecimalComma() async throws {
        let node = try Self.node()
        var fields = Sample.fixedService(number: 1)
        fields["nameFi"] = .text("Kurssi \"A\"; iltaisin\nja viikonloppuisin")
        fields["capacity"] = .integer(3)
        let service = try await Self.create(node, .service, fields)
        let client = try await Self.create(node, .client, Self.client(1, owner: 598))
        var enrolment = Sample.enrolment(client: client, service: service)
        enrolment["status"] = .text("active")
        try await Self.create(node, .placement, enrolment)
        let response = try await Self.get(node, "/v1/reports/services?format=csv")
        let lines = response.bodyText.dropFirst().components(separatedBy: "\r\n")
        #expect(lines.first == "Palvelun tunniste;Nimi;Luokka;Kapasiteetti;Aktiiviset;Jonossa;Käyttöaste")
        #expect(lines.dropFirst().first == "\(service.lowercased);\"Kurssi \"\"A\"\"; iltaisin\nja viikonloppuisin\";language_course;3;1;0;0,3333")
        let english = try await Self.get(node, "/v1/reports/services?format=csv&lang=en")
        #expect(english.bodyText.contains(";3;1;0;0.3333\r\n"))
    }

    @Test func aListAsCSVHoldsEveryRecordTheFiltersSelectWithLabelledFields() async throws {
        let node = try Self.node()
        try await node.replica.withStore { store in
            for number in 1...120 { _ = try store.create(.client, fields: Self.client(number, owner: number <= 110 ? 598 : 288)) }
        }
        let json = try await Self.get(node, "/v1/clients?ownerMunicipality=598").json
        #expect(json.itemIDs.count == 100, "a JSON page holds 100")
        let response = try await Self.get(node, "/v1/clients?ownerMunicipality=598&format=csv&lang=en")
        #expect(response.status == .ok)
        #expect(response.headers["Content-Disposition"] == "attachment; filename=\"clients.csv\"")
        #expect(Array(response.body.prefix(3)) == CSV.byteOrderMark)
        let lines = response.bodyText.dropFirst().components(separatedBy: "\r\n")
        #expect(lines.last == "", "every line ends with CRLF")
        #expect(lines.count == 1 + 110 + 1)
        let header = try #require(lines.first).components(separatedBy: ";")
        #expect(header.first == "Id")
        #expect(header.count == 1 + RecordKind.client.fields.count + 1, "id, every field, and the caller's view")
        #expect(header.last == "View")
        #expect(header[1] == "Client number")
        #expect(header.contains("Responsible municipality"))
        let row = lines[1].components(separatedBy: ";")
        #expect(UUID(uuidString: row[0]) != nil)
        #expect(row[2] == "598")
        #expect(row[header.firstIndex(of: "Date of birth")!] == "1990-01-01")
        #expect(row[header.firstIndex(of: "Deleted")!] == "false")
        let finnish = try await Self.get(node, "/v1/clients?format=csv", headers: ["Accept-Language": "fi"])
        #expect(finnish.bodyText.hasPrefix("\u{FEFF}Tunniste;Asiakasnumero;Vastuukunta;"))
        #expect(finnish.bodyText.components(separatedBy: "\r\n").count == 1 + 120 + 1)
    }

    @Test func pagingAndABadFormatAreRefusedForListExports() async throws {
        let node = try Self.node()
        let paged = try await Self.get(node, "/v1/clients?format=csv&limit=10&after=\(UUID().lowercased)")
        #expect(paged.status == .badRequest)
        #expect(paged.problemFields == ["limit", "after"])
        let format = try await Self.get(node, "/v1/services?format=xlsx&lang=no")
        #expect(format.status == .badRequest)
        #expect(format.problemFields == ["format", "lang"])
        // JSON paging is untouched.
        #expect(try await Self.get(node, "/v1/clients?limit=10").status == .ok)
    }

    @Test func freeTextThatASpreadsheetWouldRunIsDefused() async throws {
        let node = try Self.node()
        var fields = Sample.fixedService(number: 1)
        fields["contact"] = .text("=HYPERLINK(\"x\")")
        try await Self.create(node, .service, fields)
        let response = try await Self.get(node, "/v1/services?format=csv")
        #expect(response.bodyText.contains(";\"'=HYPERLINK(\"\"x\"\")\";"))
    }
}
