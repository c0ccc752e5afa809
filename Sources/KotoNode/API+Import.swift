import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// `POST /v1/import/{kind}`: services, clients or placements from a CSV
/// (`Content-Type: text/csv`; `;`-separated, UTF-8 with or without BOM or
/// Windows-1252, as Excel saves it in Finland) or JSON file
/// (`application/json`: an array of objects or `{"items": [...]}`).
///
/// Every row is checked as a record written one by one would be, and the
/// answer reports each row's problems by row and column. `dryRun=true`
/// writes nothing and reports what a run would do. Otherwise every row must
/// be valid and all of them are written in one transaction — or, with
/// `skipInvalid=true`, the valid rows are and the others are listed as
/// skipped. Re-running a file is idempotent (see `ImportPlanner`).
extension API {
    /// At most this many data rows per file; more is 413 (split the file).
    static let maxImportRows = 100_000

    /// The portability routes: import, the Koto-digi export and the data subject's export.
    func registerPortability(_ router: inout Router) {
        router.post("/v1/import/{kind}", endpoint([.office]) { request, caller in try await importRecords(request, caller: caller) })
        router.get("/v1/export/koto-digi", endpoint([.office, .coordinator]) { request, caller in try await kotoDigi(request, caller: caller) })
        router.get("/v1/subjects/{clientId}", endpoint([.office, .coordinator]) { request, caller in
            try await subjectExport(request, caller: caller)
        })
    }

    private func importRecords(_ request: HTTPRequest, caller: Caller) async throws -> HTTPResponse {
        guard let text = request.pathParameters["kind"], let kind = RecordKind(table: text) ?? RecordKind(rawValue: text) else {
            throw HTTPError.notFound("records import as services, clients or placements", code: "not_found")
        }
        var problems: [FieldProblem] = []
        var flags: [String: Bool] = ["dryRun": false, "skipInvalid": false]
        for item in request.queryItems {
            switch item.name {
            case "dryRun", "skipInvalid":
                guard item.value == "true" || item.value == "false" else {
                    problems.append(FieldProblem(field: item.name, reason: "must be true or false"))
                    continue
                }
                flags[item.name] = item.value == "true"
            case "purpose": continue
            default: problems.append(FieldProblem(field: item.name, reason: "is not a parameter of an import"))
            }
        }
        if !problems.isEmpty { throw HTTPError.invalidQuery(problems) }
        let dryRun = flags["dryRun"]!, skipInvalid = flags["skipInvalid"]!

        let source = try Self.importSource(request, kind: kind)
        let rowCount = source.rows.count + Set(source.structuralProblems.map(\.row)).count
        guard rowCount <= Self.maxImportRows else {
            throw HTTPError(.contentTooLarge, code: "too_many_rows",
                            message: "the file holds \(rowCount) rows; an import takes at most \(Self.maxImportRows): split the file")
        }
        let planner = ImportPlanner(kind: kind, caller: caller)
        let outcome: ImportOutcome
        if dryRun {
            outcome = try await replica.withStore { store in
                ImportOutcome(source: source, planned: try planner.plan(source.rows, in: store), written: false)
            }
        } else {
            outcome = try await replica.writeBatch { store in
                let planned = try planner.plan(source.rows, in: store)
                let result = ImportOutcome(source: source, planned: planned, written: true)
                guard result.fileProblems.isEmpty, skipInvalid || result.rowProblems.isEmpty else {
                    // Thrown inside the batch: nothing was written, and the transaction ends empty.
                    throw ImportRefused(kind: kind, outcome: result)
                }
                for item in planned {
                    switch item.action {
                    case .create(let id, let fields): try store.create(kind, id: id, fields: fields)
                    case .update(let id, let fields): try store.update(kind, id: id, fields: fields)
                    case .unchanged, nil: break
                    }
                }
                return result
            }
            if outcome.createdCount + outcome.updatedCount > 0 {
                scheduler.localChange()
                let purpose = PortabilityRequest.purpose(request)
                let route = "POST /v1/import/{kind}"
                if !outcome.createdIDs.isEmpty {
                    try await access.record(PersonalDataAccess(action: .write, kind: kind, ids: outcome.createdIDs,
                                                               fields: outcome.createdFields, route: route, purpose: purpose), by: caller)
                }
                if !outcome.updatedIDs.isEmpty {
                    try await access.record(PersonalDataAccess(action: .write, kind: kind, ids: outcome.updatedIDs,
                                                               fields: outcome.updatedFields, route: route, purpose: purpose), by: caller)
                }
            }
        }
        // Counts only: a row's values never reach the log.
        Log.info("import.\(dryRun ? "checked" : "done")", [
            "kind": kind.rawValue, "caller": caller.description, "rows": String(outcome.rowsRead), "created": String(outcome.createdCount),
            "updated": String(outcome.updatedCount), "unchanged": String(outcome.unchangedCount), "skipped": String(outcome.skippedRows.count),
        ])
        return APIResponse.json(outcome.report(kind: kind, dryRun: dryRun, skipInvalid: skipInvalid))
    }

    /// The body as rows, by its content type.
    static func importSource(_ request: HTTPRequest, kind: RecordKind) throws -> ImportSource {
        let type = (request.headers["Content-Type"] ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        guard !request.body.isEmpty else {
            throw HTTPError.badRequest("the import file is empty", code: "invalid_import_file")
        }
        switch type {
        case "text/csv", "application/csv", "text/comma-separated-values":
            return ImportSource.csv(request.body, kind: kind)
        case "application/json":
            do {
                return try ImportSource.json(request.body, kind: kind)
            } catch {
                throw HTTPError.badRequest("the import file \(error.reason)", code: "invalid_import_file")
            }
        default:
            throw HTTPError(.unsupportedMediaType, code: "unsupported_media_type",
                            message: "send the file as Content-Type text/csv or application/json")
        }
    }
}

/// What an import did (or, in a dry run, would do), row by row.
struct ImportOutcome: Sendable {
    let source: ImportSource
    let planned: [ImportPlanner.Planned]
    let written: Bool

    var fileProblems: [RowProblem] { source.fileProblems }
    /// Every row's problems, by row then as found.
    var rowProblems: [RowProblem] {
        (source.structuralProblems + planned.flatMap(\.problems)).sorted { $0.row < $1.row }
    }
    var rowsRead: Int { planned.count + Set(source.structuralProblems.map(\.row)).count }
    /// Rows with problems, never written.
    var skippedRows: [Int] { Set(rowProblems.map(\.row)).sorted() }

    private func actions(_ match: (ImportPlanner.Action) -> Bool) -> [ImportPlanner.Action] {
        planned.compactMap(\.action).filter(match)
    }
    var created: [ImportPlanner.Action] { actions { if case .create = $0 { true } else { false } } }
    var updated: [ImportPlanner.Action] { actions { if case .update = $0 { true } else { false } } }
    var createdCount: Int { created.count }
    var updatedCount: Int { updated.count }
    var unchangedCount: Int { actions { if case .unchanged = $0 { true } else { false } }.count }
    var createdIDs: [UUID] { created.map(\.id) }
    var updatedIDs: [UUID] { updated.map(\.id) }
    /// The field names the creates wrote.
    var createdFields: [String] { fieldNames(created) }
    var updatedFields: [String] { fieldNames(updated) }

    private func fieldNames(_ actions: [ImportPlanner.Action]) -> [String] {
        var names: Set<String> = []
        for action in actions {
            switch action {
            case .create(_, let fields), .update(_, let fields): names.formUnion(fields.keys)
            case .unchanged: break
            }
        }
        return names.sorted()
    }

    func report(kind: RecordKind, dryRun: Bool, skipInvalid: Bool) -> JSONValue {
        let blocked = !fileProblems.isEmpty || (!skipInvalid && !rowProblems.isEmpty)
        let rows: [JSONValue] = planned.map { item in
            var members: [(String, JSONValue)] = [("row", .number(Double(item.row)))]
            switch item.action {
            case .create(let id, _): members += [("result", .string("created")), ("id", .string(id.lowercased))]
            case .update(let id, _): members += [("result", .string("updated")), ("id", .string(id.lowercased))]
            case .unchanged(let id): members += [("result", .string("unchanged")), ("id", .string(id.lowercased))]
            case nil: members.append(("result", .string("skipped")))
            }
            return .object(members)
        }
        return .object([
            ("kind", .string(kind.table)),
            ("format", .string(source.format.rawValue)),
            ("encoding", .string(source.encoding.rawValue)),
            ("dryRun", .bool(dryRun)),
            ("skipInvalid", .bool(skipInvalid)),
            ("written", .bool(written && !dryRun && !blocked && createdCount + updatedCount > 0)),
            ("rowsRead", .number(Double(rowsRead))),
            ("created", .number(Double(createdCount))),
            ("updated", .number(Double(updatedCount))),
            ("unchanged", .number(Double(unchangedCount))),
            ("skipped", .number(Double(skippedRows.count))),
            ("skippedRows", .array(skippedRows.map { .number(Double($0)) })),
            ("problems", .array((fileProblems + rowProblems).map(Self.json))),
            ("rows", .array(rows)),
        ])
    }

    static func json(_ problem: RowProblem) -> JSONValue {
        .object([("row", .number(Double(problem.row))), ("column", .string(problem.column)), ("reason", .string(problem.reason))])
    }
}

/// 422 `import_invalid`: rows (or the header) have problems and the import
/// was not a dry run nor told to skip them, so nothing was written. Each
/// problem names its row (`row`), column (`field`) and reason.
struct ImportRefused: HTTPResponseError, Sendable {
    let kind: RecordKind
    let outcome: ImportOutcome

    var status: HTTPStatus { .unprocessableContent }
    var code: String { "import_invalid" }
    var message: String {
        if !outcome.fileProblems.isEmpty {
            return "the header of the \(kind.table) file has problems; nothing was written"
        }
        return "\(outcome.skippedRows.count) of \(outcome.rowsRead) rows have problems; nothing was written "
            + "(fix them, or import with skipInvalid=true to write the valid rows)"
    }
    var problems: [HTTPProblem] {
        (outcome.fileProblems + outcome.rowProblems).map { HTTPProblem(field: $0.column, reason: $0.reason, row: $0.row) }
    }
    var description: String { "import of \(kind.table) refused: \(message)" }
}

/// Request details the portability routes share.
enum PortabilityRequest {
    /// The caller's stated purpose: `X-Purpose`, else `?purpose=` (download links).
    static func purpose(_ request: HTTPRequest) -> String? {
        let text = request.headers["X-Purpose"] ?? request.query("purpose")
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return String(text.prefix(200))
    }
}
