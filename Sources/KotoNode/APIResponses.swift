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
