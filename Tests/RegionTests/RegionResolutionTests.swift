import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    @Suite("Region: resolving a conflict, the public directory")
    struct Resolution {
        @Test("a conflict made by two daemons is resolved through one node's API and closes at the other; a cut-off node serves the directory")
        func resolveThroughTheAPIAndServeTheDirectoryCutOff() async throws {
            try await withRegion(RegionOptions(nodes: ["jakobstad", "nykarleby"])) { region in
                let jakobstad = region["jakobstad"], nykarleby = region["nykarleby"]
                let client = newID()
                try expectCreated(try await jakobstad.create(.client, Fixture.client(id: client, office: "jakobstad", number: "R-1")), "client")
                let services = ["jakobstad": newID(), "nykarleby": newID()]
                for (office, id) in services {
                    try expectCreated(try await region[office].create(.service, Fixture.service(id: id, office: office, label: office)),
                                      "service at \(office)")
                }
                try await region.waitConverged()

                // Both offices, cut off from each other, change the client's status.
                let writers = ["jakobstad": "assessed", "nykarleby": "closed"]
                try await Region.Convergence.whileCutOff(writers.keys.sorted(), in: region) {
                    for (name, value) in writers.sorted(by: { $0.key < $1.key }) {
                        // Jakobstad's office writes its client at either node.
                        let result = try await region[name].send(.patch, "/v1/clients/\(client)", json: .fields(["status": .string(value)]),
                                                                 role: .officeOf(municipalityCode("jakobstad")))
                        try #require(result.status == 200, "PATCH at \(name): \(result.status)")
                    }
                }
                try await region.waitConverged()
                let conflictID = "clients:\(client):status"
                for node in region.all {
                    let listed = try await node.conflicts().filter { $0["id"]?.stringValue == conflictID }
                    try #require(listed.count == 1, "\(node.name) lists the conflict once")
                }

                // Nykarleby's office may not settle Jakobstad's client; Jakobstad's office does, through jakobstad's API.
                let refused = try await nykarleby.send(.post, "/v1/conflicts/\(conflictID)/resolve", json: .fields(["value": .string("closed")]))
                #expect(refused.status == 403, "another municipality's office: \(refused.status)")
                let resolved = try await jakobstad.send(.post, "/v1/conflicts/\(conflictID)/resolve",
                                                        json: .fields(["value": .string("assessment_pending")]))
                try #require(resolved.status == 200, "resolve at jakobstad: \(resolved.status) \(resolved.errorCode ?? "")")
                #expect(resolved.json?["fields"]?["status"]?.stringValue == "assessment_pending")
                #expect(try await jakobstad.conflicts().isEmpty)

                try await waitUntil("nykarleby to drop the conflict and hold the chosen value", timeout: .seconds(20)) {
                    let open = try await nykarleby.conflicts().contains { $0["id"]?.stringValue == conflictID }
                    let view = try await nykarleby.client(client)
                    return !open && view?.status == "assessment_pending" && view?.openConflicts == 0
                }
                #expect(try await nykarleby.client(client)?.statusStamp?.origin == "jakobstad")
                try await region.waitConverged()
                #expect(try await nykarleby.status()["conflicts"]?.int64Value == 0)

                // Cut off from jakobstad, nykarleby still serves the whole directory from its own replica, without login.
                let isolated = try region.writeConfig("nykarleby", peers: region.peers(of: "nykarleby"),
                                                      path: "\(region.directory)/nykarleby-isolated.json", unreachablePeers: true)
                try await region.restart("nykarleby", configPath: isolated)
                try await waitUntil("nykarleby's link to jakobstad to fail", timeout: .seconds(20)) {
                    (try await nykarleby.peerStatus("jakobstad")?["consecutiveFailures"]?.int64Value ?? 0) > 0
                }
                let json = try await nykarleby.send(.get, "/v1/directory", role: .none)
                #expect(json.status == 200)
                let listed = Set(json.json?["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
                #expect(listed == Set(services.values), "both offices' services, from nykarleby's replica")
                let page = try await nykarleby.send(.get, "/directory?lang=sv", role: .none)
                #expect(page.status == 200)
                let html = String(decoding: page.body, as: UTF8.self)
                for office in services.keys { #expect(html.contains("Testtjänst \(office)"), "\(office)'s service on the page") }
            }
        }
    }
}
