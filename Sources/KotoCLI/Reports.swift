import Foundation
import KotoCore
import KotoHTTP

extension Runner {
    /// `GET /v1/reports/<name>`: each table under its title, then the report's other members.
    func report(_ name: String, _ query: ReportQuery) throws(CLIError) {
        var items = query.items
        if let table = query.table { items.append(QueryItem("table", table)) }
        let report = try client.json(.get, URLText.path("v1", "reports", name), query: items) ?? .null
        if wantsJSON { return printJSON(report) }
        if let table = query.table, report["tables"]?[table] == nil {
            let keys = (report["tables"]?.objectMembers ?? []).map(\.0)
            throw .failure("the \(name) report has no table \(Sentence.printable(table)); its tables: \(keys.joined(separator: ", "))")
        }
        console.print(ReportView.render(report, onlyTable: query.table, now: now))
    }

    /// The server's CSV, byte for byte, to standard output or `out`.
    func export(_ target: ExportTarget, out: String?) throws(CLIError) {
        let path: String
        var items: [QueryItem]
        switch target {
        case .list(let kind, let query, let language):
            path = "/v1/\(kind.table)"
            items = query.items
            if let language { items.append(QueryItem("lang", language)) }
        case .report(let name, let query):
            path = URLText.path("v1", "reports", name)
            items = query.items
            if let table = query.table { items.append(QueryItem("table", table)) }
        case .kotoDigi(let csv, let table):
            path = "/v1/export/koto-digi"
            items = table.map { [QueryItem("table", $0)] } ?? []
            if !csv {
                let response = try client.send(.get, path, query: [QueryItem("format", "json")])
                return try writeOut(response.body, to: out)
            }
        }
        items.append(QueryItem("format", "csv"))
        let response = try client.send(.get, path, query: items, accept: "text/csv")
        let type = response.headers["Content-Type"]?.lowercased() ?? ""
        guard type.hasPrefix("text/csv") else {
            throw .failure("the server answered \(type.isEmpty ? "without a content type" : type) instead of CSV; "
                + "does this kotosyncd export CSV yet?")
        }
        try writeOut(response.body, to: out)
    }

    /// `bytes` unchanged to standard output, or to the file `out`.
    func writeOut(_ bytes: [UInt8], to out: String?) throws(CLIError) {
        guard let out else { return console.output(bytes) }
        // Owner-only: a list's CSV may hold personal data.
        guard FileManager.default.createFile(atPath: out, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw .failure("cannot write \(Sentence.printable(out))")
        }
        console.error("wrote \(bytes.count) bytes to \(Sentence.printable(out))\n")
    }
}

/// A report per the shared report contract: `tables` of `{title, columns [{key, label}], rows}`, plus
/// report-specific members (rules, targets, totals) shown generically.
enum ReportView {
    static let envelope: Set<String> = ["report", "generatedAt", "scope", "language", "tables"]

    static func render(_ report: JSONValue, onlyTable: String? = nil, now: Date) -> String {
        var heading = "report \(JSONText.cell(report["report"]))"
        if let scope = report["scope"] {
            let municipality = scope["municipality"] ?? .null
            heading += municipality == .null ? " · whole region" : " · municipality \(JSONText.cell(municipality))"
        }
        if let generated = report["generatedAt"]?.stringValue {
            heading += " · generated \(RelativeTime.cell(generated, now: now))"
        }
        let extra = (report.objectMembers ?? []).filter { !envelope.contains($0.0) }
        func isScalar(_ value: JSONValue) -> Bool { value.arrayValue == nil && value.objectMembers == nil }
        // Single values (year, target) under the heading; lists and objects after the tables.
        var top = heading + "\n"
        if onlyTable == nil {
            for (key, value) in extra where isScalar(value) { top += "\(key): \(JSONText.cell(value))\n" }
        }
        var sections = [top]
        for (key, table) in report["tables"]?.objectMembers ?? [] where onlyTable == nil || onlyTable == key {
            sections.append(render(table: table, key: key))
        }
        if onlyTable == nil {
            for (key, value) in extra where !isScalar(value) { sections.append(render(member: key, value)) }
        }
        return sections.joined(separator: "\n")
    }

    /// One table: its title (and key, for --table), then the rows under the column labels.
    static func render(table: JSONValue, key: String) -> String {
        let columns = (table["columns"]?.arrayValue ?? []).map { column in
            (key: column["key"]?.stringValue ?? "", label: column["label"]?.stringValue ?? column["key"]?.stringValue ?? "")
        }
        let rows = table["rows"]?.arrayValue ?? []
        var output = "\(table["title"]?.stringValue ?? key) [\(key)]\n"
        guard !rows.isEmpty else { return output + "(no rows)\n" }
        var text = TextTable(headers: columns.map(\.label))
        for row in rows { text.append(columns.map { JSONText.cell(row[$0.key]) }) }
        output += text.render()
        return output
    }

    /// A member outside `tables`: a list of objects as a table, an object as key: value lines, else one line.
    static func render(member key: String, _ value: JSONValue) -> String {
        switch value {
        case .array(let items) where !items.isEmpty && items.allSatisfy({ $0.objectMembers != nil }):
            var keys: [String] = []
            for item in items { for (name, _) in item.objectMembers ?? [] where !keys.contains(name) { keys.append(name) } }
            var table = TextTable(headers: keys)
            for item in items { table.append(keys.map { JSONText.cell(item[$0]) }) }
            return "\(key)\n" + table.render()
        case .object(let members):
            var table = TextTable(headers: ["", ""], showsHeaders: false)
            for (name, member) in members { table.append([name + ":", JSONText.cell(member)]) }
            return "\(key)\n" + table.render().split(separator: "\n").map { "  " + $0 + "\n" }.joined()
        default:
            return "\(key): \(JSONText.cell(value))\n"
        }
    }
}
