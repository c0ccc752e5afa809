import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    @Suite("Region: fork repair")
    struct ForkRepair {
        /// The brief's case: a node restored from an old backup with every
        /// peer unreachable takes writes (it cannot know), reusing seqs the
        /// peers hold under other changes. Reconnected, the fork is loud on
        /// both sides; `kotosyncd repair-fork` pulls the real history back and
        /// re-issues the forked writes, and every acknowledged write is then
        /// held exactly once by all five.
        @Test("a forked node is shown, refuses writes, and after repair-fork every acknowledged write is present once on all five")
        func restoredNodeForkedThenRepaired() async throws {
            try await withRegion { region in
                let node = region["larsmo"]
                var acknowledged: [String] = []
                func write(_ label: String) async throws {
                    let id = newID()
                    try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: label)), label)
                    acknowledged.append(id)
                }
                for index in 1...2 { try await write("early-\(index)") }
                try await region.waitConverged()

                try await region.stop(node.name)
                let backup = "\(region.directory)/larsmo-backup.sqlite"
                try Restore.copyDatabase(from: node.databasePath, to: backup)
                try await region.start(node.name)
                for index in 1...3 { try await write("later-\(index)") }
                let seqBeforeRestore = try #require(try await node.status()["seq"]?.int64Value)
                try await region.waitPeersHold(of: node.name, seq: seqBeforeRestore)

                // Restored, cut off from every peer, not told it was restored: it writes.
                try await region.stop(node.name)
                try Restore.copyDatabase(from: backup, to: node.databasePath)
                let isolated = try region.writeConfig(node.name, peers: region.peers(of: node.name),
                                                      path: "\(region.directory)/larsmo-isolated.json", unreachablePeers: true)
                try await region.start(node.name, configPath: isolated, timeout: .seconds(30))
                for index in 1...2 { try await write("forked-\(index)") }
                let forkedSeq = try #require(try await node.status()["seq"]?.int64Value)
                #expect(forkedSeq <= seqBeforeRestore, "the isolated node reused seqs (its seq is \(forkedSeq), peers hold \(seqBeforeRestore))")

                // Reconnected: the fork is found and shown, and the node takes no more writes.
                try await region.restart(node.name, untilWritable: false)
                try await waitUntil("larsmo to find its own history forked", timeout: .seconds(30)) {
                    let status = try await node.status()
                    if case .string = status["ownFork"] { return true }
                    return false
                }
                let refused = try await node.create(.service, Fixture.service(office: node.name, label: "while-forked"))
                #expect(refused.status == 503 && refused.errorCode == "forked", "a forked node answered \(refused.status) \(refused.errorCode ?? "")")
                try await waitUntil("a peer to show its link to larsmo as forked", timeout: .seconds(30)) {
                    for peer in region.all where peer.name != node.name {
                        if try await peer.peerStatus(node.name)?["state"]?.stringValue == "forked" { return true }
                    }
                    return false
                }
                note("fork repair: fork shown at larsmo and at a peer")

                // Repair: refused beside a running daemon, and without every peer; then with the daemon stopped.
                let repairLog = "\(region.directory)/larsmo-repair.log"
                let beside = try await ChildProcess.run(region.binary, ["repair-fork", "--config", node.configPath], logPath: repairLog,
                                                        timeout: .seconds(30))
                #expect(beside == 1 && tail(ofFile: repairLog, lines: 3).contains("stop it before repairing"),
                        "repair-fork beside a running daemon exited \(beside)")
                try await region.stop(node.name)
                let alone = try await ChildProcess.run(region.binary, ["repair-fork", "--config", isolated], logPath: repairLog,
                                                       timeout: .seconds(60))
                #expect(alone == 1 && tail(ofFile: repairLog, lines: 3).contains("every peer this node contacts must answer"),
                        "repair-fork without its peers exited \(alone)")
                #expect(FileManager.default.fileExists(atPath: node.databasePath) &&
                        !FileManager.default.fileExists(atPath: node.databasePath + ".repair"), "a refused repair left files behind")
                let status = try await ChildProcess.run(region.binary, ["repair-fork", "--config", node.configPath], logPath: repairLog,
                                                        timeout: .seconds(60))
                #expect(status == 0, "repair-fork exited \(status); log:\n\(tail(ofFile: repairLog, lines: 20))")
                let report = tail(ofFile: repairLog, lines: 20)
                #expect(report.contains("own history forked from seq 3"), "repair report:\n\(report)")
                #expect(report.contains("re-issued 2 forked local writes"), "repair report:\n\(report)")
                note("fork repair: repair-fork said: " + report.split(separator: "\n").filter { $0.hasPrefix("re-issued") || $0.hasPrefix("own") }.joined(separator: "; "))
                try await region.start(node.name)
                try await write("after-repair")

                try await region.waitConverged(timeout: .seconds(45))
                try await region.waitVersionVectorsAgree(timeout: .seconds(30))
                for peer in region.all {
                    var counts: [String: Int] = [:]
                    for item in try await peer.list(.service) {
                        if let id = item["id"]?.stringValue { counts[id, default: 0] += 1 }
                    }
                    let missing = acknowledged.filter { counts[$0] == nil }
                    #expect(missing.isEmpty, "\(peer.name) lacks \(missing.count) acknowledged writes, e.g. \(missing.first ?? "")")
                    #expect(counts.values.allSatisfy { $0 == 1 }, "\(peer.name) lists a record twice")
                    #expect(try await peer.peerStatus(node.name).map { $0["state"]?.stringValue != "forked" } ?? true)
                }
                #expect(try await node.status()["ownFork"].map { if case .null = $0 { true } else { false } } ?? true)
            }
        }
    }
}
