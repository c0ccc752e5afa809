import Foundation
import KotoCore
import KotoCrypto
import KotoHTTP
import KotoStore

/// The access log for the data protection officer and a data subject's
/// access request: a period's entries (JSON or CSV), the chain's check, and
/// every entry about one client. Coordinator and admin only. The log holds
/// identifiers and field names, never personal values, so reading it is not
/// itself a personal-data read and is not logged.
extension API {
    func registerAudit(_ router: inout Router) {
        router.get("/v1/audit", endpoint([.coordinator, .admin]) { request, _ in try await auditEntries(request) })
        router.get("/v1/audit/verify", endpoint([.coordinator, .admin]) { _, _ in try await auditVerify() })
        router.get("/v1/audit/subject/{clientId}", endpoint([.coordinator, .admin]) { request, _ in try await auditSubject(request) })
    }

    private func requireAuditLog() throws -> AccessLog {
        guard let auditLog else {
            throw HTTPError(.serviceUnavailable, code: "access_log_unavailable", message: "this node keeps no persistent access log")
        }
        return auditLog
    }

    /// `GET /v1/audit?from=YYYY-MM-DD&to=YYYY-MM-DD[&format=json|csv]`: the entries of those UTC days, both included.
    private func auditEntries(_ request: HTTPRequest) async throws -> HTTPResponse {
        var problems: [FieldProblem] = []
        func day(_ name: String) -> LocalDate? {
            guard let text = request.query(name) else {
                problems.append(FieldProblem(field: name, reason: "is required: a date YYYY-MM-DD (UTC)"))
                return nil
            }
            guard let date = LocalDate(text) else {
                problems.append(FieldProblem(field: name, reason: "must be a date YYYY-MM-DD"))
                return nil
            }
            return date
        }
        let from = day("from"), to = day("to")
        if let from, let to, to < from { problems.append(FieldProblem(field: "to", reason: "must not be before from")) }
        let format = ExportFormat.requested(by: request, problems: &problems)
        for item in request.queryItems where !["from", "to", "format"].contains(item.name) {
            problems.append(FieldProblem(field: item.name, reason: "is not a parameter of the access log"))
        }
        guard problems.isEmpty, let from, let to else { throw HTTPError.invalidQuery(problems) }
        let entries = try await requireAuditLog().entries(from: from, to: to)
        if format == .csv {
            return CSV.response(AuditJSON.csv(entries), filename: "access-log-\(from)-\(to).csv", language: .en)
        }
        return APIResponse.json(.object([("items", .array(entries.map(AuditJSON.entry)))]))
    }

    /// `GET /v1/audit/verify`: the chain walked from the checkpoint to the signed head.
    private func auditVerify() async throws -> HTTPResponse {
        let result = try await requireAuditLog().verify()
        return APIResponse.json(AuditJSON.verification(result, node: config.node))
    }

    /// `GET /v1/audit/subject/{clientId}`: every entry naming the client or
    /// one of the placements this node holds for them (deleted ones too).
    private func auditSubject(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard let text = request.pathParameters["clientId"], let client = UUID(uuidString: text) else {
            throw HTTPError.invalidQuery([FieldProblem(field: "clientId", reason: "must be a client id (a UUID)")],
                                         message: "the client id must be a UUID")
        }
        var query = RecordQuery()
        query.equals["clientId"] = .text(client.lowercased)
        query.includeDeleted = true
        query.includeErased = true
        let placements = try await read { [query] in try $0.allRecords(.placement, query).map(\.id) }
        let entries = try await requireAuditLog().entries(naming: Set([client] + placements))
        return APIResponse.json(.object([("items", .array(entries.map(AuditJSON.entry)))]))
    }
}

/// The access log's entries as the API answers them (the shape the
/// subject export of the portability part reads too).
enum AuditJSON {
    /// `2026-12-01T14:00:00.123Z`.
    static func time(_ millis: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    static func entry(_ entry: AccessLogEntry) -> JSONValue {
        .object([
            ("seq", .number(Double(entry.seq))),
            ("time", .string(time(entry.timeMillis))),
            ("node", .string(entry.node)),
            ("holder", .object([
                ("role", .string(entry.holder.role)),
                ("municipality", entry.holder.municipality.map { .number(Double($0)) } ?? .null),
                ("name", entry.holder.name.map { .string($0) } ?? .null),
            ])),
            ("action", .string(entry.action)),
            ("kind", .string(entry.kind)),
            ("ids", .array(entry.ids.map { .string($0) })),
            ("fields", .array(entry.fields.map { .string($0) })),
            ("route", .string(entry.route)),
            ("purpose", entry.purpose.map { .string($0) } ?? .null),
            ("previousHash", .string(SHA256.hex(entry.previousHash))),
            ("hash", .string(SHA256.hex(entry.hash))),
        ])
    }

    static let csvColumns = ["seq", "time", "node", "role", "municipality", "name", "action", "kind", "ids", "fields", "route",
                             "purpose", "previousHash", "hash"]

    /// One line per entry; lists comma-separated; free text guarded against formulas.
    static func csv(_ entries: [AccessLogEntry]) -> [UInt8] {
        let rows = entries.map { entry -> [String] in
            [String(entry.seq), time(entry.timeMillis), entry.node, entry.holder.role, entry.holder.municipality.map(String.init) ?? "",
             CSV.text(entry.holder.name ?? ""), entry.action, entry.kind, entry.ids.joined(separator: ","),
             entry.fields.joined(separator: ","), entry.route, CSV.text(entry.purpose ?? ""), SHA256.hex(entry.previousHash),
             SHA256.hex(entry.hash)]
        }
        return CSV.encode(header: csvColumns, rows: rows)
    }

    static func verification(_ result: AccessLogVerification, node: String) -> JSONValue {
        let checkpoint: JSONValue = result.checkpoint.map { checkpoint in
            .object([
                ("seq", .number(Double(checkpoint.seq))),
                ("hash", .string(SHA256.hex(checkpoint.hash))),
                ("time", .string(time(checkpoint.timeMillis))),
                ("created", .string(time(checkpoint.createdMillis))),
            ])
        } ?? .null
        let broken: JSONValue = result.broken.map { broken in
            .object([("seq", .number(Double(broken.seq))), ("reason", .string(broken.problem.rawValue)),
                     ("message", .string(broken.message))])
        } ?? .null
        return .object([
            ("ok", .bool(result.ok)),
            ("node", .string(node)),
            ("entries", .number(Double(result.entries))),
            ("firstSeq", result.firstSeq.map { .number(Double($0)) } ?? .null),
            ("lastSeq", result.lastSeq.map { .number(Double($0)) } ?? .null),
            ("checkpoint", checkpoint),
            ("broken", broken),
        ])
    }
}
