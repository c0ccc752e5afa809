import Foundation
import KotoCore
import KotoHTTP
import Testing

extension Region {
    @Suite("Region: version mismatch")
    struct Versions {
        @Test("a node announcing another schema version is refused with 409 and both sides show the refusal in their status")
        func schemaMismatchIsRefused() async throws {
            let options = RegionOptions(nodes: ["jakobstad", "nykarleby"])
            try await withRegion(options, start: false) { region in
                let good = region["jakobstad"], odd = region["nykarleby"]
                try await region.start(good.name)
                let schema = try #require(try await good.status()["schemaVersion"]?.int64Value)
                let other = schema == 2 ? 3 : 2
                try await region.start(odd.name, environment: ["KOTOSYNC_SCHEMA_VERSION": String(other)])
                #expect(try await odd.status()["schemaVersion"]?.int64Value == Int64(other))

                // The odd node refuses a pull by a peer of the current schema, naming the schema version.
                let pull = JSONValue.object([
                    ("node", .string(good.name)), ("protocol", .number(1)), ("schema", .number(Double(schema))),
                    ("versionVector", .object([])), ("since", .number(0)), ("limit", .number(10)),
                ])
                let refused = try await odd.send(.post, "/v1/sync/pull", json: pull, role: .peer(good.name),
                                                 headers: ["Kotosync-Node": good.name])
                #expect(refused.status == 409)
                #expect(refused.errorCode == "version_mismatch")
                #expect(refused.errorMessage?.contains("schema version") == true, "\(refused.errorMessage ?? "no message")")

                // Something to (not) replicate.
                let id = newID()
                try expectCreated(try await good.create(.service, Fixture.service(id: id, office: good.name, label: "v")), "write at jakobstad")

                // The puller's status: that peer refused, with the reason.
                try await waitUntil("jakobstad's link to nykarleby to show the refusal", timeout: .seconds(15)) {
                    try await good.peerStatus(odd.name)?["state"]?.stringValue == "refused"
                }
                let link = try #require(try await good.peerStatus(odd.name))
                let goodError = link["lastError"]?.stringValue ?? ""
                #expect(goodError.contains("schema version"), "jakobstad's lastError: \(goodError)")
                #expect(goodError.contains("409"), "jakobstad's lastError: \(goodError)")

                // The mismatched node's own status shows it too.
                try await waitUntil("nykarleby's link to jakobstad to show the refusal", timeout: .seconds(15)) {
                    try await odd.peerStatus(good.name)?["state"]?.stringValue == "refused"
                }
                let oddLink = try #require(try await odd.peerStatus(good.name))
                let oddError = oddLink["lastError"]?.stringValue ?? ""
                #expect(oddError.contains("schema version"), "nykarleby's lastError: \(oddError)")

                // Nothing crossed.
                try await Task.sleep(for: .seconds(2))
                #expect(try await odd.record(.service, id) == nil, "a refused peer's data must not arrive")
                #expect(try await odd.holds(of: good.name) == 0)
                #expect(try await good.holds(of: odd.name) == 0)
            }
        }
    }
}
