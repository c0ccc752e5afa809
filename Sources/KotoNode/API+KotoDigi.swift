import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// `GET /v1/export/koto-digi`: the clients in the caller's scope (an
/// office: its own municipality's; the coordinator: every one) with their
/// assessment and plan dates and statuses, and their placements, for moving
/// to the national integration client system (Koto-digi / Koto-AJ). JSON by
/// default; CSV (`format=csv` or `Accept: text/csv`) holds one table,
/// `table=clients` (the default) or `table=placements`. Column names are
/// the schema's, stable across languages; docs/export.md maps each onto the
/// Integration Act's concepts. A disclosure: recorded as an export.
enum KotoDigiExport {
    static let formatVersion = 1
    static let tables = ["clients", "placements"]

    /// The client fields exported, in order (every field but retention and the soft-delete flag).
    static let clientFields = ["clientNumber", "ownerMunicipality", "givenName", "familyName", "birthDate", "personalIdentityCode",
                               "arrivalDate", "firstPermitDate", "permitBasis", "integrationLanguage", "motherTongue",
                               "interpreterLanguage", "literacySupport", "jobseeker", "status", "assessmentDate", "planStart",
                               "planEnd", "planStatus"]
    /// The placement fields exported, in order.
    static let placementFields = ["clientId", "type", "status", "serviceId", "referralDate", "startDate", "endDate", "outcome",
                                  "municipality", "route", "offeredDate", "arrivalDate", "elyReference", "wellbeingCountyConsulted"]
    /// Columns a placement gets from its client and service, for a reader without the other tables.
    static let placementJoined = ["clientNumber", "serviceName", "serviceCategory", "studyPath"]

    struct Data: Sendable {
        let clients: [StoredRecord]
        let placements: [StoredRecord]
        let services: [UUID: StoredRecord]
    }

    static func clientMembers(_ record: StoredRecord) -> [(String, JSONValue)] {
        [("id", .string(record.id.lowercased))] + clientFields.map { name in
            (name, RecordJSON.json(record.fields[name] ?? .null, spec: RecordKind.client.field(named: name)!))
        }
    }

    static func placementMembers(_ record: StoredRecord, _ data: Data, clientNumbers: [UUID: String]) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [("id", .string(record.id.lowercased))]
        members += placementFields.map { name in
            (name, RecordJSON.json(record.fields[name] ?? .null, spec: RecordKind.placement.field(named: name)!))
        }
        let joined = joinedCells(record, data, clientNumbers: clientNumbers)
        members += placementJoined.map { name in (name, joined[name].map { .string($0) } ?? .null) }
        return members
    }

    static func joinedCells(_ record: StoredRecord, _ data: Data, clientNumbers: [UUID: String]) -> [String: String] {
        var cells: [String: String] = [:]
        if let text = record.fields["clientId"]?.text, let id = UUID(uuidString: text) { cells["clientNumber"] = clientNumbers[id] }
        if let text = record.fields["serviceId"]?.text, let id = UUID(uuidString: text), let service = data.services[id] {
            cells["serviceName"] = service.fields["nameFi"]?.text ?? service.fields["nameSv"]?.text
            cells["serviceCategory"] = service.fields["category"]?.text
            cells["studyPath"] = service.fields["studyPath"]?.text
        }
        return cells
    }

    static func csv(table: String, _ data: Data, clientNumbers: [UUID: String]) -> [UInt8] {
        if table == "placements" {
            let header = ["id"] + placementFields + placementJoined
            let rows = data.placements.map { record -> [String] in
                let joined = joinedCells(record, data, clientNumbers: clientNumbers)
                return [record.id.lowercased] + placementFields.map { name in
                    ListExport.cell(record.fields[name] ?? .null, RecordKind.placement.field(named: name)!)
                } + placementJoined.map { name in CSV.text(joined[name] ?? "") }
            }
            return CSV.encode(header: header, rows: rows)
        }
        let rows = data.clients.map { record in
            [record.id.lowercased] + clientFields.map { name in ListExport.cell(record.fields[name] ?? .null, RecordKind.client.field(named: name)!) }
        }
        return CSV.encode(header: ["id"] + clientFields, rows: rows)
    }
}

extension API {
    func kotoDigi(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        var problems: [FieldProblem] = []
        let format = ExportFormat.requested(by: request, problems: &problems)
        let table = request.query("table") ?? "clients"
        if !KotoDigiExport.tables.contains(table) {
            problems.append(FieldProblem(field: "table", reason: "must be clients or placements"))
        } else if format == .json, request.query("table") != nil {
            problems.append(FieldProblem(field: "table", reason: "applies to CSV only: the JSON holds both tables"))
        }
        for item in request.queryItems where !["format", "table", "purpose"].contains(item.name) {
            problems.append(FieldProblem(field: item.name, reason: "is not a parameter of the Koto-digi export"))
        }
        if !problems.isEmpty { throw HTTPError.invalidQuery(problems) }

        let municipality = caller.role == .office ? caller.municipality : nil
        let data = try await read { view in
            try view.consistentRead {
                var query = RecordQuery()
                if let municipality { query.equals["ownerMunicipality"] = .integer(Int64(municipality)) }
                let clients = try view.allRecords(.client, query)
                let ids = Set(clients.map(\.id.lowercased))
                let placements = try view.allRecords(.placement, RecordQuery()).filter { ids.contains($0.fields["clientId"]?.text ?? "") }
                var services: [UUID: StoredRecord] = [:]
                for placement in placements {
                    guard let text = placement.fields["serviceId"]?.text, let id = UUID(uuidString: text), services[id] == nil,
                          let service = try view.record(.service, id: id) else { continue }
                    services[id] = service
                }
                return KotoDigiExport.Data(clients: clients, placements: placements, services: services)
            }
        }
        let clientNumbers = Dictionary(data.clients.map { ($0.id, $0.fields["clientNumber"]?.text ?? "") }) { first, _ in first }

        // Recorded before the answer leaves: if the record fails, nothing is disclosed.
        let route = "GET /v1/export/koto-digi", purpose = PortabilityRequest.purpose(request)
        let withClients = format == .json || table == "clients"
        let withPlacements = format == .json || table == "placements"
        if withClients, !data.clients.isEmpty {
            try await access.record(PersonalDataAccess(action: .export, kind: .client, ids: data.clients.map(\.id),
                                                       fields: KotoDigiExport.clientFields, route: route, purpose: purpose), by: caller)
        }
        if withPlacements, !data.placements.isEmpty {
            if !withClients {
                // The placements table names each client by number too.
                let clientIDs = Array(Set(data.placements.compactMap { $0.fields["clientId"]?.text.flatMap(UUID.init(uuidString:)) }))
                    .sorted { $0.lowercased < $1.lowercased }
                try await access.record(PersonalDataAccess(action: .export, kind: .client, ids: clientIDs, fields: ["clientNumber"],
                                                           route: route, purpose: purpose), by: caller)
            }
            try await access.record(PersonalDataAccess(action: .export, kind: .placement, ids: data.placements.map(\.id),
                                                       fields: KotoDigiExport.placementFields, route: route, purpose: purpose), by: caller)
        }
        Log.info("export.koto_digi", ["caller": caller.description, "format": format.rawValue, "clients": String(data.clients.count),
                                      "placements": String(data.placements.count)])
        if format == .csv {
            return CSV.response(KotoDigiExport.csv(table: table, data, clientNumbers: clientNumbers),
                                filename: "koto-digi-\(table).csv", language: .en)
        }
        let scope: JSONValue = .object([("municipality", municipality.map { .number(Double($0)) } ?? .null)])
        return APIResponse.json(.object([
            ("export", .string("koto-digi")),
            ("formatVersion", .number(Double(KotoDigiExport.formatVersion))),
            ("generatedAt", APIResponse.timestamp(Int64(replica.nowMillis))),
            ("node", .string(config.node)),
            ("scope", scope),
            ("clients", .array(data.clients.map { .object(KotoDigiExport.clientMembers($0)) })),
            ("placements", .array(data.placements.map { .object(KotoDigiExport.placementMembers($0, data, clientNumbers: clientNumbers)) })),
        ]))
    }
}
