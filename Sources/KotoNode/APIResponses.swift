import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// JSON bodies of the API, built from core and store types.
enum APIResponse {
    static func json(_ value: JSONValue, status: HTTPStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers["Content-Type"] = "application/json"
        return HTTPResponse(status: status, headers: headers, body: value.serializedBytes)
    }

    /// `{"error": {"code", "message", "problems"?}}` — the shape of every error.
    static func error(_ status: HTTPStatus, code: String, message: String, problems: [FieldProblem] = []) -> HTTPResponse {
        var error: [(String, JSONValue)] = [("code", .string(code)), ("message", .string(message))]
        if !problems.isEmpty {
            error.append(("problems", .array(problems.map { .object([("field", .string($0.field)), ("reason", .string($0.reason))]) })))
        }
        return json(.object([("error", .object(error))]), status: status)
    }

    static func invalid(_ problems: [FieldProblem]) -> HTTPResponse {
        error(.unprocessableContent, code: "validation_failed",
              message: "\(problems.count) problem\(problems.count == 1 ? "" : "s") with the record", problems: problems)
    }

    /// Maps store errors to their HTTP meaning; anything unexpected stays a 500.
    static func response(for error: ReplicaStoreError) -> HTTPResponse? {
        switch error {
        case .invalid(let problems): invalid(problems)
        case .notFound(let kind, let id): self.error(.notFound, code: "not_found", message: "no \(kind.rawValue) \(id.lowercased)")
        case .alreadyExists(let kind, let id):
            self.error(.conflict, code: "already_exists", message: "\(kind.rawValue) \(id.lowercased) already exists")
        case .erased(let kind, let id):
            self.error(.gone, code: "erased", message: "\(kind.rawValue) \(id.lowercased) was erased")
        case .batchRefused(let reason): self.error(.conflict, code: "batch_refused", message: reason)
        case .snapshotRequired: self.error(.gone, code: "snapshot_required", message: error.description)
        case .notMember(let node):
            self.error(.forbidden, code: "not_a_member", message: error.description,
                       problems: [FieldProblem(field: "versionVector", reason: "names \(node), which is not a member of the region")])
        case .forked: self.error(.conflict, code: "fork", message: error.description)
        case .ownChainForked: self.error(.serviceUnavailable, code: "forked", message: error.description)
        case .nodeMismatch, .schemaTooNew, .corrupt, .keyNotListed: nil
        }
    }

    static func timestamp(_ millis: Int64?) -> JSONValue {
        guard let millis else { return .null }
        return .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000)))
    }

    static func dot(_ dot: Dot) -> JSONValue {
        .object([("origin", .string(dot.origin)), ("seq", .number(Double(dot.seq)))])
    }

    static func record(_ record: StoredRecord, conflicts: [OpenConflict]? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(record.id.lowercased)),
            ("kind", .string(record.kind.rawValue)),
            ("fields", .object(RecordJSON.members(of: record.fields, kind: record.kind))),
            ("deleted", .bool(record.deleted)),
            ("erased", .bool(record.erased)),
            ("openConflicts", .number(Double(record.openConflicts))),
        ]
        if let conflicts {
            members.append(("rowClock", SyncProtocol.json(record.rowClock)))
            members.append(("stamps", .object(record.kind.fields.compactMap { spec in
                record.stamps[spec.name].map { stamp in
                    (spec.name, .object([("origin", .string(stamp.dot.origin)), ("seq", .number(Double(stamp.dot.seq))),
                                         ("hlc", .string(stamp.hlc.description))]))
                }
            })))
            members.append(("conflicts", .array(conflicts.map(conflict))))
        }
        return .object(members)
    }

    static func conflict(_ conflict: OpenConflict) -> JSONValue {
        let spec = conflict.record.field(named: conflict.field)
        return .object([
            ("id", .string(ConflictID(conflict).description)),
            ("kind", .string(conflict.record.rawValue)),
            ("rowId", .string(conflict.rowID.lowercased)),
            ("field", .string(conflict.field)),
            ("value", spec.map { RecordJSON.json(conflict.value, spec: $0) } ?? .null),
            ("dot", dot(conflict.dot)),
            ("hlc", .string(conflict.hlc.description)),
            ("winner", dot(conflict.winner)),
            ("firstSeen", timestamp(conflict.firstSeenMillis)),
        ])
    }
}
