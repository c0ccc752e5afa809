import Foundation
import KotoCore
import KotoHTTP
import Testing

// Partitions, lossy and slow links and flapping links between five daemons in
// five network namespaces (NetnsLab.swift). These need root (CI runs as root):
// without it, or without iproute2/nftables, they fail with the reason.

extension Region {
    @Suite("Region: partitions in network namespaces")
    struct Partitions {
        static let west = ["jakobstad", "nykarleby"]
        static let east = ["kronoby", "pedersore", "larsmo"]

        @Test("{jakobstad, nykarleby} | {kronoby, pedersore, larsmo}: writes on both sides, a field raced, a delete against an update; healed, all identical")
        func partitionAndHeal() async throws {
            try await withNetnsRegion { lab in
                let direct = try await lab.roundTrip(from: "jakobstad", to: "larsmo")
                note("partition: GET /healthz across the bridge took \(direct)")
                try await Self.partitionScenario(lab, converge: .seconds(60))
            }
        }

        @Test("the same partition with 5% loss and 100 ms latency on every link")
        func partitionOverLossyLinks() async throws {
            try await withNetnsRegion(latency: .milliseconds(100)) { lab in
                try lab.setLoss(percent: 5)
                // The links really are slow: a request and its answer each wait 100 ms in a relay.
                for (from, to) in [("jakobstad", "larsmo"), ("pedersore", "nykarleby")] {
                    let elapsed = try await lab.roundTrip(from: from, to: to)
                    #expect(elapsed >= .milliseconds(200), "\(from) to \(to): GET /healthz took \(elapsed)")
                }
                try await Self.partitionScenario(lab, converge: .seconds(120))
                // And lossy: the loss rules dropped packets between the nodes.
                #expect(try lab.network.lossDrops() > 0, "5% loss dropped no packet")
            }
        }

        /// Records written before the split and raced on both sides of it.
        static func partitionScenario(_ lab: NetnsRegion, converge: Duration) async throws {
            let region = lab.region
            // Pedersöre's office owns the raced records and writes them at any node.
            let owner = Role.officeOf(municipalityCode("pedersore"))
            let contested = newID(), raced = newID()
            try expectCreated(try await region["pedersore"].create(.client, Fixture.client(id: contested, office: "pedersore", number: "P-1")),
                              "client")
            try expectCreated(try await region["pedersore"].create(.service, Fixture.service(id: raced, office: "pedersore", label: "raced")),
                              "service")
            try await region.waitConverged(timeout: converge)

            try lab.split([west, east])
            // The split holds: links across it fail on both sides.
            try await lab.waitLinkFails("jakobstad", to: "kronoby")
            try await lab.waitLinkFails("larsmo", to: "nykarleby")

            // Writes on both sides, at every node, while the split lasts.
            var acknowledged: [String: String] = [:]
            for round in 0..<3 {
                for name in region.names {
                    acknowledged.merge(try await Self.createServices(at: region[name], count: 4, label: "split-\(round)"),
                                       uniquingKeysWith: { $1 })
                }
                if round == 0 {
                    // The same field of the same client on both sides.
                    let westWrite = try await region["jakobstad"].send(.patch, "/v1/clients/\(contested)",
                                                                      json: .fields(["status": .string("assessed")]), role: owner)
                    try #require(westWrite.status == 200, "PATCH at jakobstad: \(westWrite.status) \(westWrite.errorCode ?? "")")
                    let eastWrite = try await region["kronoby"].send(.patch, "/v1/clients/\(contested)",
                                                                    json: .fields(["status": .string("closed")]), role: owner)
                    try #require(eastWrite.status == 200, "PATCH at kronoby: \(eastWrite.status) \(eastWrite.errorCode ?? "")")
                    // A delete on one side against an update on the other.
                    let deleted = try await region["nykarleby"].send(.delete, "/v1/services/\(raced)", role: owner)
                    try #require(deleted.status == 204, "DELETE at nykarleby: \(deleted.status) \(deleted.errorCode ?? "")")
                    let updated = try await region["larsmo"].send(.patch, "/v1/services/\(raced)", json: .fields(["capacity": .number(5)]),
                                                                 role: owner)
                    try #require(updated.status == 200, "PATCH at larsmo: \(updated.status) \(updated.errorCode ?? "")")
                }
                try await Task.sleep(for: .seconds(1))
            }
            let stamps = [
                "jakobstad": try #require(try await region["jakobstad"].client(contested)?.statusStamp, "status stamp at jakobstad"),
                "kronoby": try #require(try await region["kronoby"].client(contested)?.statusStamp, "status stamp at kronoby"),
            ]
            let values = ["jakobstad": "assessed", "kronoby": "closed"]

            // Each side converges on its own and has none of the other side's writes.
            try await region.waitConverged(among: west, timeout: converge)
            try await region.waitConverged(among: east, timeout: converge)
            for (side, other) in [(west, east), (east, west)] {
                let theirs = Set(try await region[other[0]].list(.service).compactMap { $0["id"]?.stringValue })
                let mine = Set(try await region[side[0]].list(.service).compactMap { $0["id"]?.stringValue })
                #expect(mine.subtracting(theirs).count == 12 * side.count, "\(side[0]) holds only its own side's new services")
            }
            let westView = try #require(try await region["nykarleby"].client(contested))
            let eastView = try #require(try await region["larsmo"].client(contested))
            #expect(westView.status == values["jakobstad"] && westView.openConflicts == 0, "west sees only its own write")
            #expect(eastView.status == values["kronoby"] && eastView.openConflicts == 0, "east sees only its own write")

            try lab.healAll()
            try await region.waitConverged(timeout: converge)
            try await region.waitVersionVectorsAgree(timeout: converge)
            try await lab.waitDigestsAgree(timeout: converge)
            #expect(try await region.differences().isEmpty, "identical records, version vectors and conflict lists")

            // No acknowledged write is lost: every 201 is at every node, with its value.
            for node in region.all {
                let services = try await node.list(.service)
                let names = Dictionary(services.compactMap { item in item["id"]?.stringValue.map { ($0, item["fields"]?["nameFi"]?.stringValue) } },
                                       uniquingKeysWith: { a, _ in a })
                let missing = acknowledged.keys.filter { names[$0] == nil }.count
                let wrong = acknowledged.filter { names[$0.key] != nil && names[$0.key]! != $0.value }.count
                #expect(missing == 0 && wrong == 0, "\(node.name): \(missing) acknowledged services missing, \(wrong) with another value")

                // The raced field: the later stamp wins everywhere, the other write is the one open conflict.
                let (winner, loser) = Stamp.wins(stamps["jakobstad"]!, over: stamps["kronoby"]!) ? ("jakobstad", "kronoby") : ("kronoby", "jakobstad")
                let conflicts = try await node.conflicts()
                let onContested = conflicts.filter { $0["rowId"]?.stringValue == contested }
                try #require(onContested.count == 1, "\(node.name) lists \(onContested.count) conflicts for the client, expected 1")
                #expect(onContested[0]["field"]?.stringValue == "status")
                #expect(onContested[0]["dot"] == stamps[loser]!.dot, "\(node.name): the conflict is \(loser)'s write")
                #expect(onContested[0]["winner"] == stamps[winner]!.dot, "\(node.name): the winner is \(winner)'s write")
                #expect(onContested[0]["value"]?.stringValue == values[loser])
                #expect(conflicts.count == 1, "\(node.name): no other conflicts")
                let view = try #require(try await node.client(contested))
                #expect(view.status == values[winner] && view.openConflicts == 1 && view.statusStamp == stamps[winner])

                // The delete and the concurrent update of another field both hold.
                let service = try #require(services.first { $0["id"]?.stringValue == raced })
                #expect(service["deleted"]?.boolValue == true, "\(node.name): the delete holds")
                #expect(service["fields"]?["capacity"]?.int64Value == 5, "\(node.name): the concurrent update holds")
            }
        }

        /// Creates `count` services one by one; returns the acknowledged ones' ids with their names.
        static func createServices(at node: RegionNode, count: Int, label: String) async throws -> [String: String] {
            var acknowledged: [String: String] = [:]
            for index in 0..<count {
                let id = newID()
                let record = Fixture.service(id: id, office: node.name, label: "\(label)-\(node.name)-\(index)")
                let result = try await node.create(.service, record)
                if result.status == 201, let name = record["nameFi"]?.stringValue { acknowledged[id] = name }
            }
            return acknowledged
        }
    }
}
