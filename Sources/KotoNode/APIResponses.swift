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

    static func timestamp(_ millis: Int64?) -> JSONValue {
        guard let millis else { return .null }
        return .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000)))
    }

    static func dot(_ dot: Dot) -> JSONValue {
        .object([("origin", .string(dot.origin)), ("seq", .number(Double(dot.seq)))])
    }

    /// `visible`: the fields the caller may see (nil for all; `OfficeScope`);
    /// `view`: a client's view, shown as `view` so a minimised record is not taken for one with empty fields.
    static func record(_ record: StoredRecord, conflicts: [OpenConflict]? = nil, visible: Set<String>? = nil,
                       view: ClientView? = nil) -> JSONValue {
        let fields = RecordJSON.members(of: record.fields, kind: record.kind).filter { visible?.contains($0.0) ?? true }
        var members: [(String, JSONValue)] = [
            ("id", .string(record.id.lowercased)),
            ("kind", .string(record.kind.rawValue)),
            ("fields", .object(fields)),
            ("deleted", .bool(record.deleted)),
            ("erased", .bool(record.erased)),
            ("openConflicts", .number(Double(record.openConflicts))),
        ]
        if let view { members.append(("view", .string(view.rawValue))) }
        if let conflicts {
            members.append(("rowClock", SyncProtocol.json(record.rowClock)))
            members.append(("stamps", .object(record.kind.fields.filter { visible?.contains($0.name) ?? true }.compactMap { spec in
                record.stamps[spec.name].map { stamp in
                    (spec.name, .object([("origin", .string(stamp.dot.origin)), ("seq", .number(Double(stamp.dot.seq))),
                                         ("hlc", .string(stamp.hlc.description))]))
                }
            })))
            members.append(("conflicts", .array(conflicts.map { conflict($0) })))
        }
        return .object(members)
    }

    /// `withheld`: the caller may not see the value (`OfficeScope`); it shows as null with `valueWithheld: true`.
    static func conflict(_ conflict: OpenConflict, withheld: Bool = false) -> JSONValue {
        let spec = conflict.record.field(named: conflict.field)
        var members: [(String, JSONValue)] = [
            ("id", .string(ConflictID(conflict).description)),
            ("kind", .string(conflict.record.rawValue)),
            ("rowId", .string(conflict.rowID.lowercased)),
            ("field", .string(conflict.field)),
            ("value", withheld ? .null : spec.map { RecordJSON.json(conflict.value, spec: $0) } ?? .null),
            ("dot", dot(conflict.dot)),
            ("hlc", .string(conflict.hlc.description)),
            ("winner", dot(conflict.winner)),
            ("firstSeen", timestamp(conflict.firstSeenMillis)),
        ]
        if withheld { members.append(("valueWithheld", .bool(true))) }
        return .object(members)
    }
}
