import Foundation
import KotoCore
import KotoHTTP

extension Runner {
    func list(_ kind: RecordKind, _ query: ListQuery) throws(CLIError) {
        if let columns = query.columns {
            let known = Set(RecordView.metaColumns + kind.fields.map(\.name))
            if let unknown = columns.first(where: { !known.contains($0) }) {
                throw .usage("--columns: \(kind.table) have no field \(Sentence.printable(unknown))", topic: "list")
            }
        }
        var items: [JSONValue] = []
        var next: JSONValue = .null
        var page = query
        repeat {
            let answer = try client.json(.get, "/v1/\(kind.table)", query: page.items) ?? .null
            if !query.all, wantsJSON { return printJSON(answer) }
            items += answer["items"]?.arrayValue ?? []
            next = answer["next"] ?? .null
            page.after = next.stringValue
        } while query.all && next != .null
        if wantsJSON { return printJSON(.object([("items", .array(items)), ("next", .null)])) }
        console.print(RecordView.list(items, kind: kind, columns: query.columns))
        if let after = next.stringValue {
            console.print("more after \(after): kotosync list \(kind.table) --after \(after), or --all\n")
        }
    }

    func get(_ kind: RecordKind, id: String) throws(CLIError) {
        let record = try client.json(.get, URLText.path("v1", kind.table, id)) ?? .null
        if wantsJSON { return printJSON(record) }
        console.print(RecordView.record(record, kind: kind, now: now))
    }

    func add(_ kind: RecordKind, file: String) throws(CLIError) {
        let body = try readRecordFile(file)
        let record = try client.json(.post, "/v1/\(kind.table)", body: body) ?? .null
        if wantsJSON { return printJSON(record) }
        console.print("created \(kind.rawValue) \(JSONText.cell(record["id"]))\n")
        console.print(RecordView.record(record, kind: kind, now: now))
    }

    func update(_ kind: RecordKind, id: String, file: String) throws(CLIError) {
        let body = try readRecordFile(file)
        let record = try client.json(.patch, URLText.path("v1", kind.table, id), body: body) ?? .null
        if wantsJSON { return printJSON(record) }
        console.print("updated \(kind.rawValue) \(id)\n")
        console.print(RecordView.record(record, kind: kind, now: now))
    }

    func delete(_ kind: RecordKind, id: String) throws(CLIError) {
        // 204: no body, so --json prints nothing either; the exit status says it worked.
        let answer = try client.json(.delete, URLText.path("v1", kind.table, id))
        if wantsJSON {
            if let answer { printJSON(answer) }
            return
        }
        console.print("deleted \(kind.rawValue) \(id) (kotosync restore \(kind.rawValue) \(id) undoes it)\n")
    }

    func restore(_ kind: RecordKind, id: String) throws(CLIError) {
        let record = try client.json(.post, URLText.path("v1", kind.table, id, "restore")) ?? .null
        if wantsJSON { return printJSON(record) }
        console.print("restored \(kind.rawValue) \(id)\n")
    }

    func erase(_ kind: RecordKind, id: String, confirmed: Bool) throws(CLIError) {
        if !confirmed {
            guard console.isInteractive() else {
                throw .usage("erase cannot be undone: add --yes to erase without a terminal to confirm at", topic: "erase")
            }
            console.error("Erase \(kind.rawValue) \(id)? Every field is cleared on every node, for good. Type yes to erase: ")
            guard console.readLine()?.trimmingCharacters(in: .whitespaces).lowercased() == "yes" else {
                throw .failure("not erased: the answer was not yes")
            }
        }
        let record = try client.json(.post, URLText.path("v1", kind.table, id, "erase")) ?? .null
        if wantsJSON { return printJSON(record) }
        console.print("erased \(kind.rawValue) \(id)\n")
    }

    /// The bytes of a record file (or standard input), checked to be one JSON object.
    /// Errors name the file and the position, never its content.
    func readRecordFile(_ file: String) throws(CLIError) -> [UInt8] {
        let name = file == "-" ? "standard input" : Sentence.printable(file)
        let bytes: [UInt8]
        if file == "-" {
            guard let input = console.readInput() else { throw .failure("cannot read standard input") }
            bytes = input
        } else {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .failure("cannot read \(name): it does not exist or is not readable")
            }
            bytes = Array(data)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw .failure("\(name) is not JSON: \(error.reason) at byte \(error.offset)")
        }
        guard case .object = json else { throw .failure("\(name) must hold one JSON object of fields, not \(json.typeName == "array" ? "an" : "a") \(json.typeName)") }
        return bytes
    }
}

/// Records as tables.
enum RecordView {
    /// Columns every record has besides its fields.
    static let metaColumns = ["id", "deleted", "erased", "openConflicts"]

    /// The columns `list` shows unless `--columns` says otherwise: enough to tell records apart.
    static func defaultColumns(_ kind: RecordKind) -> [String] {
        switch kind {
        case .service: ["id", "nameFi", "category", "providerName", "municipalities", "languages", "capacity", "status"]
        case .client: ["id", "clientNumber", "ownerMunicipality", "givenName", "familyName", "birthDate", "planStatus", "status"]
        case .placement: ["id", "type", "status", "clientId", "serviceId", "municipality", "startDate"]
        }
    }

    static func value(_ record: JSONValue, _ column: String) -> JSONValue? {
        metaColumns.contains(column) ? record[column] : record["fields"]?[column]
    }

    static func list(_ items: [JSONValue], kind: RecordKind, columns: [String]?) -> String {
        guard !items.isEmpty else { return "no \(kind.table)\n" }
        let columns = columns ?? defaultColumns(kind)
        var table = TextTable(headers: columns, maxCellWidth: 40)
        let notes = items.map(note)
        let withNotes = notes.contains { !$0.isEmpty }
        if withNotes { table.headers.append("note") }
        for (item, note) in zip(items, notes) {
            table.append(columns.map { JSONText.cell(value(item, $0)) } + (withNotes ? [note] : []))
        }
        return table.render()
    }

    /// "deleted", "erased", "2 open conflicts": what sets a record apart.
    static func note(_ record: JSONValue) -> String {
        var parts: [String] = []
        if record["erased"]?.boolValue == true {
            parts.append("erased")
        } else if record["deleted"]?.boolValue == true {
            parts.append("deleted")
        }
        if let count = record["openConflicts"]?.int64Value, count > 0 { parts.append(Sentence.count(Int(count), "open conflict")) }
        return parts.joined(separator: ", ")
    }

    /// One record: a heading, then field and value per line, then its open conflicts.
    static func record(_ record: JSONValue, kind: RecordKind, now: Date) -> String {
        let note = note(record)
        var output = "\(kind.rawValue) \(JSONText.cell(record["id"]))" + (note.isEmpty ? "" : " (\(note))") + "\n"
        let fields = (record["fields"]?.objectMembers ?? []).filter { $0.0 != deletedFieldName }
        var table = TextTable(headers: ["field", "value"], showsHeaders: false)
        for (name, value) in fields { table.append([name, JSONText.cell(value)]) }
        output += table.render()
        if let conflicts = record["conflicts"]?.arrayValue, !conflicts.isEmpty {
            output += "\nopen conflicts (kotosync resolve <id> --value JSON):\n" + ConflictView.table(conflicts, now: now)
        }
        return output
    }
}
