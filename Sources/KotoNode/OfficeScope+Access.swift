import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// The caller's stated purpose of a request: the `X-Purpose` header, or the
/// `purpose` query item (download links cannot set headers).
enum AccessPurpose {
    static let maxLength = 200

    /// Nil when none is given; 400 `invalid_purpose` naming `X-Purpose` (or
    /// `purpose`) when it is longer than 200 characters or holds a control character.
    static func of(_ request: HTTPRequest) throws -> String? {
        let (text, field): (String?, String) = if let header = request.headers["X-Purpose"] {
            (header, "X-Purpose")
        } else {
            (request.query("purpose"), "purpose")
        }
        guard let text else { return nil }
        var problems: [FieldProblem] = []
        if text.count > maxLength { problems.append(FieldProblem(field: field, reason: "must be at most \(maxLength) characters")) }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            problems.append(FieldProblem(field: field, reason: "must not contain control characters"))
        }
        guard problems.isEmpty else {
            throw HTTPError(.badRequest, code: "invalid_purpose", message: "the stated purpose is not acceptable",
                            problems: problems.map(\.httpProblem))
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// One request's dealings with the access log: who asks, on which route, why.
struct AccessContext: Sendable {
    let caller: Caller
    /// `GET /v1/clients/{id}`: the method and the route pattern.
    let route: String
    let purpose: String?
    let recorder: any AccessRecorder

    init(caller: Caller, route: String, request: HTTPRequest, recorder: any AccessRecorder) throws {
        self.caller = caller
        self.route = route
        self.purpose = try AccessPurpose.of(request)
        self.recorder = recorder
    }

    var scope: OfficeScope { OfficeScope(caller: caller) }

    func record(_ action: PersonalDataAccess.Action, _ kind: RecordKind, ids: [UUID], fields: [String]) async throws {
        try await recorder.record(PersonalDataAccess(action: action, kind: kind, ids: ids, fields: fields, route: route, purpose: purpose),
                                  by: caller)
    }

    /// Records the personal fields an answer shows: one entry per set of
    /// fields (a list may mix full and placement views); nothing when it
    /// shows none (minimised views, services, placements).
    func recordShown(_ shown: [ShownRecord], action: PersonalDataAccess.Action = .read) async throws {
        var groups: [[String]: [UUID]] = [:]
        var order: [[String]] = []
        for item in shown where !item.personalFields.isEmpty {
            if groups[item.personalFields] == nil { order.append(item.personalFields) }
            groups[item.personalFields, default: []].append(item.record.id)
        }
        for fields in order {
            try await record(action, shown[0].record.kind, ids: groups[fields]!, fields: fields)
        }
    }
}

/// A record as one caller is shown it: the fields it may see.
struct ShownRecord: Sendable {
    let record: StoredRecord
    /// Nil: every field.
    let visible: Set<String>?
    /// Set for clients: which view the caller has.
    let view: ClientView?

    var personalFields: [String] { OfficeScope.personalFields(record.kind, visible: visible, erased: record.erased) }

    var json: JSONValue { APIResponse.record(record, visible: visible, view: view) }

    func json(conflicts: [OpenConflict]) -> JSONValue {
        APIResponse.record(record, conflicts: conflicts.filter { visible?.contains($0.field) ?? true }, visible: visible, view: view)
    }
}

extension OfficeScope {
    /// `records` as this caller is shown them.
    func shown(_ records: [StoredRecord], in view: MergedView) throws -> [ShownRecord] {
        try records.map { record in
            guard record.kind == .client else { return ShownRecord(record: record, visible: nil, view: nil) }
            let clientView = try self.clientView(record, in: view)
            // An erased record holds no value at all: every field shows, cleared, whatever the view.
            return ShownRecord(record: record, visible: record.erased ? nil : clientView.fields, view: clientView)
        }
    }

    /// Whether this caller sees the value of a conflict (the field is shown to it).
    func seesValue(of conflict: OpenConflict, in view: MergedView, cache: inout [UUID: Set<String>?]) throws -> Bool {
        guard conflict.record == .client else { return true }
        if caller.role == .admin { return Self.adminClientFields.contains(conflict.field) }
        guard office != nil else { return true }
        if cache[conflict.rowID] == nil {
            guard let record = try view.record(.client, id: conflict.rowID) else { return false }
            cache[conflict.rowID] = .some(try clientView(record, in: view).fields)
        }
        return cache[conflict.rowID]!.map { $0.contains(conflict.field) } ?? true
    }
}
