import Foundation
import KotoCore
import KotoHTTP

extension Runner {
    /// `GET /v1/retention/preview` as a line about the node and a table of the clients due for erasure.
    func retentionPreview() throws(CLIError) {
        let answer = try client.json(.get, "/v1/retention/preview") ?? .null
        if wantsJSON { return printJSON(answer) }
        console.print(RetentionView.render(answer))
    }
}

/// The human form of a retention preview: identifiers and dates only.
enum RetentionView {
    static func render(_ answer: JSONValue) -> String {
        let items = answer["items"]?.arrayValue ?? []
        var output = "node \(JSONText.cell(answer["node"])) · municipality \(JSONText.cell(answer["municipality"])) · "
            + "today \(JSONText.cell(answer["today"])) · default \(JSONText.cell(answer["years"])) years\n"
        guard !items.isEmpty else { return output + "no client's retention has ended: the next run erases nothing\n" }
        output += "the next run erases \(Sentence.count(items.count, "client")) and their placements:\n"
        var table = TextTable(headers: ["CLIENT", "OWNER", "RETAINED UNTIL", "REASON", "PLACEMENTS"])
        for item in items {
            table.append([JSONText.cell(item["id"]), JSONText.cell(item["ownerMunicipality"]), JSONText.cell(item["retentionUntil"]),
                          JSONText.cell(item["reason"]), String(item["placements"]?.arrayValue?.count ?? 0)])
        }
        return output + table.render()
    }
}
