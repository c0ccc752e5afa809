import Foundation
import KotoCore
import KotoHTTP
import Testing

/// Snapshot bootstrap with real daemons on loopback: a node started on an
/// empty data directory (with `sync.snapshotMinChanges` at 1) builds itself
/// from a peer's streamed snapshot instead of replaying the region's log,
/// pulls incrementally from there, and its state digest is compared with a
/// second peer. The 410 path (every peer's floor above this node) is
/// covered in-process by `SnapshotBootstrapTests`.
@Suite(.serialized) struct RegionSnapshotTests {
    /// Adds `sync.snapshotMinChanges` to a written config.
    static func setSnapshotMinChanges(_ value: Int, in path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), var members = try JSONValue.parse(Array(data)).objectMembers,
              let index = members.firstIndex(where: { $0.0 == "sync" }), var sync = members[index].1.objectMembers else {
            throw RegionError("cannot read \(path)")
        }
        sync.append(("snapshotMinChanges", .number(Double(value))))
        members[index] = ("sync", .object(sync))
        try JSONValue.object(members).serialized.write(toFile: path, atomically: true, encoding: .utf8)
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
}
