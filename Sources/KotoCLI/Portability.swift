import Foundation
import KotoCore
import KotoHTTP

extension Runner {
    /// `POST /v1/import/<kind>`: the file as it is, its report as a summary and a table of problems.
    func importFile(_ request: ImportRequest) throws(CLIError) {
        let name = request.file == "-" ? "standard input" : Sentence.printable(request.file)
        let bytes: [UInt8]
        if request.file == "-" {
            guard let input = console.readInput() else { throw .failure("cannot read standard input") }
            bytes = input
        } else {
            guard let data = FileManager.default.contents(atPath: request.file) else {
                throw .failure("cannot read \(name): it does not exist or is not readable")
            }
            bytes = Array(data)
        }
        guard !bytes.isEmpty else { throw .failure("\(name) is empty") }
        let format = request.format ?? Self.format(of: request.file, bytes)
        var query = [QueryItem("dryRun", request.dryRun ? "true" : "false")]
        if request.skipInvalid { query.append(QueryItem("skipInvalid", "true")) }
        let response = try client.send(.post, "/v1/import/\(request.kind.table)", query: query, body: bytes,
                                       contentType: format == "csv" ? "text/csv" : "application/json")
        let report: JSONValue
        do {
            report = try JSONValue.parse(response.body)
        } catch {
            throw .failure("the server at \(client.displayURL) answered the import with a body that is not JSON; is it a kotosyncd?")
        }
        if wantsJSON { printJSON(report) } else { console.print(ImportView.render(report)) }
        let problems = report["problems"]?.arrayValue ?? []
        if request.dryRun, !problems.isEmpty {
            throw .failure("the dry run found \(Sentence.count(problems.count, "problem")) in \(Sentence.count(Int(report["skipped"]?.int64Value ?? 0), "row")); nothing was written")
        }
    }

    /// csv or json: by the file's extension, else by its first character (`[` or `{` is JSON).
    static func format(of file: String, _ bytes: [UInt8]) -> String {
        let lowered = file.lowercased()
        if lowered.hasSuffix(".csv") || lowered.hasSuffix(".txt") { return "csv" }
        if lowered.hasSuffix(".json") { return "json" }
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
        let first = start.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return first == UInt8(ascii: "[") || first == UInt8(ascii: "{") ? "json" : "csv"
    }

    /// `GET /v1/subjects/<id>` and `GET /v1/audit/subject/<id>` joined in one document.
    func subjectExport(_ id: String, out: String?) throws(CLIError) {
        let subject = try client.json(.get, URLText.path("v1", "subjects", id)) ?? .null
        let audit = try client.send(.get, URLText.path("v1", "audit", "subject", id), passing: [404])
        if audit.status.code == 404 {
            throw .failure("the daemon at \(client.displayURL) has no access log to list (GET /v1/audit/subject answered 404): "
                + "a subject export needs the access-log lines about the client, so nothing was written")
        }
        guard let parsed = try? JSONValue.parse(audit.body), let items = parsed["items"]?.arrayValue else {
            throw .failure("the access log of \(client.displayURL) answered without an items list; nothing was written")
        }
        var members = subject.objectMembers ?? []
        members.append(("accessLog", .array(items)))
        let document = JSONText.pretty(.object(members)) + "\n"
        try writeOut(Array(document.utf8), to: out)
        if out != nil {
            let placements = subject["placements"]?.arrayValue?.count ?? 0
            console.error("the export holds the client, \(Sentence.count(placements, "placement")) and \(Sentence.count(items.count, "access-log line"))\n")
        }
    }
}

/// An import's report for people.
enum ImportView {
    static func render(_ report: JSONValue) -> String {
        func count(_ key: String) -> Int { Int(report[key]?.int64Value ?? 0) }
        let dryRun = report["dryRun"]?.boolValue == true
        var text = "\(dryRun ? "dry run of an import" : "import") of \(JSONText.cell(report["kind"])) "
            + "(\(JSONText.cell(report["format"])), \(JSONText.cell(report["encoding"])))\n"
        let verbs = dryRun ? ("would create", "would update") : ("created", "updated")
        text += "rows read \(count("rowsRead")) · \(verbs.0) \(count("created")) · \(verbs.1) \(count("updated")) · "
            + "unchanged \(count("unchanged")) · skipped \(count("skipped"))\n"
        let problems = report["problems"]?.arrayValue ?? []
        if !problems.isEmpty {
            var table = TextTable(headers: ["row", "column", "problem"])
            for problem in problems {
                table.append([JSONText.cell(problem["row"]), JSONText.cell(problem["column"]), JSONText.cell(problem["reason"])])
            }
            text += "\n" + table.render()
        }
        if dryRun {
            text += "nothing was written (dry run)\n"
        } else if report["written"]?.boolValue != true {
            text += count("skipped") == 0 ? "nothing was written: every row is as the replica holds it\n" : "nothing was written\n"
        }
        return text
    }
}
