import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// `GET /v1/subjects/{clientId}`: everything this node holds about one
/// client, for a data subject's access request (GDPR Art. 15): the whole
/// record and every placement of the client, deleted ones included (they
/// are still held). The coordinator and the office of the client's own
/// municipality may ask. The access-log lines about the client come from
/// `GET /v1/audit/subject/{id}`; `kotosync subject export` joins the two.
/// A disclosure: recorded as an export.
extension API {
    func subjectExport(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        guard let text = request.pathParameters["clientId"], let id = UUID(uuidString: text) else {
            throw HTTPError.notFound("no such client", code: "not_found")
        }
        for item in request.queryItems where item.name != "purpose" {
            throw HTTPError.invalidQuery([FieldProblem(field: item.name, reason: "is not a parameter of a subject export")])
        }
        let found = try await read { view -> (StoredRecord, [StoredRecord])? in
            try view.consistentRead {
                guard let client = try view.record(.client, id: id) else { return nil }
                var query = RecordQuery()
                query.equals["clientId"] = .text(id.lowercased)
                query.includeDeleted = true
                return (client, try view.allRecords(.placement, query))
            }
        }
        guard let (client, placements) = found else { throw HTTPError.notFound("no client \(id.lowercased)", code: "not_found") }
        if caller.role == .office, let own = caller.municipality, client.fields["ownerMunicipality"] != .integer(Int64(own)) {
            throw HTTPError(.forbidden, code: "forbidden_scope",
                            message: "office \(own) may not export the data of a client of another municipality",
                            problems: [HTTPProblem(field: "clientId", reason: "the client is not owned by municipality \(own)")])
        }
        // Recorded before the answer leaves: the fields that hold a value are the ones disclosed.
        let route = "GET /v1/subjects/{clientId}", purpose = PortabilityRequest.purpose(request)
        func heldFields(_ record: StoredRecord) -> [String] { record.fields.filter { !$0.value.isNull }.keys.sorted() }
        try await access.record(PersonalDataAccess(action: .export, kind: .client, ids: [id], fields: heldFields(client),
                                                   route: route, purpose: purpose), by: caller)
        if !placements.isEmpty {
            let fields = Set(placements.flatMap(heldFields)).sorted()
            try await access.record(PersonalDataAccess(action: .export, kind: .placement, ids: placements.map(\.id), fields: fields,
                                                       route: route, purpose: purpose), by: caller)
        }
        Log.info("export.subject", ["caller": caller.description, "client": id.lowercased, "placements": String(placements.count)])
        return APIResponse.json(.object([
            ("subject", .string(id.lowercased)),
            ("generatedAt", APIResponse.timestamp(Int64(replica.nowMillis))),
            ("node", .string(config.node)),
            ("client", APIResponse.record(client)),
            ("placements", .array(placements.map { APIResponse.record($0) })),
        ]))
    }
}
