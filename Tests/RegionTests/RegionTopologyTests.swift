import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    @Suite("Region: topologies")
    struct Topology {
        /// The configured peers in a node's status, by node.
        static func peers(of node: RegionNode) async throws -> [String: JSONValue] {
            var peers: [String: JSONValue] = [:]
            for item in try await node.status()["peers"]?.arrayValue ?? [] {
                if let name = item["node"]?.stringValue { peers[name] = item }
            }
            return peers
        }

        @Test("relay: larsmo and jakobstad have no direct link; writes travel between them through pedersore")
        func relayThroughPedersore() async throws {
            var options = RegionOptions()
            let hub = "pedersore"
            // Everyone links to pedersore only; pedersore links to everyone.
            for office in offices where office != hub { options.peers[office] = [PeerSpec(node: hub)] }
            options.peers[hub] = offices.filter { $0 != hub }.map { PeerSpec(node: $0) }
            try await withRegion(options) { region in
                #expect(try await Set(Self.peers(of: region["larsmo"]).keys) == [hub])
                #expect(try await Set(Self.peers(of: region["jakobstad"]).keys) == [hub])

                let fromLarsmo = newID(), fromJakobstad = newID()
                try expectCreated(try await region["larsmo"].create(.service, Fixture.service(id: fromLarsmo, office: "larsmo", label: "relay")),
                                  "write at larsmo")
                try expectCreated(try await region["jakobstad"].create(.client, Fixture.client(id: fromJakobstad, office: "jakobstad", number: "R-1")),
                                  "write at jakobstad")
                try await waitUntil("larsmo's write at jakobstad and jakobstad's at larsmo", timeout: .seconds(20)) {
                    let atJakobstad = try await region["jakobstad"].record(.service, fromLarsmo) != nil
                    let atLarsmo = try await region["larsmo"].record(.client, fromJakobstad) != nil
                    return atJakobstad && atLarsmo
                }
                // An update relayed the same way.
                // Larsmo's office updates its service at jakobstad.
                let patch = try await region["jakobstad"].send(.patch, "/v1/services/\(fromLarsmo)", json: .fields(["capacity": .number(7)]),
                                                               role: .officeOf(municipalityCode("larsmo")))
                try #require(patch.status == 200, "PATCH at jakobstad: \(patch.status)")
                try await waitUntil("jakobstad's update at larsmo", timeout: .seconds(20)) {
                    try await region["larsmo"].record(.service, fromLarsmo)?["fields"]?["capacity"]?.int64Value == 7
                }
                try await region.waitConverged()
                // Neither contacted the other: larsmo's log names no pull from jakobstad and vice versa.
                #expect(!region["larsmo"].log.contains("peer=jakobstad"))
                #expect(!region["jakobstad"].log.contains("peer=larsmo"))
            }
        }

        @Test("hub and spoke with push: jakobstad lists the others as passive, each spoke pushes to it; writes reach every node")
        func hubAndSpokeWithPush() async throws {
            var options = RegionOptions()
            options.batchSize = 10  // pushes and pulls page through several batches
            let hub = "jakobstad"
            let spokes = offices.filter { $0 != hub }
            options.peers[hub] = spokes.map { PeerSpec(node: $0, mode: "passive") }
            for spoke in spokes { options.peers[spoke] = [PeerSpec(node: hub, mode: "push")] }
            try await withRegion(options) { region in
                let hubPeers = try await Self.peers(of: region[hub])
                #expect(Set(hubPeers.keys) == Set(spokes))
                for (name, peer) in hubPeers {
                    #expect(peer["mode"]?.stringValue == "passive", "\(name)")
                    #expect(peer["state"]?.stringValue == "passive", "\(name)")
                }
                var ids: [String: String] = [:]
                for office in offices {
                    let id = newID()
                    try expectCreated(try await region[office].create(.service, Fixture.service(id: id, office: office, label: "spoke")),
                                      "write at \(office)")
                    ids[office] = id
                }
                // A backlog at one spoke, more than a few batches.
                let backlog = try await writeServices(at: region["larsmo"], count: 45, streams: 1, label: "backlog")
                try #require(backlog.acknowledged.count == 45)
                try await region.waitConverged(timeout: .seconds(30))
                for node in region.all {
                    #expect(try await node.list(.service).count == offices.count + 45, "every service at \(node.name)")
                }
                for node in region.all {
                    for (office, id) in ids {
                        #expect(try await node.record(.service, id) != nil, "\(office)'s write at \(node.name)")
                    }
                }
                for spoke in spokes {
                    let link = try #require(try await Self.peers(of: region[spoke])[hub])
                    #expect(link["mode"]?.stringValue == "push")
                    #expect(link["state"]?.stringValue == "ok", "\(spoke)'s link to the hub: \(link["lastError"]?.stringValue ?? "")")
                }
            }
        }

        @Test("a node without peers keeps serving")
        func nodeWithoutPeersKeepsServing() async throws {
            var options = RegionOptions(nodes: ["kronoby"])
            options.peers["kronoby"] = []
            try await withRegion(options) { region in
                let node = region["kronoby"]
                try await Task.sleep(for: .seconds(1))
                #expect(node.isRunning, "kronoby exited; log:\n\(node.logTail(lines: 5))")
                let id = newID()
                try expectCreated(try await node.create(.service, Fixture.service(id: id, office: node.name, label: "alone")), "write at kronoby")
                #expect(try await node.record(.service, id) != nil)
            }
        }
    }
}
