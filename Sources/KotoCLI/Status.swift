import Foundation
import KotoCore
import KotoHTTP

extension Runner {
    /// `GET /v1/status` as a header line, warnings and a table of peer links.
    func status() throws(CLIError) {
        let status = try client.json(.get, "/v1/status") ?? .null
        if wantsJSON { return printJSON(status) }
        console.print(StatusView.render(status, now: now))
    }
}

/// The human form of a node's status.
enum StatusView {
    static func render(_ status: JSONValue, now: Date) -> String {
        var header = ["node \(JSONText.cell(status["node"]))"]
        if let seq = status["seq"] { header.append("seq \(JSONText.cell(seq))") }
        if let position = status["logPosition"] { header.append("log \(JSONText.cell(position))") }
        if let conflicts = status["conflicts"]?.int64Value { header.append(Sentence.count(Int(conflicts), "open conflict")) }
        if let accepting = status["acceptingWrites"]?.boolValue { header.append(accepting ? "takes writes" : "refuses local writes") }
        var output = header.joined(separator: " · ") + "\n"
        for warning in warnings(status) { output += "warning: \(warning)\n" }

        let peers = status["peers"]?.arrayValue ?? []
        guard !peers.isEmpty else { return output + "no peers configured\n" }
        var table = TextTable(headers: ["PEER", "MODE", "STATE", "LAG", "LAST SUCCESS", "FAILURES", "LAST ERROR"])
        for peer in peers {
            var state = JSONText.cell(peer["state"])
            if let fork = peer["fork"], fork != .null { state += " at \(JSONText.cell(fork["origin"])):\(JSONText.cell(fork["seq"]))" }
            table.append([
                JSONText.cell(peer["node"]),
                JSONText.cell(peer["mode"]),
                state,
                JSONText.cell(peer["lag"]),
                RelativeTime.cell(peer["lastSuccess"]?.stringValue, now: now),
                JSONText.cell(peer["consecutiveFailures"]),
                JSONText.cell(peer["lastError"]),
            ])
        }
        return output + table.render()
    }

    /// What needs a person's attention, one line each.
    static func warnings(_ status: JSONValue) -> [String] {
        var warnings: [String] = []
        switch status["catchingUp"] {
        case .number?:
            warnings.append("catching up: pulling back its own changes up to seq \(JSONText.cell(status["catchingUp"])) before taking writes")
        case .bool(true)?:
            let waiting = (status["waitingForPeers"]?.arrayValue ?? []).map { JSONText.cell($0) }
            warnings.append("restored: waiting for " + (waiting.isEmpty ? "its peers" : Sentence.list(waiting, conjunction: "and"))
                + " to say how many of its own changes exist")
        default: break
        }
        if let fork = status["ownFork"]?.stringValue {
            warnings.append("its own history forked at \(fork): run kotosyncd repair-fork (see its --help)")
        }
        if let skew = status["clockSkew"], skew != .null {
            warnings.append("its clock is \(JSONText.cell(skew["offsetSeconds"])) s ahead of \(JSONText.cell(skew["peers"])) peer(s)")
        }
        if let ahead = status["stampsAheadSeconds"], ahead != .null {
            warnings.append("it holds changes stamped \(JSONText.cell(ahead)) s ahead of its clock (written while its clock ran ahead): "
                + "no local writes until its clock catches up with them")
        }
        return warnings
    }
}
