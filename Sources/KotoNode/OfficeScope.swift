import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// How much of one client a caller sees.
///
/// - `full`: every field. The coordinator sees every client so; an office
///   its own municipality's clients (`ownerMunicipality` is its code).
/// - `placement`: another municipality's client that a live placement ties
///   to this office — a placement into one of its services (a service whose
///   `municipalities` list its code) or a municipal placement into its
///   municipality (`municipality` is its code). Besides the minimised
///   fields the office then sees what receiving the person takes:
///   `clientNumber` (to talk to the owning office about them), `givenName`
///   and `familyName` (who comes), `motherTongue`, `interpreterLanguage`
///   and `literacySupport` (how teaching or reception is arranged). Never
///   the birth date, identity code, family id, permit or plan dates.
/// - `minimised`: any other client of another municipality: `id`,
///   `ownerMunicipality`, `status`, `permitBasis`, `integrationLanguage`
///   and the record's metadata (`deleted`, `erased`, `openConflicts`) only.
///
/// Reading a minimised view is not a read of personal data (issue 8), so it
/// is not recorded in the access log; the other two are.
enum ClientView: String, Sendable, CaseIterable {
    case full
    case placement
    case minimised

    /// The client fields this view shows; nil for every field.
    var fields: Set<String>? {
        switch self {
        case .full: nil
        case .placement: OfficeScope.placementClientFields
        case .minimised: OfficeScope.minimisedClientFields
        }
    }
}

/// What a credential may read and write, enforced in the API layer.
///
/// Writes (`office` only; the coordinator writes nothing but conflict
/// resolutions): a client whose `ownerMunicipality` is the office's code;
/// a service whose `municipalities` list it; a placement of one of its own
/// clients, into one of its services, or a municipal placement into its
/// municipality. A create is checked on the new record; an update, delete,
/// restore or erase on the record as stored, so an office may hand its
/// client over to another municipality (update `ownerMunicipality`), after
/// which it sees it minimised. A refused write is 403 `forbidden_scope`
/// naming the field that decides the scope.
///
/// Reads: services and placements (neither holds personal fields) whole for
/// every reading role; clients by `ClientView`. `admin` reads no records,
/// and of conflicts sees the values of services, placements and the
/// clients' `ownerMunicipality`, `status`, `integrationLanguage` and
/// `deleted` only (`valueWithheld` marks the others). `peer` only syncs.
///
/// Filters: an office filtering clients by a field outside the minimised
/// view searches its own clients only (the filter is restricted to
/// `ownerMunicipality` = its code), so a filter never tells it anything
/// about another municipality's client that the minimised view does not; a
/// query that names another `ownerMunicipality` together with such a
/// filter is refused with 403 `forbidden_scope`.
struct OfficeScope: Sendable {
    let caller: Caller

    /// The municipality whose scope applies: an office's code; nil for roles that are not scoped by municipality.
    var office: Int? { caller.role == .office ? caller.municipality : nil }

    static let minimisedClientFields: Set<String> = ["ownerMunicipality", "status", "permitBasis", "integrationLanguage", deletedFieldName]
    static let placementClientFields: Set<String> = minimisedClientFields.union([
        "clientNumber", "givenName", "familyName", "motherTongue", "interpreterLanguage", "literacySupport",
    ])
    /// The client fields whose conflict values an admin sees: the minimised ones that are not personal.
    static let adminClientFields: Set<String> = ["ownerMunicipality", "status", "integrationLanguage", deletedFieldName]

    // MARK: Reads

    /// The view of `record` (a client) for this caller; `view` answers whether a placement ties it to the office.
    func clientView(_ record: StoredRecord, in view: MergedView) throws -> ClientView {
        guard let office else { return .full }
        if Self.owner(of: record) == office { return .full }
        return try view.clientTied(record.id, to: office) ? .placement : .minimised
    }

    /// The fields of a record of `kind` this caller sees; nil for all.
    func visibleFields(_ record: StoredRecord, in view: MergedView) throws -> Set<String>? {
        guard record.kind == .client else { return nil }
        if caller.role == .admin { return Self.adminClientFields }
        return try clientView(record, in: view).fields
    }

    /// The personal fields a caller is shown of a record in this view: what the access log records.
    static func personalFields(_ kind: RecordKind, visible: Set<String>?, erased: Bool) -> [String] {
        guard kind == .client, !erased else { return [] }
        if let visible, visible.isSubset(of: minimisedClientFields) { return [] }
        return kind.fields.filter { $0.personal && (visible?.contains($0.name) ?? true) }.map(\.name)
    }

    /// Limits a client list query of an office: a filter on a field outside
    /// the minimised view searches its own clients only.
    func restrict(_ query: inout RecordQuery, kind: RecordKind) throws {
        guard kind == .client, let office else { return }
        let named = Set(query.equals.keys).union(query.contains.keys)
        let personal = named.subtracting(Self.minimisedClientFields).subtracting(["ownerMunicipality"]).sorted()
        guard !personal.isEmpty else { return }
        if let owner = query.equals["ownerMunicipality"], owner != .integer(Int64(office)) {
            throw ScopeRefusal(caller: caller, action: "filter another municipality's clients by \(personal.joined(separator: ", "))",
                               problems: personal.map {
                                   FieldProblem(field: $0, reason: "an office filters other municipalities' clients by their minimised fields only")
                               })
        }
        query.equals["ownerMunicipality"] = .integer(Int64(office))
    }

    // MARK: Writes

    /// Refuses (403 `forbidden_scope`) a write outside the office's scope:
    /// `stored` is the record as it is (nil for a create), `fields` what a create would write.
    func checkWrite(_ kind: RecordKind, _ verb: String, stored: StoredRecord?, creating fields: FieldMap?, in view: MergedView) throws {
        guard let office else { return }
        // An erased record takes no write at all: the store's 410 says so, whoever asks.
        if stored?.erased == true { return }
        let values = stored?.fields ?? fields ?? [:]
        switch kind {
        case .client:
            guard values["ownerMunicipality"]?.integer == Int64(office) else {
                throw ScopeRefusal(caller: caller, action: "\(verb) clients of another municipality",
                                   problems: [FieldProblem(field: "ownerMunicipality", reason: "is not \(office); an office writes its own municipality's clients only")])
            }
        case .service:
            guard Self.codes(values["municipalities"]).contains(office) else {
                throw ScopeRefusal(caller: caller, action: "\(verb) services that do not serve it",
                                   problems: [FieldProblem(field: "municipalities", reason: "does not list \(office); an office writes the services that serve it only")])
            }
        case .placement:
            guard try !Self.placementMunicipalities(values, in: view).isDisjoint(with: [office]) else {
                throw ScopeRefusal(caller: caller, action: "\(verb) placements of other municipalities' clients into services that do not serve it",
                                   problems: [
                                       FieldProblem(field: "clientId", reason: "is not a client of municipality \(office)"),
                                       FieldProblem(field: "serviceId", reason: "is not a service that serves municipality \(office)"),
                                   ])
            }
        }
    }

    // MARK: Municipalities of records

    /// A client's `ownerMunicipality`.
    static func owner(of record: StoredRecord) -> Int? {
        record.fields["ownerMunicipality"]?.integer.map(Int.init)
    }

    /// The codes of a `municipalities` list (`"598,893"`) or of one code.
    static func codes(_ value: FieldValue?) -> Set<Int> {
        if let number = value?.integer { return [Int(number)] }
        return Set(value?.text?.split(separator: ",").compactMap { Int($0) } ?? [])
    }

    /// The municipalities a placement belongs to: its client's owner, the
    /// municipalities its service serves, and a municipal placement's municipality.
    static func placementMunicipalities(_ fields: FieldMap, in view: MergedView) throws -> Set<Int> {
        var codes = codes(fields["municipality"])
        if let text = fields["clientId"]?.text, let id = UUID(uuidString: text), let client = try view.record(.client, id: id),
           let owner = owner(of: client) {
            codes.insert(owner)
        }
        if let text = fields["serviceId"]?.text, let id = UUID(uuidString: text), let service = try view.record(.service, id: id),
           !service.erased {
            codes.formUnion(Self.codes(service.fields["municipalities"]))
        }
        return codes
    }
}

extension MergedView {
    /// Whether a live placement ties the client to municipality `code`: a
    /// placement into a service that serves it, or a municipal placement into it.
    func clientTied(_ client: UUID, to code: Int) throws -> Bool {
        var query = RecordQuery()
        query.equals["clientId"] = .text(client.lowercased)
        query.limit = 1000
        for placement in try allRecords(.placement, query) where !placement.erased {
            if OfficeScope.codes(placement.fields["municipality"]).contains(code) { return true }
            if let text = placement.fields["serviceId"]?.text, let id = UUID(uuidString: text),
               let service = try record(.service, id: id), !service.erased, !service.deleted,
               OfficeScope.codes(service.fields["municipalities"]).contains(code) {
                return true
            }
        }
        return false
    }
}

/// 403 `forbidden_scope`: the credential's role may use the endpoint, but
/// not on this record. The message names the scope; the problems the field
/// that decides it (never a value of a personal field).
struct ScopeRefusal: HTTPResponseError {
    let caller: Caller
    let action: String
    let problems: [HTTPProblem]

    init(caller: Caller, action: String, problems: [FieldProblem]) {
        self.caller = caller
        self.action = action
        self.problems = problems.map(\.httpProblem)
    }

    var status: HTTPStatus { .forbidden }
    var code: String { "forbidden_scope" }
    var message: String { "\(caller.description) may not \(action)" }
    var description: String { "forbidden_scope: \(message)" }
}
