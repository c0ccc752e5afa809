import Foundation
import KotoCore
import KotoHTTP
import KotoStore

/// `GET /v1/<table>?format=csv` (or `Accept: text/csv`): every record the
/// filters select, never one page, so a CSV of a list is never cut short;
/// `limit` and `after` (paging) do not apply to it and are refused.
enum ListExport {
    /// Problems with the export parameters (`format`, `lang`, and paging with CSV).
    static func problems(in request: HTTPRequest) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        _ = ReportLanguage.requested(by: request, problems: &problems)
        if ExportFormat.requested(by: request, problems: &problems) == .csv {
            for name in ["limit", "after"] where request.query(name) != nil {
                problems.append(FieldProblem(field: name, reason: "does not apply to CSV, which holds every record the filters select"))
            }
        }
        return problems
    }

    static func wantsCSV(_ request: HTTPRequest) -> Bool {
        var ignored: [FieldProblem] = []
        return ExportFormat.requested(by: request, problems: &ignored) == .csv
    }

    /// The header (`id`, then every field of the kind, labelled; for clients
    /// last the `view` the caller has of each) and one line per record; a
    /// field the caller may not see is an empty cell.
    static func csv(_ kind: RecordKind, _ records: [ShownRecord], _ language: ReportLanguage) -> [UInt8] {
        var header = ([ReportLabels.column("id", language)]) + kind.fields.map { ReportLabels.column($0.name, language) }
        if kind == .client { header.append(ReportLabels.column("view", language)) }
        let rows = records.map { shown in
            var row = [shown.record.id.lowercased] + kind.fields.map { spec in
                shown.visible?.contains(spec.name) == false ? "" : cell(shown.record.fields[spec.name] ?? .null, spec)
            }
            if kind == .client { row.append(shown.view?.rawValue ?? ClientView.full.rawValue) }
            return row
        }
        return CSV.encode(header: header, rows: rows)
    }

    /// Open conflicts as CSV: one line per competing value, beside the change
    /// that wins; a value the caller may not see (`withheld`) is an empty cell.
    static func conflictsCSV(_ conflicts: [(OpenConflict, Bool)], _ request: HTTPRequest) -> HTTPResponse {
        var ignored: [FieldProblem] = []
        let language = ReportLanguage.requested(by: request, problems: &ignored)
        let keys = ["id", "kind", "rowId", "field", "conflictValue", "dot", "winner", "firstSeen"]
        let rows = conflicts.map { conflict, withheld -> [String] in
            let value = withheld ? "" : conflict.record.field(named: conflict.field).map { cell(conflict.value, $0) } ?? ""
            let firstSeen = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(conflict.firstSeenMillis) / 1000))
            return ["\(conflict.record.table):\(conflict.rowID.lowercased):\(conflict.field)", conflict.record.rawValue,
                    conflict.rowID.lowercased, conflict.field, value, conflict.dot.description, conflict.winner.description, firstSeen]
        }
        return CSV.response(CSV.encode(header: keys.map { ReportLabels.column($0, language) }, rows: rows),
                            filename: "conflicts.csv", language: language)
    }

    /// A field as text: lists comma-separated, dates ISO, flags true/false, free text guarded against formulas.
    static func cell(_ value: FieldValue, _ spec: FieldSpec) -> String {
        switch value {
        case .null: ""
        case .integer(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .text(let text):
            if case .text = spec.type { CSV.text(text) } else { text }
        }
    }
}

extension API {
    /// The list as CSV: every record `query` selects, in id order, as the
    /// caller may see them. An export of clients or placements is recorded
    /// (`.export`, before the answer leaves) with every id it holds.
    func exportCSV(_ kind: RecordKind, _ query: RecordQuery, _ request: HTTPRequest, _ context: AccessContext) async throws -> HTTPResponse {
        var ignored: [FieldProblem] = []
        let language = ReportLanguage.requested(by: request, problems: &ignored)
        let shown = try await read { view in try context.scope.shown(try view.allRecords(kind, query), in: view) }
        if kind != .service {
            let personal = shown.filter { !$0.personalFields.isEmpty }
            try await context.recordShown(personal, action: .export)
            let rest = shown.filter { $0.personalFields.isEmpty }.map(\.record.id)
            if !rest.isEmpty || shown.isEmpty { try await context.record(.export, kind, ids: rest, fields: []) }
        }
        return CSV.response(ListExport.csv(kind, shown, language), filename: "\(kind.table).csv", language: language)
    }
}
