import Foundation
import KotoCore
import KotoHTTP

extension Runner {
    func conflicts(_ kind: RecordKind?) throws(CLIError) {
        let query = kind.map { [QueryItem("kind", $0.table)] } ?? []
        let answer = try client.json(.get, "/v1/conflicts", query: query) ?? .null
        if wantsJSON { return printJSON(answer) }
        let items = answer["items"]?.arrayValue ?? []
        guard !items.isEmpty else { return console.print("no open conflicts\n") }
        console.print(ConflictView.table(items, now: now))
    }

    func resolve(_ id: String, value: JSONValue) throws(CLIError) {
        let body = JSONValue.object([("value", value)]).serializedBytes
        let record = try client.json(.post, URLText.path("v1", "conflicts", id, "resolve"), body: body) ?? .null
        if wantsJSON { return printJSON(record) }
        console.print("resolved \(id): the chosen value replicates to every node and closes the conflict there\n")
        let table = id.split(separator: ":").first.map(String.init) ?? ""
        if let kind = RecordKind(table: table) ?? record["kind"]?.stringValue.flatMap(RecordKind.init(rawValue:)) {
            console.print(RecordView.record(record, kind: kind, now: now))
        }
    }
}

/// Open conflicts as a table: one line per competing value.
enum ConflictView {
    /// `table:record:field`, as the server gives it, else built from the item (a server from before
    /// conflict ids, whose `id` is the record's).
    static func conflictID(_ item: JSONValue) -> String {
        if let id = item["id"]?.stringValue, id.contains(":") { return id }
        let kind = item["kind"]?.stringValue ?? ""
        let table = RecordKind(rawValue: kind)?.table ?? kind
        return "\(table):\(JSONText.cell(item["rowId"] ?? item["id"])):\(JSONText.cell(item["field"]))"
    }

    static func table(_ items: [JSONValue], now: Date) -> String {
        var table = TextTable(headers: ["CONFLICT", "VALUE", "CHANGE", "FIRST SEEN"], maxCellWidth: 60)
        for item in items {
            let dot = item["dot"].map { "\(JSONText.cell($0["origin"])):\(JSONText.cell($0["seq"]))" } ?? ""
            table.append([conflictID(item), JSONText.cell(item["value"]), dot,
                          RelativeTime.cell(item["firstSeen"]?.stringValue, now: now)])
        }
        return table.render()
    }
}
