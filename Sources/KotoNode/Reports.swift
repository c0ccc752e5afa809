import Foundation
public import KotoCore
public import KotoStore
import KotoHTTP

/// The reports of `GET /v1/reports/<name>`.
public enum ReportKind: String, CaseIterable, Sendable {
    case overview, deadlines, placements, services, integrity

    /// The keys of its tables, in answer order (the first is the CSV default).
    public var tableKeys: [String] {
        switch self {
        case .overview: ["clients", "placements", "services"]
        case .deadlines: ["clients", "summary"]
        case .placements: ["municipalities"]
        case .services: ["services", "coverage"]
        case .integrity: ["dangling", "duplicateClientNumbers", "conflicts"]
        }
    }

    /// Its own query parameters, besides `format`, `lang` and `table`.
    var parameters: [String] {
        switch self {
        case .deadlines: ["municipality", "status"]
        case .placements: ["year"]
        default: []
        }
    }
}

/// What one report is asked for: whose data, in which language, and the report's own parameters.
public struct ReportRequest: Sendable {
    public var scope: ReportScope
    public var language: ReportLanguage
    /// The placements report's year; nil for the current one.
    public var year: Int?
    /// The deadlines report lists only clients in this state; nil for all.
    public var state: DeadlineState?

    public init(scope: ReportScope, language: ReportLanguage = .fi, year: Int? = nil, state: DeadlineState? = nil) {
        self.scope = scope
        self.language = language
        self.year = year
        self.state = state
    }
}

/// Builds the reports from the merged view's aggregate queries (one read
/// transaction each) and the report settings; the node's API serves them and
/// the benchmark times them.
public struct ReportBuilder: Sendable {
    public let settings: ReportSettings
    /// The region's municipality codes, ascending: one row each where a report lists municipalities.
    public let municipalities: [Int]

    public init(settings: ReportSettings, registry: MunicipalityRegistry) {
        self.settings = settings
        municipalities = registry.all.map(\.code).sorted()
    }

    /// The report `kind` for `request`, read from `view` in one snapshot.
    public func build(_ kind: ReportKind, _ request: ReportRequest, from view: MergedView) throws -> ReportDocument {
        let now = settings.clock.now()
        let (tables, extra) = try view.consistentRead { () -> ([ReportTable], [(String, JSONValue)]) in
            switch kind {
            case .overview: (try overview(request, view), [])
            case .deadlines: try deadlines(request, view)
            case .placements: try placements(request, view)
            case .services: (try services(request, view), [])
            case .integrity: (try integrity(request, view, now: now), [])
            }
        }
        return ReportDocument(report: kind.rawValue, generatedAt: now, scope: request.scope, language: request.language,
                              tables: tables, extra: extra)
    }

    /// The municipalities the scope covers, one row each.
    private func municipalities(in scope: ReportScope) -> [Int] {
        scope.municipality.map { [$0] } ?? municipalities
    }

    private func table(_ report: ReportKind, _ key: String, _ columns: [String], _ rows: [[ReportValue]],
                       _ request: ReportRequest) -> ReportTable {
        ReportTable(report: report.rawValue, key: key, columns: columns, rows: rows, language: request.language)
    }

    // MARK: overview

    private func overview(_ request: ReportRequest, _ view: MergedView) throws -> [ReportTable] {
        let clients = try view.clientGroupCounts(request.scope).map { group -> [ReportValue] in
            [.integer(group.municipality), .text(group.permitBasis), .text(group.status), .integer(group.count)]
        }
        let placements = try view.placementGroupCounts(request.scope).map { group -> [ReportValue] in
            [.text(group.type), .text(group.status), .integer(group.count)]
        }
        let services = try view.serviceCategoryCounts(request.scope).map { group -> [ReportValue] in
            [.text(group.category), .integer(group.count)]
        }
        return [
            table(.overview, "clients", ["municipality", "permitBasis", "status", "count"], clients, request),
            table(.overview, "placements", ["type", "status", "count"], placements, request),
            table(.overview, "services", ["category", "count"], services, request),
        ]
    }

    // MARK: deadlines

    private func deadlines(_ request: ReportRequest, _ view: MergedView) throws -> ([ReportTable], [(String, JSONValue)]) {
        let today = settings.clock.today
        let rules = settings.deadlineRules.map(\.rule)
        // Most urgent first, with the counts per municipality and state (`deadline_next`, or evaluated per client).
        let listing = try view.deadlineListing(rules, request.scope, today: today, dueSoonDays: settings.dueSoonDays, only: request.state)
        let summary = listing.counts
        let clients = listing.entries.map { entry -> [ReportValue] in
            let daysLeft = today.days(until: entry.due)
            return [.text(entry.clientID), .text(entry.clientNumber), .integer(entry.municipality), .text(entry.rule),
                    .text(entry.due.description), .integer(daysLeft),
                    .text(DeadlineState(daysLeft: daysLeft, dueSoonDays: settings.dueSoonDays).rawValue)]
        }
        let counts = municipalities(in: request.scope).map { code -> [ReportValue] in
            let states = summary[code] ?? [:]
            return [.integer(code), .integer(states[.overdue] ?? 0), .integer(states[.dueSoon] ?? 0), .integer(states[.ok] ?? 0)]
        }
        let language = request.language
        let ruleList: [JSONValue] = settings.deadlineRules.map { configured in
            let rule = configured.rule
            var members: [(String, JSONValue)] = [("id", .string(rule.id)), ("title", .string(configured.title[language]))]
            switch rule.period {
            case .days(let days): members.append(("days", .number(Double(days))))
            case .months(let months): members.append(("months", .number(Double(months))))
            }
            members += [("from", .string(rule.from.rawValue)), ("metBy", .string(rule.metBy.rawValue)), ("within", .bool(rule.within)),
                        ("source", .string(configured.source[language]))]
            if let note = configured.note { members.append(("note", .string(note[language]))) }
            return .object(members)
        }
        return ([
            table(.deadlines, "clients", ["clientId", "clientNumber", "municipality", "rule", "dueDate", "daysLeft", "state"], clients, request),
            table(.deadlines, "summary", ["municipality", "overdue", "dueSoon", "ok"], counts, request),
        ], [("rules", .array(ruleList)), ("today", .string(today.description)),
            ("dueSoonDays", .number(Double(settings.dueSoonDays)))])
    }

    // MARK: placements

    /// The column a municipal placement's status counts in: housing arranged
    /// is still accepted, moved away had arrived.
    static func placementColumn(_ status: String) -> String? {
        switch MunicipalPlacementStatus(rawValue: status) {
        case .offered: "offered"
        case .accepted, .housingArranged: "accepted"
        case .arrived, .movedAway: "arrived"
        case .cancelled: "cancelled"
        case nil: nil
        }
    }

    private func placements(_ request: ReportRequest, _ view: MergedView) throws -> ([ReportTable], [(String, JSONValue)]) {
        let year = request.year ?? settings.clock.today.year
        var counts: [Int: [String: Int]] = [:]
        for group in try view.municipalPlacementCounts(year: year, request.scope) {
            guard let column = Self.placementColumn(group.status) else { continue }
            counts[group.municipality, default: [:]][column, default: 0] += group.count
        }
        let columns = ["offered", "accepted", "arrived", "cancelled"]
        var totals: [String: Int] = [:]
        let rows = municipalities(in: request.scope).map { code -> [ReportValue] in
            let numbers = counts[code] ?? [:]
            var row: [ReportValue] = [.integer(code), .integer(year), .integer(settings.placementTargets[code])]
            for column in columns {
                row.append(.integer(numbers[column] ?? 0))
                totals[column, default: 0] += numbers[column] ?? 0
            }
            row.append(.integer((numbers["offered"] ?? 0) + (numbers["accepted"] ?? 0) + (numbers["arrived"] ?? 0)))
            return row
        }
        let total = (totals["offered"] ?? 0) + (totals["accepted"] ?? 0) + (totals["arrived"] ?? 0)
        let regionTotals: JSONValue = .object((columns.map { ($0, JSONValue.number(Double(totals[$0] ?? 0))) }) + [("total", .number(Double(total)))])
        return ([table(.placements, "municipalities", ["municipality", "year", "target"] + columns + ["total"], rows, request)],
                [("year", .number(Double(year))), ("regionTarget", .number(Double(settings.regionPlacementTarget))),
                 ("regionTotals", regionTotals)])
    }

    // MARK: services

    /// Statuses of a service that is there to be used: the coverage counts these.
    static let availableStatuses: Set<String> = [ServiceStatus.active.rawValue, ServiceStatus.full.rawValue]

    private func services(_ request: ReportRequest, _ view: MergedView) throws -> [ReportTable] {
        let loads = try view.serviceLoads(request.scope)
        let language = request.language
        let rows = loads.map { load -> [ReportValue] in
            let name = language == .sv ? (load.nameSv ?? load.nameFi) : (load.nameFi ?? load.nameSv)
            let utilisation: ReportValue = load.capacity.map { $0 > 0 ? .decimal(Double(load.active) / Double($0)) : .null } ?? .null
            return [.text(load.id.lowercased), .text(name), .text(load.category), .integer(load.capacity), .integer(load.active),
                    .integer(load.waiting), utilisation]
        }
        let available = loads.filter { Self.availableStatuses.contains($0.status) }
        let national = ["fi", "sv", "en"]
        let inUse = Set(loads.flatMap(\.languages)).subtracting(national).sorted()
        var counts: [String: Int] = [:]
        for load in available {
            for code in load.municipalities {
                for spoken in load.languages { counts["\(load.category)|\(spoken)|\(code)", default: 0] += 1 }
            }
        }
        var coverage: [[ReportValue]] = []
        for category in ServiceCategory.allCases.map(\.rawValue) {
            for spoken in national + inUse {
                for code in municipalities(in: request.scope) {
                    coverage.append([.text(category), .text(spoken), .integer(code), .integer(counts["\(category)|\(spoken)|\(code)"] ?? 0)])
                }
            }
        }
        return [
            table(.services, "services", ["serviceId", "name", "category", "capacity", "active", "waiting", "utilisation"], rows, request),
            table(.services, "coverage", ["category", "language", "municipality", "services"], coverage, request),
        ]
    }

    // MARK: integrity

    private func integrity(_ request: ReportRequest, _ view: MergedView, now: Date) throws -> [ReportTable] {
        let dangling = try view.danglingReferences(request.scope).map { reference -> [ReportValue] in
            [.text(reference.placementID), .text(reference.field), .text(reference.missingID), .text(reference.reason.rawValue)]
        }
        let duplicates = try view.duplicateClientNumbers(request.scope).map { duplicate -> [ReportValue] in
            [.text(duplicate.clientNumber), .integer(duplicate.count), .text(duplicate.municipalities.map(String.init).joined(separator: ","))]
        }
        let nowMillis = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        let conflicts = try view.conflictAges(request.scope).map { conflict -> [ReportValue] in
            let age = max(0, Int((nowMillis - conflict.firstSeenMillis) / 86_400_000))
            return [.text(conflict.kind.rawValue), .text(conflict.rowID.lowercased), .text(conflict.field),
                    .text(ReportDocument.timestamp(millis: conflict.firstSeenMillis)), .integer(age)]
        }
        return [
            table(.integrity, "dangling", ["placementId", "field", "missingId", "reason"], dangling, request),
            table(.integrity, "duplicateClientNumbers", ["clientNumber", "count", "municipalities"], duplicates, request),
            table(.integrity, "conflicts", ["kind", "id", "field", "firstSeen", "ageDays"], conflicts, request),
        ]
    }
}

// MARK: - The endpoints

extension API {
    /// `GET /v1/reports/<name>` for offices (their municipality) and the coordinator (the region).
    func registerReports(_ router: inout Router) {
        let builder = ReportBuilder(settings: config.reports, registry: manifest.registry)
        for kind in ReportKind.allCases {
            router.get("/v1/reports/\(kind.rawValue)", endpoint([.office, .coordinator]) { request, caller in
                try await report(kind, request, caller: caller, builder: builder)
            })
        }
    }

    private func report(_ kind: ReportKind, _ request: HTTPRequest, caller: Caller, builder: ReportBuilder) async throws -> HTTPResponse {
        let access = try context("GET", "/v1/reports/\(kind.rawValue)", request, caller)
        var problems: [FieldProblem] = []
        let language = ReportLanguage.requested(by: request, problems: &problems)
        let format = ExportFormat.requested(by: request, problems: &problems)
        var parameters = ReportRequest(scope: .region, language: language)
        if caller.role == .office { parameters.scope = ReportScope(municipality: caller.municipality) }
        // `purpose`: the stated purpose the page sends with every CSV download (for the access log).
        let allowed = Set(["format", "lang", "table", "purpose"] + kind.parameters)
        for item in request.queryItems where !allowed.contains(item.name) {
            problems.append(FieldProblem(field: item.name, reason: "is not a parameter of the \(kind.rawValue) report"))
        }
        var tableKey = kind.tableKeys[0]
        if let key = request.query("table") {
            if kind.tableKeys.contains(key) {
                tableKey = key
            } else {
                problems.append(FieldProblem(field: "table", reason: "must be one of: " + kind.tableKeys.joined(separator: ", ")))
            }
        }
        if let text = request.query("municipality"), kind.parameters.contains("municipality") {
            if let code = Int(text), builder.municipalities.contains(code) {
                if let own = parameters.scope.municipality, own != code {
                    throw HTTPError.forbidden("an office sees the reports of its own municipality only")
                }
                parameters.scope = ReportScope(municipality: code)
            } else {
                problems.append(FieldProblem(field: "municipality", reason: "must be the code of a municipality of the region: "
                    + builder.municipalities.map(String.init).joined(separator: ", ")))
            }
        }
        if let text = request.query("status"), kind.parameters.contains("status") {
            if let state = DeadlineState(rawValue: text) {
                parameters.state = state
            } else {
                problems.append(FieldProblem(field: "status", reason: "must be one of: " + DeadlineState.allCases.map(\.rawValue).joined(separator: ", ")))
            }
        }
        if let text = request.query("year"), kind.parameters.contains("year") {
            if text.count == 4, let year = Int(text), (1800...9999).contains(year) {
                parameters.year = year
            } else {
                problems.append(FieldProblem(field: "year", reason: "must be a year of four digits, e.g. 2026"))
            }
        }
        if !problems.isEmpty { throw HTTPError.invalidQuery(problems) }
        let request = parameters
        let document = try await read { try builder.build(kind, request, from: $0) }
        if kind == .deadlines, format != .csv || tableKey == "clients" {
            try await recordDeadlineList(document, rules: builder.settings, csv: format == .csv, access)
        }
        if format == .csv, let table = document.table(tableKey) {
            return CSV.response(CSV.table(table, language), filename: "\(kind.rawValue)-\(tableKey).csv", language: language)
        }
        return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json", "Content-Language": language.rawValue],
                            body: document.jsonBytes)
    }

    /// The deadlines work list names clients, and each due date is one of
    /// their personal dates (first permit, arrival) moved by a rule's period:
    /// a read of those dates, recorded before the answer leaves.
    private func recordDeadlineList(_ document: ReportDocument, rules settings: ReportSettings, csv: Bool,
                                    _ access: AccessContext) async throws {
        guard let clients = document.table("clients"), let column = clients.columns.firstIndex(where: { $0.key == "clientId" }) else { return }
        let ids = clients.rows.compactMap { row -> UUID? in
            guard case .text(let text) = row[column] else { return nil }
            return UUID(uuidString: text)
        }
        let fields = Set(settings.deadlineRules.map(\.rule.from.rawValue))
            .filter { RecordKind.client.field(named: $0)?.personal == true }
        guard !ids.isEmpty, !fields.isEmpty else { return }
        try await access.record(csv ? .export : .read, .client, ids: ids, fields: fields.sorted())
    }
}
