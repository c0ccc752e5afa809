import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// Names the open conflicts of one field: `<table>:<rowId>:<field>`, e.g.
/// `clients:0b6f…:status`. Every frontier entry of that field shares it.
struct ConflictID: Hashable, Sendable, CustomStringConvertible {
    let kind: RecordKind
    let rowID: UUID
    let field: String

    init(kind: RecordKind, rowID: UUID, field: String) {
        self.kind = kind
        self.rowID = rowID
        self.field = field
    }

    init(_ conflict: OpenConflict) {
        self.init(kind: conflict.record, rowID: conflict.rowID, field: conflict.field)
    }

    /// Nil unless the text names a record table, a UUID and a field of that kind.
    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let kind = RecordKind(table: String(parts[0])), let rowID = UUID(uuidString: String(parts[1])),
              let spec = kind.field(named: String(parts[2])) else { return nil }
        self.init(kind: kind, rowID: rowID, field: spec.name)
    }

    var description: String { "\(kind.table):\(rowID.lowercased):\(field)" }
}

/// `POST /v1/conflicts/{id}/resolve`: the chosen value becomes a local
/// change whose row clock covers every write to the row this replica
/// holds, so it replicates and closes the conflict wherever it arrives.
extension API {
    /// What deciding whether the caller may resolve a conflict takes.
    private struct ResolutionTarget: Sendable {
        let municipalities: Set<Int>
        /// The field that decides whose the record is (`ownerMunicipality`, `municipalities`, `clientId`).
        let field: String
        /// Where the record belongs, for the 403 message ("municipality 440", "municipalities 598, 599").
        let scope: String
    }

    func resolveConflict(_ request: HTTPRequest, _ context: AccessContext) async throws -> HTTPResponse {
        let caller = context.caller
        guard let text = request.pathParameters["id"], let conflict = ConflictID(text) else {
            throw HTTPError.notFound("no open conflict has this id; ids are <table>:<rowId>:<field> as GET /v1/conflicts lists them")
        }
        let target = try await read { view -> ResolutionTarget? in
            let open = try view.openConflicts(conflict.kind, rowID: conflict.rowID).filter { $0.field == conflict.field }
            guard !open.isEmpty, let record = try view.record(conflict.kind, id: conflict.rowID) else { return nil }
            return try Self.resolutionTarget(record, conflicts: open, view: view)
        }
        guard let target else { throw HTTPError.notFound("no open conflict \(conflict)") }
        if caller.role == .office, let own = caller.municipality, !target.municipalities.contains(own) {
            throw ScopeRefusal(caller: caller, action: "resolve this conflict: an office resolves conflicts of its own municipality's "
                               + "records only, and this \(conflict.kind.rawValue) belongs to \(target.scope)",
                               problems: [FieldProblem(field: target.field, reason: "does not name municipality \(own)")])
        }
        let value = try Self.resolutionValue(request, conflict: conflict)
        // The store checks again: resolved (or erased) since the check above is `ConflictNotOpen`, a 404.
        let change = try await replica.write(conflict.kind, id: conflict.rowID, .resolve(field: conflict.field, value: value))
        Log.info("conflict.resolved", ["kind": conflict.kind.rawValue, "id": conflict.rowID.lowercased, "field": conflict.field,
                                       "dot": change.dot.description, "by": caller.description])
        if conflict.kind != .service { try await context.record(.write, conflict.kind, ids: [conflict.rowID], fields: [conflict.field]) }
        return try await show(conflict.kind, id: conflict.rowID, context)
    }

    /// The municipalities a record belongs to: a client's owner, a
    /// placement's client's owner, its service's municipalities and a municipal
    /// placement's municipality, the municipalities a service serves. A
    /// conflict on that very field counts every contested value, so either
    /// side's office can settle it.
    private static func resolutionTarget(_ record: StoredRecord, conflicts: [OpenConflict], view: MergedView) throws -> ResolutionTarget {
        let values = [record.fields[conflicts[0].field] ?? .null] + conflicts.map(\.value)
        func codes(_ value: FieldValue?) -> [Int] {
            if let number = value?.integer { return [Int(number)] }
            return value?.text?.split(separator: ",").compactMap { Int($0) } ?? []
        }
        var municipalities: Set<Int> = []
        let scopeField: String
        switch record.kind {
        case .client:
            scopeField = "ownerMunicipality"
            municipalities.formUnion(codes(record.fields[scopeField]))
        case .service:
            scopeField = "municipalities"
            municipalities.formUnion(codes(record.fields[scopeField]))
        case .placement:
            scopeField = "clientId"
            let clients = conflicts[0].field == scopeField ? values : [record.fields[scopeField] ?? .null]
            for client in clients {
                guard let text = client.text, let id = UUID(uuidString: text), let found = try view.record(.client, id: id) else { continue }
                municipalities.formUnion(codes(found.fields["ownerMunicipality"]))
            }
            // As for writes (`OfficeScope`): the office of its service or of a municipal placement's municipality too.
            municipalities.formUnion(try OfficeScope.placementMunicipalities(record.fields, in: view))
        }
        if conflicts[0].field == scopeField, record.kind != .placement {
            for value in values { municipalities.formUnion(codes(value)) }
        }
        let sorted = municipalities.sorted().map(String.init)
        let scope = switch sorted.count {
        case 0: "no municipality"
        case 1: "municipality \(sorted[0])"
        default: "municipalities \(sorted.joined(separator: ", "))"
        }
        return ResolutionTarget(municipalities: municipalities, field: scopeField, scope: scope)
    }

    /// The body `{"value": <the field's JSON value, null allowed>}` as the field's value.
    private static func resolutionValue(_ request: HTTPRequest, conflict: ConflictID) throws -> FieldValue {
        let json: JSONValue
        do {
            json = try JSONValue.parse(request.body)
        } catch {
            throw HTTPError.badRequest("request body is not JSON: \(error.description)", code: "invalid_json")
        }
        guard let members = json.objectMembers else {
            throw HTTPError.validationFailed([FieldProblem(field: "(body)", reason: "must be a JSON object {\"value\": ...}")])
        }
        var problems = members.filter { $0.0 != "value" }.map { FieldProblem(field: $0.0, reason: "unknown field") }
        guard let value = json["value"] else {
            throw HTTPError.validationFailed(problems + [FieldProblem(field: "value", reason: "is required (null is allowed)")])
        }
        let (fields, converted) = RecordJSON.fields(from: .object([(conflict.field, value)]), kind: conflict.kind)
        problems += converted
        if !problems.isEmpty { throw HTTPError.validationFailed(problems) }
        return fields[conflict.field] ?? .null
    }
}
