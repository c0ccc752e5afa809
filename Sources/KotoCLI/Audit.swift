import Foundation
import KotoCore
import KotoHTTP

extension Runner {
    func audit(_ command: AuditCommand) throws(CLIError) {
        switch command {
        case .verify: try auditVerify()
        case .export(let from, let to, let format, let output): try auditExport(from: from, to: to, format: format, output: output)
        case .subject(let id): try auditSubject(id)
        }
    }

    /// `GET /v1/audit/verify`: exit 0 when the chain holds, else a failure naming the first broken entry.
    private func auditVerify() throws(CLIError) {
        let answer = try client.json(.get, "/v1/audit/verify") ?? .null
        if wantsJSON { printJSON(answer) }
        let node = answer["node"]?.stringValue.map(Sentence.printable) ?? "the node"
        guard answer["ok"] == .bool(true) else {
            guard let broken = answer["broken"], let seq = broken["seq"]?.int64Value else {
                throw .failure("the server's verification of the access log names no result; is this a kotosyncd with an access log?")
            }
            let reason = broken["reason"]?.stringValue.map(Sentence.printable) ?? "broken"
            let message = broken["message"]?.stringValue.map { " (\(Sentence.printable($0)))" } ?? ""
            throw .failure("the access log of \(node) is broken at entry \(seq): \(reason)\(message)")
        }
        guard !wantsJSON else { return }
        let count = Int(answer["entries"]?.int64Value ?? 0)
        var line = "access log of \(node) verifies: \(Sentence.count(count, "entry", "entries"))"
        if let first = answer["firstSeq"]?.int64Value, let last = answer["lastSeq"]?.int64Value { line += ", seq \(first) to \(last)" }
        if let checkpoint = answer["checkpoint"]?["seq"]?.int64Value {
            line += ", after the signed checkpoint of seq \(checkpoint) (entries up to it were purged by retention)"
        }
        console.print(line + "\n")
    }

    /// `GET /v1/audit?from&to&format`: the server's bytes, unchanged, to standard output or `output`.
    private func auditExport(from: String, to: String, format: String, output: String?) throws(CLIError) {
        let accept = format == "csv" ? "text/csv" : "application/json"
        let response = try client.send(.get, "/v1/audit", query: [QueryItem("from", from), QueryItem("to", to), QueryItem("format", format)],
                                       accept: accept)
        let type = response.headers["Content-Type"]?.lowercased() ?? ""
        guard type.hasPrefix(accept) else {
            throw .failure("the server answered \(type.isEmpty ? "without a content type" : type) instead of \(accept)")
        }
        guard let output else { return console.output(response.body) }
        // Owner-only, like the log itself.
        try? FileManager.default.removeItem(atPath: output)
        guard FileManager.default.createFile(atPath: output, contents: Data(response.body), attributes: [.posixPermissions: 0o600]) else {
            throw .failure("cannot write \(Sentence.printable(output))")
        }
        console.error("wrote \(response.body.count) bytes to \(Sentence.printable(output))\n")
    }

    /// `GET /v1/audit/subject/{id}`: one line per entry, oldest first.
    private func auditSubject(_ id: String) throws(CLIError) {
        let answer = try client.json(.get, URLText.path("v1", "audit", "subject", id)) ?? .null
        if wantsJSON { return printJSON(answer) }
        let items = answer["items"]?.arrayValue ?? []
        guard !items.isEmpty else { return console.print("no access to client \(id) is recorded on this node\n") }
        console.print(AuditView.table(items))
    }
}

/// Access-log entries as a table for people.
enum AuditView {
    static func table(_ items: [JSONValue]) -> String {
        var table = TextTable(headers: ["SEQ", "TIME", "ROLE", "MUNICIPALITY", "NAME", "ACTION", "KIND", "FIELDS", "ROUTE", "PURPOSE"],
                              maxCellWidth: 48)
        for item in items {
            let holder = item["holder"] ?? .null
            let fields = (item["fields"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
            table.append([JSONText.cell(item["seq"]), JSONText.cell(item["time"]), JSONText.cell(holder["role"]),
                          JSONText.cell(holder["municipality"]), JSONText.cell(holder["name"]), JSONText.cell(item["action"]),
                          JSONText.cell(item["kind"]), fields, JSONText.cell(item["route"]), JSONText.cell(item["purpose"])])
        }
        return table.render()
    }
}
