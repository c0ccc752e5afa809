import Foundation
import KotoCore
import KotoHTTP
import KotoStore
import KotoTestSupport
import Testing
@testable import KotoNode

/// The node's side of the bounded log: it learns each peer's version vector
/// from its pulls, the compaction job raises the floor to the configured
/// peers' minimum (less those silent past the horizon) and drops what the
/// rule lets go, the status and metrics show it, and a pull from behind the
/// floor is answered 410 `snapshot_required` with the JSON error body.
@Suite struct CompactionAPITests {
    static func job(_ node: TestNode) -> CompactionJob {
        CompactionJob(node: node.nodeID, settings: node.config.compaction, peers: node.config.peers.map(\.node), replica: node.replica)
    }

    /// Three clients, the first updated twice: two superseded entries the floor may let go.
    static func writeSome(_ node: TestNode) async throws {
        let first = try await node.create(.client, SampleJSON.client(number: 1))
        try await node.create(.client, SampleJSON.client(number: 2))
        try await node.create(.client, SampleJSON.client(number: 3))
        for status in ["assessed", "plan_active", "plan_ended"] {
            _ = try await node.replica.write(.client, id: first, .update(["status": .text(status)]))
        }
    }

    /// Pulls as `peer` holding `vector`; returns the answer.
    static func pull(_ node: TestNode, as peer: String = "larsmo", vector: VersionVector) async throws -> HTTPResponse {
        try await node.send(.post, "/v1/sync/pull", as: .peerOf(peer), json: node.pullBody(peer: peer, vector: vector))
    }

    @Test func pullFromBehindTheCompactedFloorIs410SnapshotRequired() async throws {
        let node = try TestNode()
        try await Self.writeSome(node)
        let all = await node.syncState.versionVector
        #expect(all == VersionVector(["jakobstad": 6]))
        // Before compaction anyone may pull from nothing.
        #expect(try await Self.pull(node, vector: VersionVector()).status == .ok)
        // larsmo (the one configured peer) pulls and so says it holds everything.
        #expect(try await Self.pull(node, vector: all).status == .ok)
        let run = try await Self.job(node).run()
        #expect(run.floor == all && run.silentPeers.isEmpty)
        // Client 1's create (its other fields) and last status stay, so do clients 2 and 3
        // and the head; the two superseded statuses go.
        #expect(run.dropped == 2 && run.entries == 4)

        for behind in [VersionVector(), VersionVector(["jakobstad": 5])] {
            let response = try await Self.pull(node, vector: behind)
            #expect(response.status == .gone)
            #expect(response.errorCode == "snapshot_required")
            #expect(response.hasErrorShape)
            #expect(response.errorMessage?.contains("snapshot required") == true)
        }
        #expect(try await Self.pull(node, vector: all).status == .ok, "a puller holding the floor is served")

        let status = try await node.send(.get, "/v1/status", as: .admin)
        #expect(status.status == .ok)
        let json = try status.json
        #expect(json["logEntries"]?.int64Value == 4)
        #expect(json["logPosition"]?.int64Value == 6)
        #expect(json["logFloor"]?["jakobstad"]?.int64Value == 6)

        let scrape = try await MetricsTests.scrape(node)
        #expect(scrape.value("kotosync_log_entries") == 4)
        #expect(scrape.value("kotosync_log_floor_changes", ["origin": "jakobstad"]) == 6)
    }

    @Test func aPeerSilentPastTheHorizonNoLongerHoldsTheFloorBack() async throws {
        let peers = [PeerConfig(node: "larsmo", url: nil, mode: .passive), PeerConfig(node: "kronoby", url: nil, mode: .passive)]
        let node = try TestNode(peers: peers) { $0.compaction.horizon = .milliseconds(300) }
        try await Self.writeSome(node)
        let all = await node.syncState.versionVector
        #expect(try await Self.pull(node, vector: all).status == .ok)
        // kronoby has not pulled yet, but the horizon has not passed: it holds the floor at nothing.
        let early = try await Self.job(node).run()
        #expect(early.floor.isEmpty && early.silentPeers.isEmpty && early.dropped == 0)
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await Self.pull(node, vector: all).status == .ok)
        let late = try await Self.job(node).run()
        #expect(late.silentPeers == ["kronoby"])
        #expect(late.floor == all && late.dropped == 2)
        // Back, kronoby is told to bootstrap from a snapshot.
        let back = try await Self.pull(node, as: "kronoby", vector: VersionVector())
        #expect(back.status == .gone)
        #expect(back.errorCode == "snapshot_required")
        #expect(back.hasErrorShape)
    }

    @Test func compactionSettingsParseAndNameTheirKey() throws {
        let defaults = try ConfigTests.parse(ConfigTests.minimal())
        #expect(defaults.compaction == CompactionSettings())
        #expect(defaults.compaction.enabled && defaults.compaction.horizon == .seconds(168 * 3600))
        let config = try ConfigTests.parse(ConfigTests.minimal(#""compaction":{"enabled":false,"intervalSeconds":600,"horizonHours":48}"#))
        #expect(!config.compaction.enabled)
        #expect(config.compaction.interval == .seconds(600))
        #expect(config.compaction.horizon == .seconds(48 * 3600))
        #expect(config.compaction.horizonMillis == 48 * 3600 * 1000)
        #expect(ConfigTests.error(ConfigTests.minimal(#""compaction":{"horizonHours":0}"#))?.key == "compaction.horizonHours")
        #expect(ConfigTests.error(ConfigTests.minimal(#""compaction":{"intervalSeconds":-1}"#))?.key == "compaction.intervalSeconds")
        #expect(ConfigTests.error(ConfigTests.minimal(#""compaction":{"enabled":"yes"}"#))?.key == "compaction.enabled")
        #expect(ConfigTests.error(ConfigTests.minimal(#""compaction":{"floor":1}"#))?.key == "compaction.floor")
    }
}
