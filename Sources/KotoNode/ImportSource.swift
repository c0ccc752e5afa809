import Foundation
import KotoCore

/// One data row of an import file, turned into fields of its kind: only the
/// columns the file has (an update leaves the others as they are), the
/// record's own `id` if given, and for placements the client named by
/// number instead of by id.
struct ImportRow: Sendable {
    let row: Int
    var id: UUID?
    var fields: FieldMap
    /// Placements: `clientNumber`, resolved to `clientId` against the replica.
    var clientNumber: String?
    var problems: [RowProblem]
}

/// The rows of a file and what was wrong with the file as a whole.
struct ImportSource: Sendable {
    enum Format: String, Sendable { case csv, json }

    let format: Format
    /// How the bytes were decoded (CSV; JSON is always UTF-8).
    let encoding: TextEncoding
    var rows: [ImportRow]
    /// Problems of the header (unknown or repeated columns) or the document: they block the whole import.
    var fileProblems: [RowProblem]
    /// Rows that could not be taken apart (ragged, bad quoting): reported under their rows.
    var structuralProblems: [RowProblem]

    /// The column names a file may use besides the schema's: the record id
    /// and, for placements, the client's number in place of its id.
    static func extraColumns(_ kind: RecordKind) -> [String] { kind == .placement ? ["id", "clientNumber"] : ["id"] }

    /// The field (or extra column) a header cell names: a schema name
    /// (`givenName`, any case) or the label the list exports write in
    /// Finnish, Swedish or English (`Etunimi`, `Förnamn`, `Given name`).
    static func column(named header: String, kind: RecordKind) -> String? {
        let key = header.trimmingCharacters(in: .whitespaces)
        let names = kind.fields.map(\.name) + extraColumns(kind)
        if let exact = names.first(where: { $0 == key }) ?? names.first(where: { $0.lowercased() == key.lowercased() }) { return exact }
        let folded = key.lowercased()
        for name in names {
            for language in ReportLanguage.allCases where ReportLabels.column(name, language).lowercased() == folded { return name }
        }
        return nil
    }

    // MARK: CSV

    static func csv(_ bytes: [UInt8], kind: RecordKind) -> ImportSource {
        let table = CSVReader.read(bytes)
        var source = ImportSource(format: .csv, encoding: table.encoding, rows: [], fileProblems: [], structuralProblems: table.problems)
        guard !table.header.isEmpty, !(table.header.count == 1 && table.header[0].isEmpty) else {
            source.fileProblems.append(RowProblem(row: 1, column: RowProblem.wholeFile, reason: "has no header row"))
            return source
        }
        // Column index → field name; nil for a column without a header (its cells must be empty).
        var columns: [String?] = []
        var seen: [String: Int] = [:]
        for (index, header) in table.header.enumerated() {
            let position = "column \(index + 1)"
            if header.isEmpty {
                columns.append(nil)
                continue
            }
            // A client list's CSV ends with the exporter's `view` (office scopes): not a field, ignored on the way back in.
            let folded = header.trimmingCharacters(in: .whitespaces).lowercased()
            if kind == .client, ReportLanguage.allCases.contains(where: { ReportLabels.column("view", $0).lowercased() == folded }) {
                columns.append(nil)
                continue
            }
            guard let name = column(named: header, kind: kind) else {
                // Not quoted: a file without a header row has a record, personal data, in its first row.
                source.fileProblems.append(RowProblem(row: 1, column: position,
                                                      reason: "names no field of \(kind.table) (is the first row a header?)"))
                columns.append(nil)
                continue
            }
            if let earlier = seen[name] {
                source.fileProblems.append(RowProblem(row: 1, column: name, reason: "is named by columns \(earlier + 1) and \(index + 1)"))
            }
            seen[name] = index
            columns.append(name)
        }
        for record in table.records {
            var row = ImportRow(row: record.row, id: nil, fields: [:], clientNumber: nil, problems: [])
            for (index, cell) in record.cells.enumerated() {
                guard let name = columns[index] else {
                    if table.header[index].isEmpty, !cell.allSatisfy(\.isWhitespace) {
                        row.problems.append(RowProblem(row: record.row, column: "column \(index + 1)", reason: "has a value but no header"))
                    }
                    continue
                }
                let trimmed = cell.trimmingCharacters(in: .whitespaces)
                switch name {
                case "id":
                    if trimmed.isEmpty { continue }
                    guard let id = UUID(uuidString: trimmed) else {
                        row.problems.append(RowProblem(row: record.row, column: "id", reason: "must be a UUID"))
                        continue
                    }
                    row.id = id
                case "clientNumber" where kind == .placement:
                    row.clientNumber = trimmed.isEmpty ? nil : trimmed
                default:
                    guard let spec = kind.field(named: name) else { continue }
                    switch RecordCells.value(cell, spec: spec) {
                    case .success(let value): row.fields[name] = value
                    case .failure(let problem): row.problems.append(RowProblem(row: record.row, column: problem.field, reason: problem.reason))
                    }
                }
            }
            source.rows.append(row)
        }
        return source
    }

    // MARK: JSON

    /// An array of objects, or `{"items": [...]}` (as the list endpoint
    /// answers). An item is an object of fields by schema name with an
    /// optional `id` (and `clientNumber` for placements), or a record as the
    /// API answers it (`{"id", "fields": {...}}`).
    static func json(_ bytes: [UInt8], kind: RecordKind) throws(ImportFileUnreadable) -> ImportSource {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw ImportFileUnreadable(reason: "is not JSON: \(error.reason) at byte \(error.offset)")
        }
        guard let items = document.arrayValue ?? document["items"]?.arrayValue else {
            throw ImportFileUnreadable(reason: #"must be a JSON array of objects or {"items": [...]}"#)
        }
        var source = ImportSource(format: .json, encoding: .utf8, rows: [], fileProblems: [], structuralProblems: [])
        for (index, item) in items.enumerated() {
            let number = index + 1
            var row = ImportRow(row: number, id: nil, fields: [:], clientNumber: nil, problems: [])
            guard var members = item.objectMembers else {
                row.problems.append(RowProblem(row: number, column: RowProblem.wholeRow, reason: "must be a JSON object"))
                source.rows.append(row)
                continue
            }
            var idValue = item["id"]
            if let fields = item["fields"], fields.objectMembers != nil {
                // A record as the API shows it: its fields, its id beside them.
                members = fields.objectMembers ?? []
                if let inner = fields["id"] { idValue = inner }
            }
            if let idValue, idValue != .null {
                if let text = idValue.stringValue, let id = UUID(uuidString: text) {
                    row.id = id
                } else {
                    row.problems.append(RowProblem(row: number, column: "id", reason: "must be a UUID"))
                }
            }
            if kind == .placement, let number = members.first(where: { $0.0 == "clientNumber" })?.1 {
                if let text = number.stringValue {
                    row.clientNumber = text.isEmpty ? nil : text
                } else if number != .null {
                    row.problems.append(RowProblem(row: row.row, column: "clientNumber", reason: "must be a string"))
                }
            }
            let (fields, problems) = RecordJSON.fields(from: .object(members), kind: kind, ignoring: Set(extraColumns(kind)))
            row.fields = fields
            row.problems += problems.map { RowProblem(row: number, column: $0.field, reason: $0.reason) }
            source.rows.append(row)
        }
        return source
    }
}

/// A file the import cannot read at all (not JSON, not a list): 400.
struct ImportFileUnreadable: Error, Sendable {
    let reason: String
}
