import Foundation
import KotoCore
import KotoHTTP
import Testing

/// Snapshot bootstrap with real daemons on loopback: a node started on an
/// empty data directory (with `sync.snapshotMinChanges` at 1) builds itself
/// from a peer's streamed snapshot instead of replaying the region's log,
/// pulls incrementally from there, and its state digest is compared with a
/// second peer. And a node that was away, silent past its peers' horizon
/// while they compacted their logs, is answered 410 `snapshot_required` by
/// every peer when it returns, and its scheduler replaces its replica with
/// a snapshot.
@Suite(.serialized) struct RegionSnapshotTests {
    /// Sets `key` inside the config's `section` object (made if missing) of a written config.
    static func setConfig(_ section: String, _ key: String, _ value: JSONValue, in path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), var members = try JSONValue.parse(Array(data)).objectMembers else {
            throw RegionError("cannot read \(path)")
        }
        let index = members.firstIndex { $0.0 == section } ?? {
            members.append((section, .object([])))
            return members.count - 1
        }()
        guard var object = members[index].1.objectMembers else { throw RegionError("\(path): \(section) is not an object") }
        object.removeAll { $0.0 == key }
        object.append((key, value))
        members[index] = (section, .object(object))
        try JSONValue.object(members).serialized.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func setSnapshotMinChanges(_ value: Int, in path: String) throws {
        try setConfig("sync", "snapshotMinChanges", .number(Double(value)), in: path)
    }

    @Test func aNodeWithAnEmptyDataDirectoryBootstrapsFromASnapshot() async throws {
        var options = RegionOptions()
        options.nodes = ["jakobstad", "larsmo", "kronoby"]
        try await withRegion(options, start: false) { region in
            try await region.start("jakobstad")
            try await region.start("larsmo")
            var clients: [String] = []
            for number in 0..<30 {
                let office = number % 3 == 0 ? "larsmo" : "jakobstad"
                let json = try expectCreated(
                    try await region[office].create(.client, Fixture.client(office: office, number: "S-\(number)")), "client \(number)")
                clients.append(json["id"]?.stringValue ?? "")
            }
            // An open conflict travels in the snapshot too: each office writes while the other is down.
            let contested = clients[1]
            try await region.waitConverged(among: ["jakobstad", "larsmo"])
            try await region.stop("larsmo")
            let first = try await region["jakobstad"].send(.patch, "/v1/clients/\(contested)", json: .fields(["status": .string("assessed")]))
            try #require(first.status == 200, "PATCH at jakobstad: \(first.status)")
            try await region.stop("jakobstad")
            try await region.start("larsmo")
            let second = try await region["larsmo"].send(.patch, "/v1/clients/\(contested)", json: .fields(["status": .string("closed")]),
                                                         role: .officeOf(municipalityCode("jakobstad")))
            try #require(second.status == 200, "PATCH at larsmo: \(second.status)")
            try await region.start("jakobstad")
            try await region.waitConverged(among: ["jakobstad", "larsmo"])
            let before = try await region["jakobstad"].status()
            let changes = before["versionVector"]?.objectMembers?.reduce(Int64(0)) { $0 + ($1.1.int64Value ?? 0) } ?? 0
            #expect(changes == 32)
            #expect(try await region["jakobstad"].conflicts().count == 1)

            try Self.setSnapshotMinChanges(1, in: region["kronoby"].configPath)
            try await region.start("kronoby")
            try await waitUntil("kronoby to bootstrap from a snapshot", timeout: .seconds(30)) {
                try await region["kronoby"].status()["snapshot"]?["state"]?.stringValue == "bootstrapped"
            }
            try await region.waitConverged(among: ["jakobstad", "larsmo", "kronoby"])
            try await waitUntil("kronoby's digest to be compared with a second peer", timeout: .seconds(20)) {
                try await region["kronoby"].status()["snapshot"]?["digestMatches"] != .null
            }
            let status = try await region["kronoby"].status()
            let snapshot = try #require(status["snapshot"])
            let source = try #require(snapshot["peer"]?.stringValue)
            #expect(["jakobstad", "larsmo"].contains(source))
            #expect(snapshot["rows"]?.int64Value == 30)
            #expect(snapshot["digestMatches"] == .bool(true), "the second peer's digest matches")
            #expect(snapshot["comparedWith"]?.stringValue != source)
            let logPosition = try #require(status["logPosition"]?.int64Value)
            #expect(logPosition < changes, "its log holds fewer entries than the region's changes: it did not replay them")
            #expect(status["stateDigest"] == (try await region["jakobstad"].status())["stateDigest"])
            #expect(try await region["kronoby"].conflicts().count == 1, "the open conflict came with the snapshot")

            // From there it syncs incrementally, both ways.
            let later = try expectCreated(try await region["jakobstad"].create(.client, Fixture.client(office: "jakobstad", number: "S-late")),
                                          "late client")
            let own = try expectCreated(try await region["kronoby"].create(.client, Fixture.client(office: "kronoby", number: "S-own")),
                                        "kronoby's client")
            try await region.waitConverged(among: ["jakobstad", "larsmo", "kronoby"])
            #expect(try await region["kronoby"].record(.client, later["id"]?.stringValue ?? "") != nil)
            #expect(try await region["larsmo"].record(.client, own["id"]?.stringValue ?? "") != nil)
            note("kronoby bootstrapped from \(source): \(changes) changes in the region, its log holds \(logPosition)")
        }
    }

    /// A full mesh of three. jakobstad and larsmo compact every second with
    /// a horizon of 3 s (the test-only hook; an office's is hours): while
    /// kronoby is stopped it falls silent past the horizon, no longer holds
    /// their floors back, and superseded updates are compacted away on both.
    /// Back, it is answered 410 by both, bootstraps from a snapshot
    /// replacing its replica (nothing of its own is lost: it wrote nothing)
    /// and then pulls incrementally again.
    @Test func aPeerSilentPastTheHorizonIsTold410WhenBackAndBootstrapsFromASnapshot() async throws {
        var options = RegionOptions()
        options.nodes = ["jakobstad", "larsmo", "kronoby"]
        let hooks = ["KOTOSYNC_TEST_HOOKS": "1", "KOTOSYNC_TEST_COMPACTION_HORIZON_MS": "3000"]
        try await withRegion(options, start: false) { region in
            for name in ["jakobstad", "larsmo"] {
                try Self.setConfig("compaction", "intervalSeconds", .number(1), in: region[name].configPath)
                try await region.start(name, environment: hooks)
            }
            try await region.start("kronoby")
            var clients: [(id: String, office: String)] = []
            for number in 0..<12 {
                let office = number % 3 == 0 ? "larsmo" : "jakobstad"
                let json = try expectCreated(
                    try await region[office].create(.client, Fixture.client(office: office, number: "F-\(number)")), "client \(number)")
                clients.append((json["id"]?.stringValue ?? "", office))
            }
            try await region.waitConverged()
            let away = try await region["kronoby"].status()
            try await region.stop("kronoby")

            // Each client's status three times: the first two updates are superseded, so compaction may drop them.
            for (id, office) in clients {
                for status in ["assessed", "plan_active", "plan_ended"] {
                    let result = try await region["jakobstad"].send(.patch, "/v1/clients/\(id)", json: .fields(["status": .string(status)]),
                                                                    role: .officeOf(municipalityCode(office)))
                    try #require(result.status == 200, "PATCH at jakobstad: \(result.status)")
                }
            }
            try await region.waitConverged(among: ["jakobstad", "larsmo"])
            for name in ["jakobstad", "larsmo"] {
                try await waitUntil("\(name) to compact its log up to its version vector, kronoby silent", timeout: .seconds(30)) {
                    let status = try await region[name].status()
                    guard let entries = status["logEntries"]?.int64Value, let position = status["logPosition"]?.int64Value else { return false }
                    return status["logFloor"] == status["versionVector"] && entries < position
                }
            }
            let compacted = try await region["jakobstad"].status()
            let entries = compacted["logEntries"]?.int64Value ?? 0, position = compacted["logPosition"]?.int64Value ?? 0
            #expect(entries <= position - 24, "at least the 24 superseded updates left the log (\(entries) of \(position) kept)")
            #expect(region["jakobstad"].logTail(lines: 100_000).contains("event=compaction.peers_silent"), "jakobstad logged kronoby as silent")

            try await region.start("kronoby", untilWritable: false)
            try await waitUntil("kronoby to bootstrap from a snapshot after 410 from every peer", timeout: .seconds(40)) {
                try await region["kronoby"].status()["snapshot"]?["state"]?.stringValue == "bootstrapped"
            }
            let status = try await region["kronoby"].status()
            let snapshot = try #require(status["snapshot"])
            #expect(snapshot["reason"]?.stringValue == "every peer answered 410 snapshot_required")
            #expect(snapshot["rows"]?.int64Value == 12)
            #expect(status["incarnation"] != away["incarnation"], "the replaced log is a new incarnation")
            try await region.waitConverged()
            #expect((try await region["kronoby"].status())["stateDigest"] == (try await region["jakobstad"].status())["stateDigest"])
            for (id, _) in clients {
                #expect(try await region["kronoby"].record(.client, id)?["fields"]?["status"]?.stringValue == "plan_ended")
            }
            // And from there incrementally again, both ways.
            let later = try expectCreated(try await region["larsmo"].create(.client, Fixture.client(office: "larsmo", number: "F-late")),
                                          "late client")
            let own = try expectCreated(try await region["kronoby"].create(.client, Fixture.client(office: "kronoby", number: "F-own")),
                                        "kronoby's client")
            try await region.waitConverged()
            #expect(try await region["kronoby"].record(.client, later["id"]?.stringValue ?? "") != nil)
            #expect(try await region["jakobstad"].record(.client, own["id"]?.stringValue ?? "") != nil)
            note("kronoby came back behind compacted floors (\(entries) of \(position) log entries kept at jakobstad) "
                 + "and bootstrapped from \(snapshot["peer"]?.stringValue ?? "?")")
        }
    }
}
